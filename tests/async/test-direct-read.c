/*
 * test-direct-read: the synchronous round trip without poll() (docs/internals.md,
 * "The driver").  An uncontended synchronous call sends its command and waits
 * for the reply in one blocking recv(), bounded by a short slice; what would
 * otherwise wake a polling driver still happens on time: a close from another
 * thread ends the read at once, a timed async call submitted by another thread
 * times out when it should, and a command too big for the socket is sent once
 * the slice has passed.
 *
 * The system calls on the client's socket are counted by wrapping sendmsg,
 * recv and poll in this program (libqmp.so's calls bind to these definitions
 * first; each passes on to the C library's with dlsym(RTLD_NEXT)).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <qmp/qmp.h>

#include "echo-peer.h"
#include "helpers.h"

/* --- counting the client's system calls ------------------------------------------------ */

static atomic_int watched_fd = -1;
static atomic_long n_send, n_recv, n_poll;

static void *next_symbol(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        fprintf(stderr, "test-direct-read: dlsym(RTLD_NEXT, %s) failed\n", name);
        abort();
    }
    return f;
}

static int watched(int fd) { return fd >= 0 && fd == atomic_load(&watched_fd); }

/* Resolved before main() (or at the first call, if a library's constructor
   makes one), so that no two threads race to set them. */
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static ssize_t (*real_recv)(int, void *, size_t, int);
static int (*real_poll)(struct pollfd *, nfds_t, int);

static void resolve_real_calls(void) __attribute__((constructor));

static void resolve_real_calls(void)
{
    real_sendmsg = (ssize_t (*)(int, const struct msghdr *, int))next_symbol("sendmsg");
    real_recv = (ssize_t (*)(int, void *, size_t, int))next_symbol("recv");
    real_poll = (int (*)(struct pollfd *, nfds_t, int))next_symbol("poll");
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (!real_sendmsg) resolve_real_calls();
    if (watched(fd)) atomic_fetch_add(&n_send, 1);
    return real_sendmsg(fd, msg, flags);
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    if (!real_recv) resolve_real_calls();
    if (watched(fd)) atomic_fetch_add(&n_recv, 1);
    return real_recv(fd, buf, len, flags);
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    if (!real_poll) resolve_real_calls();
    for (nfds_t i = 0; i < n; i++)
        if (watched(fds[i].fd)) atomic_fetch_add(&n_poll, 1);
    return real_poll(fds, n, timeout);
}

static void reset_counts(qmp_client *c)
{
    atomic_store(&watched_fd, qmp_client_get_fd(c));
    atomic_store(&n_send, 0);
    atomic_store(&n_recv, 0);
    atomic_store(&n_poll, 0);
}

static qmp_client *connect_echo(echo_peer **p)
{
    int fd;
    *p = echo_peer_new(&fd, 0, 0);
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_connect_fd(c, fd, t_io_timeout_ms()), QMP_OK);
    return c;
}

/* Two system calls per uncontended round trip: one sendmsg, one recv, no poll. */
static void test_round_trip_is_two_system_calls(void **state)
{
    (void)state;
    echo_peer *p;
    qmp_client *c = connect_echo(&p);
    const long n = 500;
    reset_counts(c);
    for (long i = 0; i < n; i++) {
        json_t *ret = NULL;
        assert_int_equal(qmp_client_execute(c, qmp_command_new("echo", "I:i", (json_int_t)i, NULL), &ret), QMP_OK);
        assert_int_equal(json_integer_value(json_object_get(ret, "i")), i);
        json_decref(ret);
    }
    long s = atomic_load(&n_send), r = atomic_load(&n_recv), q = atomic_load(&n_poll);
    atomic_store(&watched_fd, -1);
    print_message("%ld round trips: %ld sendmsg, %ld recv, %ld poll on the client's socket\n", n, s, r, q);
    assert_int_equal(s, n);
    /* A reply that takes longer than the slice (a loaded machine, valgrind)
       costs a poll and a second recv: allow a few in a hundred. */
    long slow = n / 20;
    assert_true(r >= n && r <= n + slow);
    assert_true(q <= slow);
    qmp_client_free(c);
    assert_int_equal(echo_peer_finish(p), 0);
}

/* --- what would wake a polling driver ----------------------------------------------------- */

struct sync_call {
    qmp_client *c;
    const char *name;
    int timeout_ms;
    pthread_t thread;
    int status;
    long long returned_at;
};

static void *sync_call_main(void *arg)
{
    struct sync_call *a = arg;
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = a->timeout_ms;
    a->status = qmp_client_execute_full(a->c, qmp_command_new(a->name, NULL), &o, NULL);
    a->returned_at = t_now_ms();
    return NULL;
}

