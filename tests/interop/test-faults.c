/*
 * The client against a real QEMU that misbehaves: killed with SIGKILL while
 * a call waits, or frozen (SIGSTOP) past a call's timeout.
 */
#include "fixture.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Kills the server after a delay, from another thread, while the test waits in a call. */
typedef struct killer {
    qemu_proc *q;
    long delay_ms;
    pthread_t thread;
} killer;

static void *killer_main(void *arg)
{
    killer *k = arg;
    sleep_ms(k->delay_ms);
    qemu_kill(k->q);
    return NULL;
}

static void killer_start(killer *k, qemu_proc *q, long delay_ms)
{
    k->q = q;
    k->delay_ms = delay_ms;
    assert_int_equal(pthread_create(&k->thread, NULL, killer_main, k), 0);
}

static void killer_join(killer *k)
{
    pthread_join(k->thread, NULL);
}

typedef struct close_record {
    int calls;
    int reason;
    int destroyed;
} close_record;

static void on_close(qmp_client *c, int reason, void *user_data)
{
    (void)c;
    close_record *r = user_data;
    r->calls++;
    r->reason = reason;
}

static void close_destroy(void *user_data)
{
    ((close_record *)user_data)->destroyed++;
}

typedef struct reply_record {
    int calls;
    int status;
    int destroyed;
} reply_record;

static void on_reply(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    (void)result;
    reply_record *r = user_data;
    r->calls++;
    r->status = status;
}

static void reply_destroy(void *user_data)
{
    ((reply_record *)user_data)->destroyed++;
}

/*
 * Frees the client while cr (on this test's stack) still exists: its destroy
 * writes to it.  No second close report: the peer's hang-up was the close.
 */
static void free_client(fixture *f, close_record *cr)
{
    qmp_client_free(f->c);
    f->c = NULL;
    assert_int_equal(cr->calls, 1);
    assert_int_equal(cr->destroyed, 1);
}

/* QEMU dies (SIGKILL) while a synchronous call waits for its reply. */
static void test_killed_mid_command(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);
    close_record cr = { 0, 1, 0 };
    assert_int_equal(qmp_client_on_close(f->c, on_close, &cr, close_destroy), QMP_OK);

    /* An async call in flight too: it must end with the same status. */
    reply_record rr = { 0, 1, 0 };
    qemu_freeze(&f->q); /* nothing will be answered from now on */
    assert_int_equal(qmp_client_execute_async(f->c, qmp_command_new("query-status", NULL), NULL,
                                              on_reply, &rr, reply_destroy), QMP_OK);

    killer k;
    killer_start(&k, &f->q, 300);
    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    opts.timeout_ms = 20000;
    json_t *ret = (json_t *)0x1;
    long long t0 = now_ms();
    int rc = qmp_client_execute_full(f->c, qmp_command_new("query-version", NULL), &opts, &ret);
    long long took = now_ms() - t0;
    killer_join(&k);

    assert_int_equal(rc, QMP_ECLOSED);
    assert_int_equal(qmp_error_last()->code, QMP_ECLOSED);
    assert_null(ret);
    assert_true(took >= 250);
    assert_true(took < 5000); /* the hang-up, not the 20 s timeout */
    assert_int_equal(qmp_client_is_connected(f->c), 0);
    assert_int_equal(cr.calls, 1);
    assert_int_equal(cr.reason, QMP_ECLOSED);
    assert_int_equal(rr.calls, 1);
    assert_int_equal(rr.status, QMP_ECLOSED);
    assert_int_equal(rr.destroyed, 1);

    /* Later calls fail at once. */
    t0 = now_ms();
    assert_int_equal(qmp_client_execute(f->c, qmp_command_new("query-status", NULL), NULL), QMP_ECLOSED);
    assert_true(now_ms() - t0 < 1000);
    assert_null(qmp_client_greeting(f->c));

    free_client(f, &cr);
}

