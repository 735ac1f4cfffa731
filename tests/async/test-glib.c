/*
 * test-glib: a client attached to a GMainContext (qmp-glib.h).  Callbacks
 * run in the thread that runs the context; synchronous calls from other
 * threads wait for it to route their replies; detach and free are safe
 * from inside a callback; a synchronous call inside a callback drives
 * itself; with nobody running the context, a synchronous call drives itself;
 * an idle client lets the context sleep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <qmp/qmp.h>
#include <qmp/qmp-glib.h>

#include "helpers.h"
#include "loop-thread.h"
#include "peer.h"

static const char *const running = "{\"status\": \"running\", \"running\": true}";

/* --- an event handler that records where it ran ------------------------------------ */

struct seen {
    atomic_int count;
    atomic_int destroyed;
    atomic_int wrong_thread;    /* ran outside the expected thread */
    pthread_t expect;
    int nested_status;          /* status of the sync call made inside, when asked */
    int nested;                 /* make a sync query-status call inside */
};

static void on_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)ev;
    struct seen *s = user_data;
    if (!pthread_equal(pthread_self(), s->expect))
        atomic_fetch_add(&s->wrong_thread, 1);
    if (s->nested) {
        json_t *r = NULL;
        s->nested_status = qmp_client_execute(c, qmp_command_new("query-status", NULL), &r);
        json_decref(r);
    }
    atomic_fetch_add(&s->count, 1);
}

static void seen_destroy(void *user_data)
{
    struct seen *s = user_data;
    atomic_fetch_add(&s->destroyed, 1);
}

/* --- the wire trace: which threads read from the socket ---------------------------- */

struct readers {
    pthread_mutex_t lock;
    int received;               /* QMP_LOG_RECEIVE entries */
    int elsewhere;              /* ... in a thread other than expect */
    pthread_t expect;
};

static void on_log(qmp_client *c, int kind, const char *text, void *user_data)
{
    (void)c;
    (void)text;
    struct readers *r = user_data;
    if (kind != QMP_LOG_RECEIVE)
        return;
    pthread_mutex_lock(&r->lock);
    r->received++;
    if (!pthread_equal(pthread_self(), r->expect))
        r->elsewhere++;
    pthread_mutex_unlock(&r->lock);
}

/* --- tests ------------------------------------------------------------------------------- */

static void test_callbacks_in_loop_thread(void **state)
{
    (void)state;
    struct loop_thread l;
    loop_thread_start(&l);
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_int_equal(qmp_client_attach(c, l.ctx), QMP_OK);

    struct seen ev;
    memset(&ev, 0, sizeof ev);
    ev.expect = l.thread;
    assert_int_equal(qmp_client_on_event(c, NULL, on_event, &ev, seen_destroy, NULL), QMP_OK);

    int cmd[3];
    for (int i = 0; i < 3; i++)
        cmd[i] = peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_event(p, "STOP", NULL);
    for (int i = 2; i >= 0; i--)
        peer_return_to(p, cmd[i], running);
    peer_event(p, "RESUME", NULL);

    atomic_int done = 0;
    struct tally t[3];
    for (int i = 0; i < 3; i++) {
        tally_init(&t[i], &done);
        assert_int_equal(tally_send(c, qmp_command_new("query-status", NULL), NULL, &t[i]), QMP_OK);
    }
    /* The main thread only waits: the loop's thread does the work. */
    assert_true(wait_until(&done, 3, t_io_timeout_ms()));
    assert_true(wait_until(&ev.count, 2, t_io_timeout_ms()));
    for (int i = 0; i < 3; i++) {
        assert_tally(&t[i], QMP_OK, "{\"running\":true,\"status\":\"running\"}");
        assert_true(pthread_equal(t[i].cb_thread, l.thread));
        tally_clear(&t[i]);
    }
    assert_int_equal(atomic_load(&ev.wrong_thread), 0);
    assert_int_equal(qmp_client_event_seq(c), 2);

    qmp_client_free(c);
    assert_int_equal(atomic_load(&ev.destroyed), 1);
    assert_int_equal(atomic_load(&ev.count), 2);
    loop_thread_stop(&l);
    assert_int_equal(peer_finish(p), 0);
}