/* A thread waits for a reply that never comes (the driver, in a direct read). */
static void start_held_call(struct sync_call *a, qmp_client *c, echo_peer *p, int timeout_ms)
{
    memset(a, 0, sizeof *a);
    a->c = c;
    a->name = "hold";
    a->timeout_ms = timeout_ms;
    a->status = 1;
    assert_int_equal(pthread_create(&a->thread, NULL, sync_call_main, a), 0);
    assert_true(echo_peer_wait_held(p, 1, t_io_timeout_ms()));
    t_sleep_ms(2);
}

/* The held call is still waiting; it ends with the close, and everything goes. */
static void end_held_call(struct sync_call *a, qmp_client *c, echo_peer *p)
{
    assert_int_equal(a->status, 1);
    assert_int_equal(qmp_client_close(c), QMP_OK);
    pthread_join(a->thread, NULL);
    assert_int_equal(a->status, QMP_ECANCELLED);
    qmp_client_free(c);
    assert_int_equal(echo_peer_finish(p), 0);
}

/* The limit for "at once" and "on time": generous, for loaded machines and valgrind. */
static long long late_ms(void) { return t_valgrind() ? 5000 : 1000; }

static void test_close_ends_a_direct_read(void **state)
{
    (void)state;
    echo_peer *p;
    qmp_client *c = connect_echo(&p);
    struct sync_call a;
    start_held_call(&a, c, p, 60000);
    long long t0 = t_now_ms();
    assert_int_equal(qmp_client_close(c), QMP_OK);
    pthread_join(a.thread, NULL);
    assert_int_equal(a.status, QMP_ECANCELLED);
    assert_true(a.returned_at - t0 < late_ms());
    assert_int_equal(qmp_client_is_connected(c), 0);
    qmp_client_free(c);
    assert_int_equal(echo_peer_finish(p), 0);
}

static void test_timed_async_call_while_another_thread_reads(void **state)
{
    (void)state;
    echo_peer *p;
    qmp_client *c = connect_echo(&p);
    struct sync_call a;
    start_held_call(&a, c, p, 60000);

    /* Submitted while the other thread waits in recv(): nobody polls this
       thread's timer; the slice passes and the driver polls with it. */
    atomic_int done = 0;
    struct tally t;
    tally_init(&t, &done);
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = 100;
    long long t0 = t_now_ms();
    assert_int_equal(tally_send(c, qmp_command_new("hold", NULL), &o, &t), QMP_OK);
    assert_true(wait_until(&done, 1, t_io_timeout_ms()));
    long long took = t_now_ms() - t0;
    assert_int_equal(t.status, QMP_ETIMEDOUT);
    print_message("the async call timed out after %lld ms (its timeout: 100 ms)\n", took);
    assert_true(took >= 100 && took < 100 + late_ms());
    tally_clear(&t);

    end_held_call(&a, c, p);
}

/* A command bigger than the socket's buffer, from a second thread, while the
   driver reads: the rest goes out once the driver polls for output. */
static void test_big_command_while_another_thread_reads(void **state)
{
    (void)state;
    echo_peer *p;
    qmp_client *c = connect_echo(&p);
    struct sync_call a;
    start_held_call(&a, c, p, 60000);

    size_t len = 4 * 1024 * 1024;
    char *big = malloc(len + 1);
    assert_non_null(big);
    memset(big, 'x', len);
    big[len] = '\0';
    json_t *ret = NULL;
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = t_io_timeout_ms();
    assert_int_equal(qmp_client_execute_full(c, qmp_command_new("echo", "s:big", big, NULL), &o, &ret), QMP_OK);
    assert_int_equal(strlen(json_string_value(json_object_get(ret, "big"))), len);
    json_decref(ret);
    free(big);

    end_held_call(&a, c, p);
}

/* The end of input while the driver reads (the socket shut down for reading,
   as when the peer hangs up): QMP_ECLOSED, and the client is closed. */
static void test_end_of_input_during_a_direct_read(void **state)
{
    (void)state;
    echo_peer *p;
    qmp_client *c = connect_echo(&p);
    struct sync_call a;
    start_held_call(&a, c, p, 60000);
    shutdown(qmp_client_get_fd(c), SHUT_RD);
    pthread_join(a.thread, NULL);
    assert_int_equal(a.status, QMP_ECLOSED);
    assert_int_equal(qmp_client_is_connected(c), 0);
    qmp_client_free(c);
    assert_int_equal(echo_peer_finish(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_is_two_system_calls),
        cmocka_unit_test(test_close_ends_a_direct_read),
        cmocka_unit_test(test_timed_async_call_while_another_thread_reads),
        cmocka_unit_test(test_big_command_while_another_thread_reads),
        cmocka_unit_test(test_end_of_input_during_a_direct_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
