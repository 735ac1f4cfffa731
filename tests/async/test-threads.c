/*
 * test-threads: one client shared by many threads (qmp-client.h, "Threads"),
 * against the echo peer: every reply reaches its own caller, every event
 * reaches the handler exactly once and in order, callbacks may make
 * synchronous calls, and closing or freeing the client wakes every thread
 * blocked in a call at once with QMP_ECANCELLED.  Also with the client
 * attached to a GMainContext run by another thread.
 *
 * LIBQMP_TEST_VALGRIND=1 and ThreadSanitizer builds run fewer commands.
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

#include "echo-peer.h"
#include "helpers.h"
#include "loop-thread.h"

#define THREADS 8

/* --- the stress run ---------------------------------------------------------------------- */

struct stress {
    qmp_client *c;
    int per_thread;
    atomic_int calls_ok;
    atomic_int mismatches;
    pthread_mutex_t lock;
    char first_error[512];      /* guarded by lock */

    /* The event handler's own state.  Plain variables on purpose: handlers
       run one at a time (qmp-client.h), so ThreadSanitizer would flag
       them if two ever ran at once. */
    unsigned long long last_seq;
    long long last_n;
    int order_errors;
    char first_order_error[256];
    atomic_int events;

    int check_thread;           /* handlers must run in thread `loop` */
    pthread_t loop;
    atomic_int wrong_thread;
    int nested_every;           /* every n-th event, the handler makes a synchronous call */
    atomic_int nested_ok;
};

static void stress_error(struct stress *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void stress_error(struct stress *s, const char *fmt, ...)
{
    pthread_mutex_lock(&s->lock);
    if (atomic_fetch_add(&s->mismatches, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->first_error, sizeof s->first_error, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&s->lock);
}

/* A synchronous echo of unique arguments; 1 when the reply is exactly its own. */
static int echo_call(struct stress *s, const char *who, int t, int i)
{
    char tag[64];
    snprintf(tag, sizeof tag, "%s-%d-%d", who, t, i);
    json_t *args = json_pack("{sisiss}", "t", t, "i", i, "tag", tag);
    json_t *cmd = qmp_command_new("echo", "i:t", t, "i:i", i, "s:tag", tag, NULL);
    json_t *ret = NULL;
    int rc = qmp_client_execute(s->c, cmd, &ret);
    int ok = rc == QMP_OK && json_equal(ret, args);
    if (!ok) {
        char *got = ret ? json_dumps(ret, JSON_COMPACT) : NULL;
        stress_error(s, "%s: status %d (%s), reply %s", tag, rc, rc ? qmp_error_last()->message : "",
                     got ? got : "NULL");
        free(got);
    }
    json_decref(ret);
    json_decref(args);
    return ok;
}

static void stress_on_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)c;
    struct stress *s = user_data;
    if (s->check_thread && !pthread_equal(pthread_self(), s->loop))
        atomic_fetch_add(&s->wrong_thread, 1);
    unsigned long long seq = qmp_event_seq(ev);
    long long n = json_integer_value(json_object_get(qmp_event_data(ev), "n"));
    if (seq != s->last_seq + 1 || n != s->last_n + 1 || strcmp(qmp_event_name(ev), "TICK") != 0) {
        if (s->order_errors++ == 0)
            snprintf(s->first_order_error, sizeof s->first_order_error,
                     "event %s seq %llu n %lld after seq %llu n %lld", qmp_event_name(ev), seq, n,
                     s->last_seq, s->last_n);
    }
    s->last_seq = seq;
    s->last_n = n;
    int k = atomic_fetch_add(&s->events, 1) + 1;
    if (s->nested_every && k % s->nested_every == 0 && echo_call(s, "nested", 99, k))
        atomic_fetch_add(&s->nested_ok, 1);
}

struct worker {
    struct stress *s;
    int index;
    pthread_t thread;
};

static void *stress_worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->s->per_thread; i++) {
        if (echo_call(w->s, "worker", w->index, i))
            atomic_fetch_add(&w->s->calls_ok, 1);
        else
            break;
    }
    return NULL;
}