static void test_sync_call_from_other_thread(void **state)
{
    (void)state;
    struct loop_thread l;
    loop_thread_start(&l);
    peer *p;
    qmp_client *c = connect_client(&p);
    struct readers r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.lock, NULL);
    r.expect = l.thread;
    assert_int_equal(qmp_client_set_log(c, on_log, &r, NULL), QMP_OK);
    assert_int_equal(qmp_client_attach(c, l.ctx), QMP_OK);

    struct seen ev;
    memset(&ev, 0, sizeof ev);
    ev.expect = l.thread;
    assert_int_equal(qmp_client_on_event(c, "STOP", on_event, &ev, seen_destroy, NULL), QMP_OK);

    for (int i = 0; i < 10; i++) {
        char ret[64];
        snprintf(ret, sizeof ret, "{\"i\": %d}", i);
        peer_expect(p, "query-status", PEER_NO_ARGS);
        if (i == 5)
            peer_event(p, "STOP", NULL);
        peer_return(p, ret);
        json_t *res = NULL;
        assert_status(qmp_client_execute(c, qmp_command_new("query-status", NULL), &res), QMP_OK);
        assert_int_equal(json_integer_value(json_object_get(res, "i")), i);
        json_decref(res);
    }
    assert_true(wait_until(&ev.count, 1, t_io_timeout_ms()));
    assert_int_equal(atomic_load(&ev.wrong_thread), 0);

    assert_int_equal(qmp_client_set_log(c, NULL, NULL, NULL), QMP_OK);
    pthread_mutex_lock(&r.lock);
    assert_int_equal(r.received, 11);   /* ten replies, one event */
    assert_int_equal(r.elsewhere, 0);   /* every one read by the loop's thread */
    pthread_mutex_unlock(&r.lock);
    pthread_mutex_destroy(&r.lock);

    qmp_client_free(c);
    loop_thread_stop(&l);
    assert_int_equal(peer_finish(p), 0);
}

static void detach_hook(qmp_client *c, struct tally *t)
{
    (void)t;
    qmp_client_detach(c);
}

static void test_detach_in_callback(void **state)
{
    (void)state;
    struct loop_thread l;
    loop_thread_start(&l);
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_int_equal(qmp_client_attach(c, l.ctx), QMP_OK);

    peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return(p, running);
    atomic_int done = 0;
    struct tally t;
    tally_init(&t, &done);
    t.hook = detach_hook;
    assert_int_equal(tally_send(c, qmp_command_new("query-status", NULL), NULL, &t), QMP_OK);
    assert_true(wait_until(&done, 1, t_io_timeout_ms()));
    assert_tally(&t, QMP_OK, NULL);
    assert_true(pthread_equal(t.cb_thread, l.thread));
    tally_clear(&t);

    /* Detached: the loop no longer drives; this thread does. */
    assert_client_usable(c, p);
    peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return(p, running);
    tally_init(&t, &done);
    assert_int_equal(tally_send(c, qmp_command_new("query-status", NULL), NULL, &t), QMP_OK);
    assert_int_equal(pump_until(c, &done, 2, t_io_timeout_ms(), NULL), QMP_OK);
    assert_tally(&t, QMP_OK, NULL);
    assert_true(pthread_equal(t.cb_thread, pthread_self()));
    tally_clear(&t);

    qmp_client_detach(c);   /* no-op when not attached */
    qmp_client_free(c);
    loop_thread_stop(&l);
    assert_int_equal(peer_finish(p), 0);
}

struct close_seen {
    atomic_int count, destroyed;
    int reason;
};

static void on_close(qmp_client *c, int reason, void *user_data)
{
    (void)c;
    struct close_seen *s = user_data;
    s->reason = reason;
    atomic_fetch_add(&s->count, 1);
}

static void close_destroy(void *user_data)
{
    struct close_seen *s = user_data;
    atomic_fetch_add(&s->destroyed, 1);
}

static void free_hook(qmp_client *c, struct tally *t)
{
    (void)t;
    qmp_client_free(c);
}

