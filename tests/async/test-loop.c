/*
 * test-loop: driving a client from the application's own poll() loop with
 * qmp_client_get_fd/_get_events/_get_timeout_ms/_process, and connecting
 * without blocking (qmp_client_connect_fd_async, _connect_unix_async).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include <qmp/qmp.h>

#include "echo-peer.h"
#include "helpers.h"

static qmp_client *connect_echo(echo_peer **pp)
{
    int fd;
    *pp = echo_peer_new(&fd, 0, 0);
    qmp_client *c = qmp_client_new();
    assert_non_null(c);
    assert_int_equal(qmp_client_connect_fd(c, fd, t_io_timeout_ms()), QMP_OK);
    return c;
}

static void finish(qmp_client *c, echo_peer *p)
{
    qmp_client_free(c);
    assert_int_equal(echo_peer_finish(p), 0);
}

/* One async round trip through the echo peer, driven by pump_until(). */
static void assert_echo_round_trip(qmp_client *c)
{
    atomic_int done = 0;
    struct tally t;
    tally_init(&t, &done);
    assert_int_equal(tally_send(c, qmp_command_new("echo", "s:word", "hello", NULL), NULL, &t), QMP_OK);
    assert_int_equal(pump_until(c, &done, 1, t_io_timeout_ms(), NULL), QMP_OK);
    assert_tally(&t, QMP_OK, "{\"word\":\"hello\"}");
    tally_clear(&t);
}

/* --- get_events: QMP_POLL_OUT only while output is pending ----------------------- */

#define BIG (4 * 1024 * 1024)

static void test_poll_out_while_pending(void **state)
{
    (void)state;
    echo_peer *p;
    qmp_client *c = connect_echo(&p);
    int fd = qmp_client_get_fd(c);
    assert_true(fd >= 0);
    assert_int_equal(qmp_client_get_events(c), QMP_POLL_IN);
    assert_int_equal(qmp_client_get_timeout_ms(c), -1);

    /* A command larger than the socket buffer while the peer reads nothing: the write is partial. */
    echo_peer_pause(p);
    char *big = malloc(BIG + 1);
    memset(big, 'x', BIG);
    big[BIG] = '\0';
    atomic_int done = 0;
    struct tally t;
    tally_init(&t, &done);
    assert_int_equal(tally_send(c, qmp_command_new("echo", "s:big", big, NULL), NULL, &t), QMP_OK);
    assert_int_equal(qmp_client_get_events(c), QMP_POLL_IN | QMP_POLL_OUT);
    /* Driving cannot finish it while the peer does not read; OUT stays asked, and process() returns. */
    int asked_out = 0;
    assert_int_equal(pump_until(c, &done, 1, 100, &asked_out), QMP_ETIMEDOUT);
    assert_true(asked_out > 0);
    assert_int_equal(qmp_client_process(c, QMP_POLL_OUT), QMP_OK);
    assert_int_equal(qmp_client_get_events(c), QMP_POLL_IN | QMP_POLL_OUT);
    assert_int_equal(qmp_client_get_fd(c), fd);

    /* The peer drains the socket; the rest goes out, the echo comes back. */
    echo_peer_resume(p);
    assert_int_equal(pump_until(c, &done, 1, t_io_timeout_ms(), NULL), QMP_OK);
    char *want = malloc(BIG + 16);
    snprintf(want, BIG + 16, "{\"big\":\"%s\"}", big);
    assert_tally(&t, QMP_OK, want);
    free(want);
    free(big);
    tally_clear(&t);
    assert_int_equal(qmp_client_get_events(c), QMP_POLL_IN);
    assert_int_equal(qmp_client_get_fd(c), fd);

    finish(c, p);
}

/* --- get_timeout_ms and async timeouts ---------------------------------------------- */

