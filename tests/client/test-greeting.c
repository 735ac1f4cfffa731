/*
 * test-greeting: how long the borrowed tree of qmp_client_greeting() lives
 * (qmp-client.h): until the calling thread asks again or the client is
 * freed, whatever any thread does to the connection meanwhile.
 *
 * jansson's free() here overwrites every block it frees, so a tree used
 * after it was freed reads as garbage at once, not only under valgrind.
 */
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <qmp/qmp.h>
#include "peer.h"

static atomic_long live_blocks; /* jansson's, allocated and not yet freed */

static void *counting_malloc(size_t n)
{
    void *p = malloc(n);
    if (p)
        atomic_fetch_add(&live_blocks, 1);
    return p;
}

static void poisoning_free(void *p)
{
    if (!p)
        return;
    atomic_fetch_sub(&live_blocks, 1);
    memset(p, 0xA5, malloc_usable_size(p));
    free(p);
}

static int under_valgrind(void)
{
    const char *v = getenv("LIBQMP_TEST_VALGRIND");
    return v && strcmp(v, "1") == 0;
}

static void greet(peer *p, const char *package)
{
    char text[256];
    snprintf(text, sizeof text,
             "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
             "\"package\": \"%s\"}, \"capabilities\": []}}\r\n",
             package);
    peer_send(p, text);
    peer_expect(p, "qmp_capabilities", PEER_NO_ARGS);
    peer_return(p, "{}");
}

static const char *package_of(const json_t *greeting)
{
    const json_t *version = json_object_get(json_object_get(greeting, "QMP"), "version");
    return json_string_value(json_object_get(version, "package"));
}

/* Closed and connected elsewhere: the tree this thread holds still reads. */
static void test_greeting_outlives_reconnect(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    greet(p, "first");
    qmp_client *c = qmp_client_new();
    assert_non_null(c);
    assert_status(qmp_client_connect_fd(c, fd, peer_io_timeout_ms()), QMP_OK);
    const json_t *g = qmp_client_greeting(c);
    assert_non_null(g);
    assert_string_equal(package_of(g), "first");

    assert_status(qmp_client_close(c), QMP_OK);
    assert_int_equal(peer_finish(p), 0);
    p = peer_new(&fd);
    greet(p, "second");
    assert_status(qmp_client_connect_fd(c, fd, peer_io_timeout_ms()), QMP_OK);

    /* Not asked again: still the first connection's. */
    assert_string_equal(package_of(g), "first");
    const json_t *g2 = qmp_client_greeting(c);
    assert_non_null(g2);
    assert_string_equal(package_of(g2), "second");
    /* The same tree while the connection lasts. */
    assert_ptr_equal(qmp_client_greeting(c), g2);

    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

/* Not connected: NULL, and the tree asked for earlier is let go (nothing leaks). */
static void test_greeting_null_when_closed(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    const json_t *g = qmp_client_greeting(c);
    assert_non_null(g);
    assert_status(qmp_client_close(c), QMP_OK);
    assert_string_equal(package_of(g), "Debian 1:7.2+dfsg-7+deb12u18+b3");
    assert_null(qmp_client_greeting(c));
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

/* One thread reads the greeting over and over while another reconnects. */
struct reconnector {
    qmp_client *c;
    int rounds;
    atomic_int done;
    atomic_long reads;  /* greetings the reading thread has read */
};

static void *reconnect_loop(void *arg)
{
    struct reconnector *r = arg;
    for (int i = 0; i < r->rounds; i++) {
        int fd;
        peer *p = peer_new(&fd);
        greet(p, i % 2 ? "odd" : "even");
        long before = atomic_load(&r->reads);
        assert_status(qmp_client_connect_fd(r->c, fd, peer_io_timeout_ms()), QMP_OK);
        /* Closed as soon as the reader has seen this connection's greeting. */
        while (atomic_load(&r->reads) == before)
            sched_yield();
        assert_status(qmp_client_close(r->c), QMP_OK);
        assert_int_equal(peer_finish(p), 0);
    }
    atomic_store(&r->done, 1);
    return NULL;
}

static void test_greeting_read_while_another_thread_reconnects(void **state)
{
    (void)state;
    struct reconnector r = {qmp_client_new(), under_valgrind() ? 30 : 300, 0, 0};
    assert_non_null(r.c);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reconnect_loop, &r), 0);
    long seen = 0;
    while (!atomic_load(&r.done)) {
        const json_t *g = qmp_client_greeting(r.c);
        if (!g)
            continue;
        /* Read it twice, the other thread busy meanwhile. */
        const char *first = package_of(g);
        assert_non_null(first);
        assert_true(strcmp(first, "odd") == 0 || strcmp(first, "even") == 0);
        sched_yield();
        assert_string_equal(package_of(g), first);
        seen++;
        atomic_fetch_add(&r.reads, 1);
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    printf("# %ld greetings read during %d reconnects\n", seen, r.rounds);
    assert_true(seen >= r.rounds);
    qmp_client_free(r.c);
}

/* Asking after every one of 10,000 reconnects keeps one tree, not 10,000. */
static void test_greeting_reconnects_keep_one_tree(void **state)
{
    (void)state;
    int rounds = under_valgrind() ? 200 : 10000;
    qmp_client *c = qmp_client_new();
    assert_non_null(c);
    long after_first = 0;
    for (int i = 0; i < rounds; i++) {
        int fd;
        peer *p = peer_new(&fd);
        greet(p, i % 2 ? "odd" : "even");
        assert_status(qmp_client_connect_fd(c, fd, peer_io_timeout_ms()), QMP_OK);
        const json_t *g = qmp_client_greeting(c);
        assert_non_null(g);
        assert_string_equal(package_of(g), i % 2 ? "odd" : "even");
        assert_status(qmp_client_close(c), QMP_OK);
        assert_int_equal(peer_finish(p), 0);
        if (i == 0)
            after_first = atomic_load(&live_blocks);
    }
    long after_all = atomic_load(&live_blocks);
    printf("# %d reconnects: %ld live jansson blocks after the first, %ld after the last\n", rounds, after_first,
           after_all);
    assert_int_equal(after_all, after_first);
    qmp_client_free(c);
}

int main(void)
{
    json_set_alloc_funcs(counting_malloc, poisoning_free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greeting_outlives_reconnect),
        cmocka_unit_test(test_greeting_null_when_closed),
        cmocka_unit_test(test_greeting_read_while_another_thread_reconnects),
        cmocka_unit_test(test_greeting_reconnects_keep_one_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