static void test_free_in_callback(void **state)
{
    (void)state;
    struct loop_thread l;
    loop_thread_start(&l);
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_int_equal(qmp_client_attach(c, l.ctx), QMP_OK);
    struct seen ev;
    memset(&ev, 0, sizeof ev);
    ev.expect = l.thread;
    assert_int_equal(qmp_client_on_event(c, NULL, on_event, &ev, seen_destroy, NULL), QMP_OK);
    struct close_seen cl;
    memset(&cl, 0, sizeof cl);
    assert_int_equal(qmp_client_on_close(c, on_close, &cl, close_destroy), QMP_OK);

    int first = peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return_to(p, first, running);
    peer_expect_close(p);

    atomic_int done = 0;
    struct tally t[3];
    for (int i = 0; i < 3; i++) {
        tally_init(&t[i], &done);
        if (i == 0)
            t[i].hook = free_hook;
        assert_int_equal(tally_send(c, qmp_command_new("query-status", NULL), NULL, &t[i]), QMP_OK);
    }
    c = NULL;   /* freed by the callback */
    assert_true(wait_until(&done, 3, t_io_timeout_ms()));
    assert_true(wait_until(&ev.destroyed, 1, t_io_timeout_ms()));
    assert_true(wait_until(&cl.destroyed, 1, t_io_timeout_ms()));
    assert_tally(&t[0], QMP_OK, NULL);
    for (int i = 0; i < 3; i++) {
        if (i)
            assert_tally(&t[i], QMP_ECANCELLED, NULL);
        assert_true(pthread_equal(t[i].cb_thread, l.thread));
        tally_clear(&t[i]);
    }
    assert_int_equal(atomic_load(&ev.count), 0);
    assert_int_equal(atomic_load(&ev.destroyed), 1);
    assert_int_equal(atomic_load(&cl.count), 1);
    assert_int_equal(cl.reason, QMP_OK);
    assert_int_equal(atomic_load(&cl.destroyed), 1);
    loop_thread_stop(&l);
    assert_int_equal(peer_finish(p), 0);
}

struct nested {
    int status;
    char *result;
    pthread_t thread;
};

static void nested_hook(qmp_client *c, struct tally *t)
{
    struct nested *n = t->data;
    json_t *r = NULL;
    n->status = qmp_client_execute(c, qmp_command_new("query-status", NULL), &r);
    n->result = r ? json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    n->thread = pthread_self();
    json_decref(r);
}

static void test_sync_call_inside_callback(void **state)
{
    (void)state;
    struct loop_thread l;
    loop_thread_start(&l);
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_int_equal(qmp_client_attach(c, l.ctx), QMP_OK);
    struct seen ev;
    memset(&ev, 0, sizeof ev);
    ev.expect = l.thread;
    ev.nested = 1;
    assert_int_equal(qmp_client_on_event(c, "PING", on_event, &ev, NULL, NULL), QMP_OK);

    peer_expect(p, "work", PEER_NO_ARGS);
    peer_return(p, "{\"outer\": true}");
    peer_expect(p, "query-status", PEER_NO_ARGS);   /* from inside the reply callback */
    peer_return(p, "{\"inner\": true}");
    peer_event(p, "PING", NULL);
    peer_expect(p, "query-status", PEER_NO_ARGS);   /* from inside the event handler */
    peer_return(p, "{\"inner\": 2}");

    atomic_int done = 0;
    struct tally t;
    struct nested n;
    memset(&n, 0, sizeof n);
    tally_init(&t, &done);
    t.hook = nested_hook;
    t.data = &n;
    assert_int_equal(tally_send(c, qmp_command_new("work", NULL), NULL, &t), QMP_OK);
    assert_true(wait_until(&done, 1, t_io_timeout_ms()));
    assert_true(wait_until(&ev.count, 1, t_io_timeout_ms()));
    assert_tally(&t, QMP_OK, "{\"outer\":true}");
    tally_clear(&t);
    assert_int_equal(n.status, QMP_OK);
    assert_string_equal(n.result, "{\"inner\":true}");
    assert_true(pthread_equal(n.thread, l.thread));
    free(n.result);
    assert_int_equal(ev.nested_status, QMP_OK);
    assert_int_equal(atomic_load(&ev.wrong_thread), 0);

    qmp_client_free(c);
    loop_thread_stop(&l);
    assert_int_equal(peer_finish(p), 0);
}

