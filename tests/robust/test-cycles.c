/*
 * Connect/close churn leaves nothing behind: after thousands of cycles the
 * process has exactly the fds it had before and (outside valgrind and ASan,
 * whose bookkeeping owns the heap) RSS has grown by less than 1 MiB.
 *
 * Cycles: a new client per connection over a pre-answered socketpair; one
 * client reconnected again and again; a Unix socket server in a thread.
 * 10,000 connections in all (fewer under valgrind).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "peer.h"
#include "robust.h"

#define RSS_SLACK_KIB 1024

struct baseline {
    int fds;
    long rss;
};

static struct baseline take(void) {
    struct baseline b = {robust_fd_count(), robust_rss_kib()};
    assert_true(b.fds > 0);
    return b;
}

static void compare(const char *what, struct baseline before, long cycles) {
    struct baseline after = take();
    printf("# %s: %ld cycles, fds %d -> %d, RSS %ld -> %ld KiB\n", what, cycles, before.fds, after.fds, before.rss,
           after.rss);
    assert_int_equal(after.fds, before.fds);
    if (!robust_under_valgrind() && !robust_under_asan()) {
        assert_true(before.rss > 0);  /* measured, not skipped when /proc cannot be read */
        assert_true(after.rss - before.rss < RSS_SLACK_KIB);
    }
}

static void one_fresh_client(void) {
    int server;
    qmp_client *c = qmp_client_new();
    assert_non_null(c);
    assert_status(robust_connect_pair(c, &server), QMP_OK);
    qmp_client_free(c);
    close(server);
}

static void test_new_client_each_time(void **state) {
    (void)state;
    long n = robust_scale(5000, 50);
    for (int i = 0; i < 50; i++) one_fresh_client(); /* warm up: allocator arenas, caches */
    struct baseline b = take();
    for (long i = 0; i < n; i++) one_fresh_client();
    compare("new client each time", b, n);
}

static int closes;
static void on_close(qmp_client *c, int reason, void *user_data) {
    (void)c;
    (void)reason;
    (void)user_data;
    closes++;
}

static void test_one_client_reconnected(void **state) {
    (void)state;
    long n = robust_scale(4000, 40);
    qmp_client *c = qmp_client_new();
    assert_status(qmp_client_on_close(c, on_close, NULL, NULL), QMP_OK);
    struct baseline b = {0, 0};
    closes = 0;
    for (long i = -50; i < n; i++) {
        if (i == 0) b = take();
        int server;
        assert_status(robust_connect_pair(c, &server), QMP_OK);
        assert_int_equal(qmp_client_is_connected(c), 1);
        assert_status(qmp_client_close(c), QMP_OK);
        close(server);
    }
    assert_int_equal(closes, n + 50);
    compare("one client reconnected", b, n);
    qmp_client_free(c);
}

/* A Unix socket server: accepts, greets, answers, waits for the client to hang up. */
struct server {
    int listener;
    long count;
};

static void *server_main(void *arg) {
    struct server *s = arg;
    for (long i = 0; i < s->count; i++) {
        int c = accept4(s->listener, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0 && errno == EINTR) {
            i--;
            continue;
        }
        if (c < 0) break;
        robust_answer_handshake(c);
        char buf[256];
        while (recv(c, buf, sizeof buf, 0) > 0) {
        }
        close(c);
    }
    return NULL;
}

static void test_unix_connect_close(void **state) {
    (void)state;
    long n = robust_scale(1000, 20);
    char dir[] = "/tmp/libqmp-cycles-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[96];
    snprintf(path, sizeof path, "%s/qmp.sock", dir);
    /* Before the listener and the thread: the baseline is taken when both are gone again. */
    struct baseline b = take();
    struct server s;
    s.listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    strcpy(a.sun_path, path);
    assert_int_equal(bind(s.listener, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s.listener, 16), 0);
    s.count = n;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, server_main, &s), 0);

    for (long i = 0; i < n; i++) {
        qmp_client *c = qmp_client_new();
        assert_status(qmp_client_connect_unix(c, path, 5000), QMP_OK);
        qmp_client_free(c);
    }
    /* The server closes each socket when the client has hung up: wait for the last. */
    pthread_join(t, NULL);
    close(s.listener);
    unlink(path);
    rmdir(dir);
    compare("unix connect/close", b, n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_client_each_time),
        cmocka_unit_test(test_one_client_reconnected),
        cmocka_unit_test(test_unix_connect_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