static void test_timeout_reflected(void **state)
{
    (void)state;
    echo_peer *p;
    qmp_client *c = connect_echo(&p);
    assert_int_equal(qmp_client_get_timeout_ms(c), -1);

    /* No timeout: no deadline. */
    atomic_int forever_done = 0;
    struct tally forever;
    tally_init(&forever, &forever_done);
    assert_int_equal(tally_send(c, qmp_command_new("hold", NULL), NULL, &forever), QMP_OK);
    assert_int_equal(qmp_client_get_timeout_ms(c), -1);

    atomic_int done = 0;
    struct tally late, soon;
    tally_init(&late, &done);
    tally_init(&soon, &done);
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = 900;
    long long t0 = t_now_ms();
    assert_int_equal(tally_send(c, qmp_command_new("hold", NULL), &o, &late), QMP_OK);
    int ms = qmp_client_get_timeout_ms(c);
    assert_in_range(ms, 1, 900);
    o.timeout_ms = 300;
    assert_int_equal(tally_send(c, qmp_command_new("hold", NULL), &o, &soon), QMP_OK);
    ms = qmp_client_get_timeout_ms(c);
    assert_in_range(ms, 1, 300);   /* the nearest deadline */
    if (!t_valgrind())
        assert_true(ms >= 250);

    assert_int_equal(pump_until(c, &done, 1, t_io_timeout_ms(), NULL), QMP_OK);
    long long took = t_now_ms() - t0;
    assert_tally(&soon, QMP_ETIMEDOUT, NULL);
    assert_int_equal(atomic_load(&late.cb), 0);
    assert_true(took >= 295);
    ms = qmp_client_get_timeout_ms(c);
    assert_in_range(ms, 0, 900 - 250);

    assert_int_equal(pump_until(c, &done, 2, t_io_timeout_ms(), NULL), QMP_OK);
    took = t_now_ms() - t0;
    assert_tally(&late, QMP_ETIMEDOUT, NULL);
    assert_true(took >= 895);
    assert_int_equal(qmp_client_get_timeout_ms(c), -1);
    assert_int_equal(atomic_load(&forever.cb), 0);
    assert_int_equal(echo_peer_held(p), 3);

    assert_echo_round_trip(c);   /* still usable */
    qmp_client_free(c);
    assert_tally(&forever, QMP_ECANCELLED, NULL);
    tally_clear(&forever);
    tally_clear(&late);
    tally_clear(&soon);
    assert_int_equal(echo_peer_finish(p), 0);
}

/* --- process() never blocks ------------------------------------------------------------ */

static void test_process_never_blocks(void **state)
{
    (void)state;
    echo_peer *p;
    qmp_client *c = connect_echo(&p);
    /* The peer reads but never answers "hold": a silent server with a command pending. */
    struct tally t;
    tally_init(&t, NULL);
    assert_int_equal(tally_send(c, qmp_command_new("hold", NULL), NULL, &t), QMP_OK);
    assert_true(echo_peer_wait_held(p, 1, t_io_timeout_ms()));

    int limit = t_valgrind() ? 500 : 50;
    const int revents[] = { 0, QMP_POLL_IN, QMP_POLL_OUT, QMP_POLL_IN | QMP_POLL_OUT };
    for (int round = 0; round < 5; round++) {
        for (size_t k = 0; k < sizeof revents / sizeof revents[0]; k++) {
            long long t0 = t_now_ms();
            assert_int_equal(qmp_client_process(c, revents[k]), QMP_OK);
            long long took = t_now_ms() - t0;
            if (took >= limit)
                fail_msg("qmp_client_process(%d) took %lld ms with a silent peer", revents[k], took);
        }
    }
    assert_int_equal(atomic_load(&t.cb), 0);
    assert_int_equal(qmp_client_get_events(c), QMP_POLL_IN);
    qmp_client_free(c);
    assert_tally(&t, QMP_ECANCELLED, NULL);
    tally_clear(&t);
    assert_int_equal(echo_peer_finish(p), 0);
}

/* --- non-blocking connect ---------------------------------------------------------------- */

static atomic_int cticks;

struct ctally {
    atomic_int cb, destroy, cb_tick, destroy_tick;
    int status;
    int last_code;
    int connected_in_cb;
    atomic_int *done;
};

static void ctally_init(struct ctally *t, atomic_int *done)
{
    memset(t, 0, sizeof *t);
    t->done = done;
}

static void ctally_cb(qmp_client *c, int status, void *user_data)
{
    struct ctally *t = user_data;
    t->status = status;
    t->last_code = qmp_error_last()->code;
    t->connected_in_cb = qmp_client_is_connected(c);
    atomic_store(&t->cb_tick, atomic_fetch_add(&cticks, 1) + 1);
    atomic_fetch_add(&t->cb, 1);
}

static void ctally_destroy(void *user_data)
{
    struct ctally *t = user_data;
    atomic_store(&t->destroy_tick, atomic_fetch_add(&cticks, 1) + 1);
    atomic_fetch_add(&t->destroy, 1);
    if (t->done)
        atomic_fetch_add(t->done, 1);
}