static void test_attached_nobody_runs_context(void **state)
{
    (void)state;
    GMainContext *ctx = g_main_context_new();
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_int_equal(qmp_client_attach(c, ctx), QMP_OK);

    /* Nothing iterates ctx: the synchronous call drives the connection itself. */
    long long t0 = t_now_ms();
    assert_client_usable(c, p);
    if (!t_valgrind())
        assert_true(t_now_ms() - t0 < 2000);

    /* And so does qmp_client_process() from this thread. */
    peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return(p, running);
    atomic_int done = 0;
    struct tally t;
    tally_init(&t, &done);
    assert_int_equal(tally_send(c, qmp_command_new("query-status", NULL), NULL, &t), QMP_OK);
    assert_int_equal(pump_until(c, &done, 1, t_io_timeout_ms(), NULL), QMP_OK);
    assert_tally(&t, QMP_OK, NULL);
    assert_true(pthread_equal(t.cb_thread, pthread_self()));
    tally_clear(&t);

    /* Freed while attached. */
    qmp_client_free(c);
    g_main_context_unref(ctx);
    assert_int_equal(peer_finish(p), 0);
}

/* Attaching again moves the client to the other context. */
static void test_reattach(void **state)
{
    (void)state;
    struct loop_thread a, b;
    loop_thread_start(&a);
    loop_thread_start(&b);
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_int_equal(qmp_client_attach(c, a.ctx), QMP_OK);
    peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return(p, running);
    atomic_int done = 0;
    struct tally t;
    tally_init(&t, &done);
    assert_int_equal(tally_send(c, qmp_command_new("query-status", NULL), NULL, &t), QMP_OK);
    assert_true(wait_until(&done, 1, t_io_timeout_ms()));
    assert_true(pthread_equal(t.cb_thread, a.thread));
    tally_clear(&t);

    assert_int_equal(qmp_client_attach(c, b.ctx), QMP_OK);
    peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return(p, running);
    tally_init(&t, &done);
    assert_int_equal(tally_send(c, qmp_command_new("query-status", NULL), NULL, &t), QMP_OK);
    assert_true(wait_until(&done, 2, t_io_timeout_ms()));
    assert_tally(&t, QMP_OK, NULL);
    assert_true(pthread_equal(t.cb_thread, b.thread));
    tally_clear(&t);

    qmp_client_free(c);
    loop_thread_stop(&a);
    loop_thread_stop(&b);
    assert_int_equal(peer_finish(p), 0);
}

/* Timeouts while the loop drives: a synchronous call from another thread, and an async one. */
static void test_timeouts_while_attached(void **state)
{
    (void)state;
    struct loop_thread l;
    loop_thread_start(&l);
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_int_equal(qmp_client_attach(c, l.ctx), QMP_OK);

    int slow = peer_expect(p, "slow", PEER_NO_ARGS);
    peer_sleep(p, 400);
    peer_return_to(p, slow, "{\"late\": 1}");
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = 100;
    json_t *r = (json_t *)1;
    long long t0 = t_now_ms();
    assert_status(qmp_client_execute_full(c, qmp_command_new("slow", NULL), &o, &r), QMP_ETIMEDOUT);
    long long took = t_now_ms() - t0;
    assert_null(r);
    assert_true(took >= 95);
    if (!t_valgrind())
        assert_true(took < 350);
    assert_client_usable(c, p);   /* after the late reply, which is dropped */

    slow = peer_expect(p, "slow", PEER_NO_ARGS);
    peer_sleep(p, 400);
    peer_return_to(p, slow, "{\"late\": 2}");
    atomic_int done = 0;
    struct tally t;
    tally_init(&t, &done);
    t0 = t_now_ms();
    assert_int_equal(tally_send(c, qmp_command_new("slow", NULL), &o, &t), QMP_OK);
    assert_true(wait_until(&done, 1, t_io_timeout_ms()));
    took = t_now_ms() - t0;
    assert_tally(&t, QMP_ETIMEDOUT, NULL);
    assert_true(pthread_equal(t.cb_thread, l.thread));
    assert_true(took >= 95);
    if (!t_valgrind())
        assert_true(took < 350);
    assert_client_usable(c, p);
    assert_tally(&t, QMP_ETIMEDOUT, NULL);
    tally_clear(&t);

    qmp_client_free(c);
    loop_thread_stop(&l);
    assert_int_equal(peer_finish(p), 0);
}

/* "Stays attached across reconnects": connecting again while the loop runs, blocking and not. */
struct glib_connect {
    atomic_int cb;
    int status;
    pthread_t thread;
};

static void on_connected(qmp_client *c, int status, void *user_data)
{
    (void)c;
    struct glib_connect *k = user_data;
    k->status = status;
    k->thread = pthread_self();
    atomic_fetch_add(&k->cb, 1);
}