/* QEMU dies while the client waits for an event. */
static void test_killed_while_waiting_for_event(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);
    close_record cr = { 0, 1, 0 };
    assert_int_equal(qmp_client_on_close(f->c, on_close, &cr, close_destroy), QMP_OK);

    killer k;
    killer_start(&k, &f->q, 300);
    long long t0 = now_ms();
    int rc = qmp_client_wait_event(f->c, "SHUTDOWN", NULL, qmp_client_event_seq(f->c), 20000, NULL);
    long long took = now_ms() - t0;
    killer_join(&k);

    assert_int_equal(rc, QMP_ECLOSED);
    assert_true(took < 5000);
    assert_int_equal(qmp_client_is_connected(f->c), 0);
    assert_int_equal(cr.calls, 1);
    assert_int_equal(cr.reason, QMP_ECLOSED);
    free_client(f, &cr);
}

/* QEMU died while the client was idle: the next call finds out. */
static void test_killed_while_idle(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);
    close_record cr = { 0, 1, 0 };
    assert_int_equal(qmp_client_on_close(f->c, on_close, &cr, close_destroy), QMP_OK);

    qemu_kill(&f->q);
    long long t0 = now_ms();
    assert_int_equal(qmp_client_execute(f->c, qmp_command_new("query-status", NULL), NULL), QMP_ECLOSED);
    assert_true(now_ms() - t0 < 5000);
    assert_int_equal(qmp_client_is_connected(f->c), 0);
    assert_int_equal(cr.calls, 1);
    assert_int_equal(cr.reason, QMP_ECLOSED);
    free_client(f, &cr);
}

/*
 * A QEMU that quits by itself ("quit"): the reply, the SHUTDOWN event, then
 * the hang-up.  QEMU writes the reply at once and emits SHUTDOWN later, from
 * its main loop, before it closes the socket; the event ring keeps what
 * arrived after the connection ends.
 */
static void test_quit(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);
    close_record cr = { 0, 1, 0 };
    assert_int_equal(qmp_client_on_close(f->c, on_close, &cr, close_destroy), QMP_OK);

    unsigned long long seq = qmp_client_event_seq(f->c);
    json_t *ret = NULL;
    assert_int_equal(qmp_client_execute(f->c, qmp_command_new("quit", NULL), &ret), QMP_OK);
    assert_true(json_is_object(ret));
    assert_int_equal(json_object_size(ret), 0);
    json_decref(ret);

    json_t *ev = NULL;
    unsigned long long ev_seq = 0;
    assert_int_equal(qmp_client_wait_event_full(f->c, "SHUTDOWN", NULL, seq, 10000, &ev, &ev_seq), QMP_OK);
    assert_non_null(ev);
    assert_true(ev_seq > seq);
    assert_string_equal(json_string_value(json_object_get(ev, "event")), "SHUTDOWN");
    json_t *data = json_object_get(ev, "data");
    assert_string_equal(json_string_value(json_object_get(data, "reason")), "host-qmp-quit");
    assert_true(json_is_false(json_object_get(data, "guest")));
    json_decref(ev);

    /* Then the hang-up: waiting for any later event ends with it, well before the timeout. */
    long long t0 = now_ms();
    assert_int_equal(qmp_client_wait_event(f->c, NULL, NULL, ev_seq, 10000, NULL), QMP_ECLOSED);
    assert_true(now_ms() - t0 < 5000);
    assert_int_equal(qmp_client_is_connected(f->c), 0);
    assert_int_equal(cr.calls, 1);
    assert_int_equal(cr.reason, QMP_ECLOSED);
    assert_int_equal(qmp_client_execute(f->c, qmp_command_new("query-status", NULL), NULL), QMP_ECLOSED);
    free_client(f, &cr);
}