#define assert_ctally(t, st) assert_ctally_at((t), (st), __LINE__)
static void assert_ctally_at(struct ctally *t, int status, int line)
{
    if (atomic_load(&t->cb) != 1 || atomic_load(&t->destroy) != 1)
        fail_msg("line %d: connect cb ran %d time(s), destroy %d time(s); expected once each", line,
                 atomic_load(&t->cb), atomic_load(&t->destroy));
    if (atomic_load(&t->destroy_tick) < atomic_load(&t->cb_tick))
        fail_msg("line %d: destroy ran before the connect cb", line);
    if (t->status != status || t->last_code != status)
        fail_msg("line %d: connect cb got status %d (last error %d), expected %d", line, t->status,
                 t->last_code, status);
    if (t->connected_in_cb != (status == QMP_OK))
        fail_msg("line %d: qmp_client_is_connected() in the connect cb was %d", line, t->connected_in_cb);
}

#define assert_ctally_refused(t) assert_ctally_refused_at((t), __LINE__)
static void assert_ctally_refused_at(struct ctally *t, int line)
{
    if (atomic_load(&t->cb) != 0 || atomic_load(&t->destroy) != 1)
        fail_msg("line %d: refused connect: cb ran %d time(s) (expected never), destroy %d (expected once)",
                 line, atomic_load(&t->cb), atomic_load(&t->destroy));
}

static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

static void test_connect_fd_async(void **state)
{
    (void)state;
    int fd;
    echo_peer *p = echo_peer_new(&fd, 0, 0);
    qmp_client *c = qmp_client_new();
    atomic_int done = 0;
    struct ctally t;
    ctally_init(&t, &done);
    long long t0 = t_now_ms();
    assert_int_equal(qmp_client_connect_fd_async(c, fd, t_io_timeout_ms(), ctally_cb, &t, ctally_destroy), QMP_OK);
    if (!t_valgrind())
        assert_true(t_now_ms() - t0 < 50);   /* returned at once */
    assert_int_equal(atomic_load(&t.cb), 0);
    assert_int_equal(qmp_client_get_fd(c), fd);
    assert_true(qmp_client_get_events(c) & QMP_POLL_IN);
    assert_int_equal(pump_until(c, &done, 1, t_io_timeout_ms(), NULL), QMP_OK);
    assert_ctally(&t, QMP_OK);
    assert_int_equal(qmp_client_is_connected(c), 1);
    assert_non_null(qmp_client_greeting(c));

    assert_echo_round_trip(c);
    finish(c, p);
    assert_ctally(&t, QMP_OK);
}

struct late_listener {
    char path[108];
    int delay_ms;
    pthread_t thread;
    echo_peer *peer;
    int failed;
};

static void *late_listener_main(void *arg)
{
    struct late_listener *l = arg;
    t_sleep_ms(l->delay_ms);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", l->path);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 1) < 0) {
        l->failed = 1;
        if (s >= 0)
            close(s);
        return NULL;
    }
    struct pollfd pfd = { s, POLLIN, 0 };
    int conn = -1;
    if (poll(&pfd, 1, t_io_timeout_ms()) == 1)
        conn = accept4(s, NULL, NULL, SOCK_CLOEXEC);
    close(s);
    if (conn < 0) {
        l->failed = 1;
        return NULL;
    }
    l->peer = echo_peer_start(conn, 0, 0);
    return NULL;
}

static void test_connect_unix_async_retries(void **state)
{
    (void)state;
    char dir[] = "/tmp/libqmp-async-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct late_listener l;
    memset(&l, 0, sizeof l);
    snprintf(l.path, sizeof l.path, "%s/qmp.sock", dir);
    l.delay_ms = 200;
    assert_int_equal(pthread_create(&l.thread, NULL, late_listener_main, &l), 0);

    qmp_client *c = qmp_client_new();
    atomic_int done = 0;
    struct ctally t;
    ctally_init(&t, &done);
    long long t0 = t_now_ms();
    assert_int_equal(qmp_client_connect_unix_async(c, l.path, t_io_timeout_ms(), ctally_cb, &t, ctally_destroy),
                     QMP_OK);
    /* Nothing listens yet: no fd, and a retry deadline to wake up for. */
    assert_int_equal(qmp_client_get_fd(c), -1);
    int ms = qmp_client_get_timeout_ms(c);
    assert_in_range(ms, 0, 1000);
    assert_int_equal(pump_until(c, &done, 1, t_io_timeout_ms(), NULL), QMP_OK);
    long long took = t_now_ms() - t0;
    assert_ctally(&t, QMP_OK);
    assert_true(took >= 190);
    pthread_join(l.thread, NULL);
    assert_int_equal(l.failed, 0);
    assert_non_null(l.peer);
    assert_true(qmp_client_get_fd(c) >= 0);

    assert_echo_round_trip(c);
    finish(c, l.peer);
    unlink(l.path);
    rmdir(dir);
}