static void run_stress(int attach)
{
    int per_thread = t_scale(10000, 20, 10);
    int event_every = 50;
    int fd;
    echo_peer *p = echo_peer_new(&fd, 0, event_every);
    struct stress s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.lock, NULL);
    s.per_thread = per_thread;
    s.nested_every = 20;
    s.c = qmp_client_new();
    assert_int_equal(qmp_client_connect_fd(s.c, fd, t_io_timeout_ms()), QMP_OK);
    assert_int_equal(qmp_client_on_event(s.c, NULL, stress_on_event, &s, NULL, NULL), QMP_OK);
    struct loop_thread l;
    if (attach) {
        loop_thread_start(&l);
        s.check_thread = 1;
        s.loop = l.thread;
        assert_int_equal(qmp_client_attach(s.c, l.ctx), QMP_OK);
    }

    long long t0 = t_now_ms();
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i].s = &s;
        w[i].index = i;
        assert_int_equal(pthread_create(&w[i].thread, NULL, stress_worker, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(w[i].thread, NULL);
    long long took = t_now_ms() - t0;

    /* The events the peer sent after the last replies: drive (or let the loop drive) until they are in. */
    long long deadline = t_now_ms() + t_io_timeout_ms();
    while (atomic_load(&s.events) < echo_peer_events(p) && t_now_ms() < deadline) {
        if (!attach)
            qmp_client_process(s.c, QMP_POLL_IN);
        t_sleep_ms(1);
    }
    if (atomic_load(&s.mismatches))
        fail_msg("%d mismatched or failed calls; the first: %s", atomic_load(&s.mismatches), s.first_error);
    assert_int_equal(atomic_load(&s.calls_ok), THREADS * per_thread);
    long sent = echo_peer_events(p);
    assert_true(sent >= (long)THREADS * per_thread / event_every);
    if (s.order_errors)
        fail_msg("%d events out of order; the first: %s", s.order_errors, s.first_order_error);
    assert_int_equal(atomic_load(&s.events), sent);
    assert_int_equal(s.last_seq, (unsigned long long)sent);
    assert_int_equal(qmp_client_event_seq(s.c), (unsigned long long)sent);
    assert_int_equal(atomic_load(&s.nested_ok), sent / s.nested_every);
    assert_int_equal(atomic_load(&s.wrong_thread), 0);
    fprintf(stderr, "# %d threads x %d calls%s: %lld ms, %ld events, %d nested calls\n", THREADS, per_thread,
            attach ? " (GLib)" : "", took, sent, atomic_load(&s.nested_ok));

    qmp_client_free(s.c);
    if (attach)
        loop_thread_stop(&l);
    pthread_mutex_destroy(&s.lock);
    assert_int_equal(echo_peer_finish(p), 0);
}

static void test_stress(void **state)
{
    (void)state;
    run_stress(0);
}

static void test_stress_glib(void **state)
{
    (void)state;
    run_stress(1);
}

/* --- async calls from many threads, driven by the main thread ---------------------------- */

struct async_call {
    struct tally t;
    int thread, index;
};

struct async_worker {
    qmp_client *c;
    int index, count;
    struct async_call *calls;
    atomic_int *done;
    atomic_int refused;
    pthread_t thread;
};

static void *async_worker_main(void *arg)
{
    struct async_worker *w = arg;
    for (int i = 0; i < w->count; i++) {
        struct async_call *k = &w->calls[i];
        tally_init(&k->t, w->done);
        k->thread = w->index;
        k->index = i;
        json_t *cmd = qmp_command_new("echo", "i:t", w->index, "i:i", i, NULL);
        if (tally_send(w->c, cmd, NULL, &k->t) != QMP_OK)
            atomic_fetch_add(&w->refused, 1);
    }
    return NULL;
}

static void test_async_from_threads(void **state)
{
    (void)state;
    int per_thread = t_scale(1000, 20, 4);
    int fd;
    echo_peer *p = echo_peer_new(&fd, 0, 0);
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_connect_fd(c, fd, t_io_timeout_ms()), QMP_OK);

    atomic_int done = 0;
    struct async_worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].c = c;
        w[i].index = i;
        w[i].count = per_thread;
        w[i].done = &done;
        w[i].calls = calloc((size_t)per_thread, sizeof *w[i].calls);
        assert_int_equal(pthread_create(&w[i].thread, NULL, async_worker_main, &w[i]), 0);
    }
    /* The main thread drives while the others queue. */
    assert_int_equal(pump_until(c, &done, THREADS * per_thread, t_io_timeout_ms() * 3, NULL), QMP_OK);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(w[i].thread, NULL);
        assert_int_equal(atomic_load(&w[i].refused), 0);
        for (int k = 0; k < per_thread; k++) {
            char want[64];
            snprintf(want, sizeof want, "{\"i\":%d,\"t\":%d}", k, i);
            assert_tally(&w[i].calls[k].t, QMP_OK, want);
            tally_clear(&w[i].calls[k].t);
        }
        free(w[i].calls);
    }
    qmp_client_free(c);
    assert_int_equal(echo_peer_finish(p), 0);
}