static void test_connect_async_while_attached(void **state)
{
    (void)state;
    struct loop_thread l;
    loop_thread_start(&l);
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_attach(c, l.ctx), QMP_OK);

    /* Attached before connecting: the connect callback runs in the loop's thread. */
    for (int round = 0; round < 2; round++) {
        int fd;
        peer *p = peer_new(&fd);
        peer_handshake(p, 0, 0);
        struct glib_connect k;
        memset(&k, 0, sizeof k);
        t_sleep_ms(50);   /* the loop is idle in poll() */
        assert_int_equal(qmp_client_connect_fd_async(c, fd, t_io_timeout_ms(), on_connected, &k, NULL), QMP_OK);
        assert_true(wait_until(&k.cb, 1, t_io_timeout_ms()));
        assert_int_equal(k.status, QMP_OK);
        assert_true(pthread_equal(k.thread, l.thread));
        assert_client_usable(c, p);
        peer_expect_close(p);
        assert_int_equal(qmp_client_close(c), QMP_OK);   /* and again: still attached */
        assert_int_equal(peer_finish(p), 0);
    }
    qmp_client_free(c);
    loop_thread_stop(&l);
}

/*
 * A blocking connect from another thread while the loop runs: the loop's
 * thread owns the context, so it must route the greeting -- the client has
 * to wake it up to watch the new socket.
 */
static void test_blocking_connect_while_attached(void **state)
{
    (void)state;
    struct loop_thread l;
    loop_thread_start(&l);
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_attach(c, l.ctx), QMP_OK);

    for (int round = 0; round < 2; round++) {
        int fd;
        peer *p = peer_new(&fd);
        peer_handshake(p, 0, 0);
        t_sleep_ms(50);   /* the loop is idle in poll(), watching no socket */
        long long t0 = t_now_ms();
        int rc = qmp_client_connect_fd(c, fd, 2000);
        long long took = t_now_ms() - t0;
        if (rc != QMP_OK)
            fail_msg("round %d: qmp_client_connect_fd() while attached to a running context: status %d after "
                     "%lld ms (%s)", round, rc, took, qmp_error_last()->message);
        if (!t_valgrind())
            assert_true(took < 1000);
        assert_client_usable(c, p);
        peer_expect_close(p);
        assert_int_equal(qmp_client_close(c), QMP_OK);   /* stays attached: connect again */
        assert_int_equal(peer_finish(p), 0);
    }
    qmp_client_free(c);
    loop_thread_stop(&l);
}

/* An idle attached client lets the context sleep: each iteration waits in
   poll() until something happens (here a 200 ms timer), it does not spin. */
static gboolean on_timer_fired(gpointer user_data)
{
    *(int *)user_data = 1;
    return G_SOURCE_REMOVE;
}

static void test_idle_context_sleeps(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_handshake(p, 0, 0);
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_connect_fd(c, fd, t_io_timeout_ms()), QMP_OK);
    GMainContext *ctx = g_main_context_new();
    assert_int_equal(qmp_client_attach(c, ctx), QMP_OK);
    while (g_main_context_iteration(ctx, FALSE)) {}   /* whatever attaching left due */

    int fired = 0, iterations = 0;
    GSource *timer = g_timeout_source_new(200);
    g_source_set_callback(timer, on_timer_fired, &fired, NULL);
    g_source_attach(timer, ctx);
    while (!fired && iterations < 1000) {
        g_main_context_iteration(ctx, TRUE);
        iterations++;
    }
    g_source_destroy(timer);
    g_source_unref(timer);
    assert_true(fired);
    if (iterations > 5)
        fail_msg("%d iterations of an idle context in 200 ms: the client's source keeps waking it", iterations);

    peer_expect_close(p);
    qmp_client_free(c);
    g_main_context_unref(ctx);
    assert_int_equal(peer_finish(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_callbacks_in_loop_thread),
        cmocka_unit_test(test_sync_call_from_other_thread),
        cmocka_unit_test(test_detach_in_callback),
        cmocka_unit_test(test_free_in_callback),
        cmocka_unit_test(test_sync_call_inside_callback),
        cmocka_unit_test(test_attached_nobody_runs_context),
        cmocka_unit_test(test_reattach),
        cmocka_unit_test(test_timeouts_while_attached),
        cmocka_unit_test(test_connect_async_while_attached),
        cmocka_unit_test(test_blocking_connect_while_attached),
        cmocka_unit_test(test_idle_context_sleeps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