static void test_connect_unix_async_times_out(void **state)
{
    (void)state;
    char dir[] = "/tmp/libqmp-async-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[108];
    snprintf(path, sizeof path, "%s/never.sock", dir);

    qmp_client *c = qmp_client_new();
    atomic_int done = 0;
    struct ctally t;
    ctally_init(&t, &done);
    long long t0 = t_now_ms();
    assert_int_equal(qmp_client_connect_unix_async(c, path, 300, ctally_cb, &t, ctally_destroy), QMP_OK);
    assert_int_equal(pump_until(c, &done, 1, t_io_timeout_ms(), NULL), QMP_OK);
    long long took = t_now_ms() - t0;
    assert_ctally(&t, QMP_ETIMEDOUT);
    assert_true(took >= 295);
    if (!t_valgrind())
        assert_true(took < 1000);
    assert_int_equal(qmp_client_get_fd(c), -1);
    assert_int_equal(qmp_client_is_connected(c), 0);
    assert_int_equal(qmp_client_get_timeout_ms(c), -1);
    assert_int_equal(qmp_client_process(c, 0), QMP_ECLOSED);
    qmp_client_free(c);
    assert_ctally(&t, QMP_ETIMEDOUT);
    rmdir(dir);
}

static void test_connect_async_refused(void **state)
{
    (void)state;
    struct ctally t;
    qmp_client *c = qmp_client_new();

    ctally_init(&t, NULL);
    assert_int_equal(qmp_client_connect_unix_async(c, NULL, 300, ctally_cb, &t, ctally_destroy), QMP_EINVAL);
    assert_int_equal(qmp_error_last()->code, QMP_EINVAL);
    assert_ctally_refused(&t);

    ctally_init(&t, NULL);
    assert_int_equal(qmp_client_connect_unix_async(c, "/nonexistent/x", 300, NULL, &t, ctally_destroy), QMP_EINVAL);
    assert_ctally_refused(&t);

    ctally_init(&t, NULL);
    assert_int_equal(qmp_client_connect_unix_async(c, "/nonexistent/x", -2, ctally_cb, &t, ctally_destroy),
                     QMP_EINVAL);
    assert_ctally_refused(&t);

    ctally_init(&t, NULL);
    assert_int_equal(qmp_client_connect_unix_async(NULL, "/nonexistent/x", 300, ctally_cb, &t, ctally_destroy),
                     QMP_EINVAL);
    assert_ctally_refused(&t);

    ctally_init(&t, NULL);
    assert_int_equal(qmp_client_connect_fd_async(c, -1, 300, ctally_cb, &t, ctally_destroy), QMP_EINVAL);
    assert_ctally_refused(&t);

    /* The fd is taken, also on failure. */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ctally_init(&t, NULL);
    assert_int_equal(qmp_client_connect_fd_async(c, sv[0], 300, NULL, &t, ctally_destroy), QMP_EINVAL);
    assert_ctally_refused(&t);
    assert_false(fd_is_open(sv[0]));
    close(sv[1]);

    assert_int_equal(qmp_client_process(c, 0), QMP_ECLOSED);
    qmp_client_free(c);
}

/* Connecting twice at once, and a connected client: refused; the first connect is unharmed. */
static void test_connect_async_busy(void **state)
{
    (void)state;
    int fd;
    echo_peer *p = echo_peer_new(&fd, 0, 0);
    qmp_client *c = qmp_client_new();
    atomic_int done = 0;
    struct ctally first, t;
    ctally_init(&first, &done);
    assert_int_equal(qmp_client_connect_fd_async(c, fd, t_io_timeout_ms(), ctally_cb, &first, ctally_destroy), QMP_OK);

    ctally_init(&t, NULL);
    assert_int_equal(qmp_client_connect_unix_async(c, "/nonexistent/x", 300, ctally_cb, &t, ctally_destroy),
                     QMP_EINVAL);
    assert_ctally_refused(&t);

    assert_int_equal(pump_until(c, &done, 1, t_io_timeout_ms(), NULL), QMP_OK);
    assert_ctally(&first, QMP_OK);

    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ctally_init(&t, NULL);
    assert_int_equal(qmp_client_connect_fd_async(c, sv[0], 300, ctally_cb, &t, ctally_destroy), QMP_EINVAL);
    assert_ctally_refused(&t);
    assert_false(fd_is_open(sv[0]));
    close(sv[1]);

    assert_echo_round_trip(c);
    finish(c, p);
}