/* --- synchronous calls inside async callbacks, while other threads call too ------------- */

struct nested_state {
    struct stress *s;
    atomic_int ok;
};

static void nested_hook(qmp_client *c, struct tally *t)
{
    (void)c;
    struct nested_state *n = t->data;
    if (t->status == QMP_OK && echo_call(n->s, "in-callback", 77, atomic_load(&t->cb_tick)))
        atomic_fetch_add(&n->ok, 1);
}

static void test_sync_calls_in_callbacks(void **state)
{
    (void)state;
    int per_thread = t_scale(500, 10, 4);
    const int ncb = 50;
    int fd;
    echo_peer *p = echo_peer_new(&fd, 0, 7);
    struct stress s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.lock, NULL);
    s.per_thread = per_thread;
    s.nested_every = 3;    /* event handlers call too */
    s.c = qmp_client_new();
    assert_int_equal(qmp_client_connect_fd(s.c, fd, t_io_timeout_ms()), QMP_OK);
    assert_int_equal(qmp_client_on_event(s.c, NULL, stress_on_event, &s, NULL, NULL), QMP_OK);

    struct nested_state n;
    memset(&n, 0, sizeof n);
    n.s = &s;
    atomic_int done = 0;
    struct tally t[50];
    for (int i = 0; i < ncb; i++) {
        tally_init(&t[i], &done);
        t[i].hook = nested_hook;
        t[i].data = &n;
    }
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i].s = &s;
        w[i].index = i;
        assert_int_equal(pthread_create(&w[i].thread, NULL, stress_worker, &w[i]), 0);
    }
    for (int i = 0; i < ncb; i++)
        assert_int_equal(tally_send(s.c, qmp_command_new("echo", "i:n", i, NULL), NULL, &t[i]), QMP_OK);
    /* Whoever drives (a worker, or this thread) runs the callbacks, each making a nested call. */
    assert_int_equal(pump_until(s.c, &done, ncb, t_io_timeout_ms() * 3, NULL), QMP_OK);
    for (int i = 0; i < 4; i++)
        pthread_join(w[i].thread, NULL);
    long long deadline = t_now_ms() + t_io_timeout_ms();
    while (atomic_load(&s.events) < echo_peer_events(p) && t_now_ms() < deadline) {
        qmp_client_process(s.c, QMP_POLL_IN);
        t_sleep_ms(1);
    }
    if (atomic_load(&s.mismatches))
        fail_msg("%d mismatched or failed calls; the first: %s", atomic_load(&s.mismatches), s.first_error);
    for (int i = 0; i < ncb; i++) {
        char want[32];
        snprintf(want, sizeof want, "{\"n\":%d}", i);
        assert_tally(&t[i], QMP_OK, want);
        tally_clear(&t[i]);
    }
    assert_int_equal(atomic_load(&n.ok), ncb);
    assert_int_equal(atomic_load(&s.calls_ok), 4 * per_thread);
    if (s.order_errors)
        fail_msg("%d events out of order; the first: %s", s.order_errors, s.first_order_error);
    assert_int_equal(atomic_load(&s.events), echo_peer_events(p));
    assert_int_equal(atomic_load(&s.nested_ok), echo_peer_events(p) / 3);

    qmp_client_free(s.c);
    pthread_mutex_destroy(&s.lock);
    assert_int_equal(echo_peer_finish(p), 0);
}

/* --- teardown while threads wait --------------------------------------------------------- */

struct blocked {
    qmp_client *c;
    pthread_t thread;
    int status;
    long long returned_at;
};

static void *blocked_main(void *arg)
{
    struct blocked *b = arg;
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = 30000;
    b->status = qmp_client_execute_full(b->c, qmp_command_new("hold", NULL), &o, NULL);
    b->returned_at = t_now_ms();
    return NULL;
}

/* on_wire: how many of the THREADS commands the client sends (with "oob" it keeps the rest back). */
static void start_blocked_n(qmp_client *c, echo_peer *p, struct blocked *b, int on_wire)
{
    for (int i = 0; i < THREADS; i++) {
        b[i].c = c;
        b[i].status = 1;
        assert_int_equal(pthread_create(&b[i].thread, NULL, blocked_main, &b[i]), 0);
    }
    /* They are on the wire (or held back) and unanswered: every thread waits. */
    assert_true(echo_peer_wait_held(p, on_wire, t_io_timeout_ms()));
    t_sleep_ms(20);
}

static void start_blocked(qmp_client *c, echo_peer *p, struct blocked *b)
{
    start_blocked_n(c, p, b, THREADS);
}