/* A per-call timeout: the client stays usable and the late reply reaches nobody. */
static void test_call_timeout_and_late_reply(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);

    qemu_freeze(&f->q);
    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    opts.timeout_ms = 300;
    json_t *ret = (json_t *)0x1;
    long long t0 = now_ms();
    int rc = qmp_client_execute_full(f->c, qmp_command_new("query-status", NULL), &opts, &ret);
    long long took = now_ms() - t0;
    assert_int_equal(rc, QMP_ETIMEDOUT);
    assert_null(ret);
    assert_true(took >= 250);
    assert_true(took < 3000);
    assert_int_equal(qmp_client_is_connected(f->c), 1);

    /* The text twin times out the same way. */
    char *text = (char *)0x1;
    assert_int_equal(qmp_client_execute_str_full(f->c, "{\"execute\":\"query-name\"}", &opts, &text),
                     QMP_ETIMEDOUT);
    assert_null(text);

    qemu_thaw(&f->q);
    /* QEMU now answers query-status and query-name first: this call must get its own reply. */
    ret = exec_ok(f->c, qmp_command_new("query-version", NULL));
    assert_true(json_is_object(json_object_get(ret, "qemu")));
    assert_null(json_object_get(ret, "status"));
    json_decref(ret);
    ret = exec_ok(f->c, qmp_command_new("query-status", NULL));
    assert_string_equal(json_string_value(json_object_get(ret, "status")), "running");
    json_decref(ret);
    ret = exec_ok(f->c, qmp_command_new("query-kvm", NULL));
    assert_true(json_is_boolean(json_object_get(ret, "enabled")));
    json_decref(ret);
}

/* The client's default timeout applies when a call sets none. */
static void test_default_timeout(void **state)
{
    fixture *f = *state;
    f->c = qmp_client_new();
    assert_non_null(f->c);
    assert_int_equal(qmp_client_set_timeout(f->c, 300), QMP_OK);
    assert_int_equal(qmp_client_connect_unix(f->c, f->q.sock, 10000), QMP_OK);

    qemu_freeze(&f->q);
    long long t0 = now_ms();
    assert_int_equal(qmp_client_execute(f->c, qmp_command_new("query-status", NULL), NULL), QMP_ETIMEDOUT);
    long long took = now_ms() - t0;
    assert_true(took >= 250);
    assert_true(took < 3000);
    /* An event wait with timeout 0 uses the default too. */
    t0 = now_ms();
    assert_int_equal(qmp_client_wait_event(f->c, "STOP", NULL, 0, 0, NULL), QMP_ETIMEDOUT);
    took = now_ms() - t0;
    assert_true(took >= 250);
    assert_true(took < 3000);
    qemu_thaw(&f->q);
    json_decref(exec_ok(f->c, qmp_command_new("query-status", NULL)));
}

/* A server that accepts but never greets: connecting times out. */
static void test_connect_timeout_silent_server(void **state)
{
    fixture *f = *state;
    /* Connect once so QEMU surely listens, then hang up and freeze it. */
    fixture_connect(f, 0);
    qmp_client_free(f->c);
    f->c = NULL;
    qemu_freeze(&f->q);

    qmp_client *c = qmp_client_new();
    assert_non_null(c);
    long long t0 = now_ms();
    int rc = qmp_client_connect_unix(c, f->q.sock, 500);
    long long took = now_ms() - t0;
    assert_int_equal(rc, QMP_ETIMEDOUT);
    assert_true(took >= 400);
    assert_true(took < 3000);
    assert_int_equal(qmp_client_is_connected(c), 0);
    qmp_client_free(c);

    /* Thawed, it greets the next client. */
    qemu_thaw(&f->q);
    fixture_connect(f, 0);
    assert_int_equal(qmp_client_is_connected(f->c), 1);
}

int main(void)
{
    const qemu_kind needed[] = { QEMU_SYSTEM };
    int rc = qemu_require(needed, 1);
    if (rc)
        return rc;
    /* LIBQMP_TEST_FILTER=test_name (a glob) runs some of the cases only. */
    if (getenv("LIBQMP_TEST_FILTER"))
        cmocka_set_test_filter(getenv("LIBQMP_TEST_FILTER"));

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup_system, fixture_teardown)
    const struct CMUnitTest tests[] = {
        T(test_killed_mid_command),
        T(test_killed_while_waiting_for_event),
        T(test_killed_while_idle),
        T(test_quit),
        T(test_call_timeout_and_late_reply),
        T(test_default_timeout),
        T(test_connect_timeout_silent_server),
    };
    return cmocka_run_group_tests_name("interop: faults", tests, NULL, NULL);
}