/* Closing or freeing while connecting: the connect cb gets QMP_ECANCELLED. */
static void test_connect_async_cancelled(void **state)
{
    (void)state;
    for (int use_free = 0; use_free < 2; use_free++) {
        qmp_client *c = qmp_client_new();
        struct ctally t;
        ctally_init(&t, NULL);
        assert_int_equal(qmp_client_connect_unix_async(c, "/nonexistent/x", 5000, ctally_cb, &t, ctally_destroy),
                         QMP_OK);
        assert_int_equal(qmp_client_process(c, 0), QMP_OK);
        assert_int_equal(atomic_load(&t.cb), 0);
        if (use_free) {
            qmp_client_free(c);
            assert_ctally(&t, QMP_ECANCELLED);
        } else {
            assert_int_equal(qmp_client_close(c), QMP_OK);
            assert_ctally(&t, QMP_ECANCELLED);
            assert_int_equal(qmp_client_get_timeout_ms(c), -1);
            qmp_client_free(c);
            assert_ctally(&t, QMP_ECANCELLED);
        }
    }
}

/* Synchronous calls from inside the connect and close callbacks: they work, or fail at once. */
struct in_cb {
    atomic_int connect_cb, close_cb;
    int connect_status, echo_status, close_reason, close_call_status;
    char *echo;
    long long close_call_ms;
};

static void connect_then_call(qmp_client *c, int status, void *user_data)
{
    struct in_cb *k = user_data;
    k->connect_status = status;
    json_t *r = NULL;
    k->echo_status = qmp_client_execute(c, qmp_command_new("echo", "s:from", "connect-cb", NULL), &r);
    k->echo = r ? json_dumps(r, JSON_COMPACT) : NULL;
    json_decref(r);
    atomic_fetch_add(&k->connect_cb, 1);
}

static void close_then_call(qmp_client *c, int reason, void *user_data)
{
    struct in_cb *k = user_data;
    k->close_reason = reason;
    long long t0 = t_now_ms();
    k->close_call_status = qmp_client_execute(c, qmp_command_new("echo", NULL), NULL);
    k->close_call_ms = t_now_ms() - t0;
    atomic_fetch_add(&k->close_cb, 1);
}

static void test_sync_calls_in_connect_and_close_callbacks(void **state)
{
    (void)state;
    int fd;
    echo_peer *p = echo_peer_new(&fd, 0, 0);
    qmp_client *c = qmp_client_new();
    struct in_cb k;
    memset(&k, 0, sizeof k);
    assert_int_equal(qmp_client_on_close(c, close_then_call, &k, NULL), QMP_OK);
    assert_int_equal(qmp_client_connect_fd_async(c, fd, t_io_timeout_ms(), connect_then_call, &k, NULL), QMP_OK);
    assert_int_equal(pump_until(c, &k.connect_cb, 1, t_io_timeout_ms(), NULL), QMP_OK);
    assert_int_equal(k.connect_status, QMP_OK);
    assert_int_equal(k.echo_status, QMP_OK);
    assert_string_equal(k.echo, "{\"from\":\"connect-cb\"}");
    free(k.echo);

    assert_int_equal(qmp_client_close(c), QMP_OK);
    assert_int_equal(atomic_load(&k.close_cb), 1);
    assert_int_equal(k.close_reason, QMP_OK);
    assert_int_equal(k.close_call_status, QMP_ECLOSED);
    assert_true(k.close_call_ms < 1000);
    qmp_client_free(c);
    assert_int_equal(atomic_load(&k.close_cb), 1);
    assert_int_equal(echo_peer_finish(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poll_out_while_pending),
        cmocka_unit_test(test_timeout_reflected),
        cmocka_unit_test(test_process_never_blocks),
        cmocka_unit_test(test_connect_fd_async),
        cmocka_unit_test(test_connect_unix_async_retries),
        cmocka_unit_test(test_connect_unix_async_times_out),
        cmocka_unit_test(test_connect_async_refused),
        cmocka_unit_test(test_connect_async_busy),
        cmocka_unit_test(test_connect_async_cancelled),
        cmocka_unit_test(test_sync_calls_in_connect_and_close_callbacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