static void assert_all_cancelled(struct blocked *b, long long since)
{
    long long limit = t_valgrind() ? 10000 : 1000;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(b[i].thread, NULL);
        if (b[i].status != QMP_ECANCELLED)
            fail_msg("thread %d: status %d, expected QMP_ECANCELLED (%d)", i, b[i].status, QMP_ECANCELLED);
        if (b[i].returned_at - since > limit)
            fail_msg("thread %d returned %lld ms after the client was closed", i, b[i].returned_at - since);
    }
}

static void test_close_wakes_blocked_threads(void **state)
{
    (void)state;
    int fd;
    echo_peer *p = echo_peer_new(&fd, 0, 0);
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_connect_fd(c, fd, t_io_timeout_ms()), QMP_OK);
    struct blocked b[THREADS];
    start_blocked(c, p, b);

    long long t0 = t_now_ms();
    assert_int_equal(qmp_client_close(c), QMP_OK);
    assert_all_cancelled(b, t0);
    assert_int_equal(qmp_client_is_connected(c), 0);
    qmp_client_free(c);
    assert_int_equal(echo_peer_finish(p), 0);
}

static void free_hook(qmp_client *c, struct tally *t)
{
    atomic_store((atomic_llong *)t->data, t_now_ms());
    qmp_client_free(c);
}

static void test_free_in_callback_wakes_blocked_threads(void **state)
{
    (void)state;
    int fd;
    echo_peer *p = echo_peer_new(&fd, 1, 0);
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_set_oob(c, 1), QMP_OK);
    assert_int_equal(qmp_client_connect_fd(c, fd, t_io_timeout_ms()), QMP_OK);
    struct blocked b[THREADS];
    start_blocked_n(c, p, b, 7);

    /* One of the blocked threads drives: it runs this callback, which frees the client.
       Out-of-band, as the blocked in-band commands reach the client's limit of 7
       unanswered (the eighth is held back). */
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.oob = 1;
    atomic_llong freed_at = 0;
    atomic_int done = 0;
    struct tally t;
    tally_init(&t, &done);
    t.hook = free_hook;
    t.data = &freed_at;
    assert_int_equal(tally_send(c, qmp_command_new("echo", NULL), &o, &t), QMP_OK);
    c = NULL;
    assert_true(wait_until(&done, 1, t_io_timeout_ms()));
    assert_tally(&t, QMP_OK, "{}");
    tally_clear(&t);
    int in_worker = 0;
    for (int i = 0; i < THREADS; i++)
        in_worker += pthread_equal(t.cb_thread, b[i].thread);
    assert_int_equal(in_worker, 1);
    assert_all_cancelled(b, atomic_load(&freed_at));
    assert_int_equal(echo_peer_finish(p), 0);
}

/* Free from another thread while threads wait: they return QMP_ECANCELLED. */
static void test_free_wakes_blocked_threads(void **state)
{
    (void)state;
    int fd;
    echo_peer *p = echo_peer_new(&fd, 0, 0);
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_connect_fd(c, fd, t_io_timeout_ms()), QMP_OK);
    struct blocked b[THREADS];
    start_blocked(c, p, b);
    long long t0 = t_now_ms();
    qmp_client_free(c);
    assert_all_cancelled(b, t0);
    assert_int_equal(echo_peer_finish(p), 0);
}

/* The same close while attached to a running loop: the waiters are not the driver. */
static void test_close_wakes_blocked_threads_glib(void **state)
{
    (void)state;
    struct loop_thread l;
    loop_thread_start(&l);
    int fd;
    echo_peer *p = echo_peer_new(&fd, 0, 0);
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_connect_fd(c, fd, t_io_timeout_ms()), QMP_OK);
    assert_int_equal(qmp_client_attach(c, l.ctx), QMP_OK);
    struct blocked b[THREADS];
    start_blocked(c, p, b);
    long long t0 = t_now_ms();
    assert_int_equal(qmp_client_close(c), QMP_OK);
    assert_all_cancelled(b, t0);
    qmp_client_free(c);
    loop_thread_stop(&l);
    assert_int_equal(echo_peer_finish(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress),
        cmocka_unit_test(test_stress_glib),
        cmocka_unit_test(test_async_from_threads),
        cmocka_unit_test(test_sync_calls_in_callbacks),
        cmocka_unit_test(test_close_wakes_blocked_threads),
        cmocka_unit_test(test_free_in_callback_wakes_blocked_threads),
        cmocka_unit_test(test_free_wakes_blocked_threads),
        cmocka_unit_test(test_close_wakes_blocked_threads_glib),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
