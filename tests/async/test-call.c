/*
 * test-call: qmp-call.h, the call handles that another thread can cancel
 * and that keep their outcome.  A cancel from another thread ends the call
 * at once whether the caller drives the connection or waits for another
 * thread that does; a command cancelled before it is sent is never sent;
 * one cancelled after has its late reply dropped and the client answers
 * the next call.  The outcome (status, error, value) is read from the
 * handle, in any thread.  Against the scripted peer (silence, late replies)
 * and a real qemu-system-x86_64 -M none, frozen with SIGSTOP.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <qmp/qmp.h>

#include "helpers.h"
#include "peer.h"
#include "qemu.h"

/* How long a cancelled call may take to return: far below its own timeout
   (30 s), generous for valgrind and a loaded machine. */
#define PROMPT_MS 3000

static const char *const status_reply = "{\"status\": \"running\", \"singlestep\": false, \"running\": true}";

/* Cancels call after delay_ms, in a thread of its own. */
struct canceller {
    pthread_t thread;
    qmp_call *call;
    int delay_ms;
};

static void *cancel_later(void *arg)
{
    struct canceller *k = arg;
    t_sleep_ms(k->delay_ms);
    qmp_call_cancel(k->call);
    return NULL;
}

static void cancel_in(struct canceller *k, qmp_call *call, int delay_ms)
{
    k->call = call;
    k->delay_ms = delay_ms;
    assert_int_equal(pthread_create(&k->thread, NULL, cancel_later, k), 0);
}

static void join(struct canceller *k) { pthread_join(k->thread, NULL); }

static void test_execute_keeps_its_result(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_int_equal(qmp_mock_expect_str(m, "query-status", NULL, "{\"return\": {\"status\": \"running\"}}"), 0);
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_connect_fd(c, qmp_mock_socketpair(m), 5000), QMP_OK);
    qmp_call *call = qmp_call_new(c);
    assert_non_null(call);
    assert_int_equal(qmp_call_status(call), QMP_OK);
    assert_null(qmp_call_result(call));
    assert_int_equal(qmp_call_execute_str(call, "{\"execute\": \"query-status\"}", NULL), QMP_OK);
    assert_int_equal(qmp_call_status(call), QMP_OK);
    assert_string_equal(qmp_call_result(call), "{\"status\":\"running\"}");  /* the mock's compact text */
    assert_int_equal(qmp_call_error(call)->code, QMP_OK);
    assert_non_null(qmp_call_error(call)->message);
    assert_null(qmp_call_error(call)->qmp_class);
    assert_int_equal(qmp_call_is_cancelled(call), 0);
    assert_int_equal(qmp_mock_verify(m, 5000), 0);
    qmp_call_free(call);
    qmp_client_free(c);
    qmp_mock_free(m);
}

struct reader {
    const qmp_call *call;
    int code;
    char cls[64], desc[128], result[256];
};

static void *read_outcome(void *arg)
{
    struct reader *r = arg;
    const qmp_error *e = qmp_call_error(r->call);
    r->code = e->code;
    snprintf(r->cls, sizeof r->cls, "%s", e->qmp_class ? e->qmp_class : "");
    snprintf(r->desc, sizeof r->desc, "%s", e->qmp_desc ? e->qmp_desc : "");
    snprintf(r->result, sizeof r->result, "%s", qmp_call_result(r->call) ? qmp_call_result(r->call) : "");
    return NULL;
}

/* The error stays with the handle: another thread reads it, after this one made other calls. */
static void test_command_error_stays_with_the_call(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_int_equal(qmp_mock_expect_str(m, "no-such", NULL,
                                         "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no-such\"}}"), 0);
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_connect_fd(c, qmp_mock_socketpair(m), 5000), QMP_OK);
    qmp_call *call = qmp_call_new(c);
    assert_int_equal(qmp_call_execute_str(call, "{\"execute\": \"no-such\"}", NULL), QMP_ECOMMAND);
    assert_int_equal(qmp_error_last()->code, QMP_ECOMMAND);
    qmp_call *other = qmp_call_new(c);
    assert_int_equal(qmp_call_execute_str(other, "not json", NULL), QMP_EINVAL);  /* this thread's last error moves on */
    assert_int_equal(qmp_error_last()->code, QMP_EINVAL);
    assert_non_null(strstr(qmp_call_error(other)->message, "not valid JSON"));
    assert_null(qmp_call_result(other));
    struct reader r = {.call = call};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, read_outcome, &r), 0);
    pthread_join(t, NULL);
    assert_int_equal(r.code, QMP_ECOMMAND);
    assert_string_equal(r.cls, "CommandNotFound");
    assert_string_equal(r.desc, "no-such");
    assert_string_equal(r.result, "{\"class\":\"CommandNotFound\",\"desc\":\"no-such\"}");
    assert_int_equal(qmp_call_status(call), QMP_ECOMMAND);
    assert_int_equal(qmp_mock_verify(m, 5000), 0);
    qmp_call_free(other);
    qmp_call_free(call);
    qmp_client_free(c);
    qmp_mock_free(m);
}

/* A cancel that comes first: nothing is sent, now or later on that handle. */
static void test_cancel_before_the_call_sends_nothing(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    qmp_call *call = qmp_call_new(c);
    qmp_call_cancel(call);
    qmp_call_cancel(call);  /* twice is harmless */
    assert_int_equal(qmp_call_is_cancelled(call), 1);
    assert_int_equal(qmp_call_execute_str(call, "{\"execute\": \"stop\"}", NULL), QMP_ECANCELLED);
    assert_int_equal(qmp_call_error(call)->code, QMP_ECANCELLED);
    assert_int_equal(qmp_call_wait_event_str(call, NULL, NULL, 0, -1), QMP_ECANCELLED);
    assert_int_equal(qmp_call_execute_str(call, "{\"execute\": \"stop\"}", NULL), QMP_ECANCELLED);
    /* The next command the peer reads is query-status: "stop" never went out. */
    assert_client_usable(c, p);
    qmp_call_free(call);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

/* The caller drives the connection (polls the socket): the cancel wakes its poll. */
static void test_cancel_ends_a_driving_execute_at_once(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    opts.timeout_ms = 30000;
    int stop = peer_expect(p, "stop", PEER_NO_ARGS);  /* and no answer yet */
    qmp_call *call = qmp_call_new(c);
    struct canceller k;
    cancel_in(&k, call, 100);
    long long t0 = t_now_ms();
    assert_int_equal(qmp_call_execute_str(call, "{\"execute\": \"stop\"}", &opts), QMP_ECANCELLED);
    long long took = t_now_ms() - t0;
    join(&k);
    assert_true(took < PROMPT_MS);
    assert_non_null(strstr(qmp_call_error(call)->message, "'stop' was cancelled"));
    assert_null(qmp_call_result(call));
    /* The late reply is dropped; the next call gets its own. */
    peer_return_to(p, stop, "{}");
    assert_client_usable(c, p);
    qmp_call_free(call);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

struct plain_call {
    qmp_client *c;
    int rc;
};

static void *execute_query_status(void *arg)
{
    struct plain_call *pc = arg;
    char *ret = NULL;
    pc->rc = qmp_client_execute_str(pc->c, "{\"execute\": \"query-status\"}", &ret);
    qmp_free(ret);
    return NULL;
}

/* Another thread drives (its own call is pending): the cancelled call sleeps,
   not polls, and the cancel wakes it; the driver's call is not disturbed. */
static void test_cancel_ends_a_sleeping_execute_at_once(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    int first = peer_expect(p, "query-status", PEER_NO_ARGS);
    struct plain_call driver = {c, 1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, execute_query_status, &driver), 0);
    free(peer_received(p, first));  /* the driver's command is out: it drives now */
    int stop = peer_expect(p, "stop", PEER_NO_ARGS);
    qmp_call *call = qmp_call_new(c);
    struct canceller k;
    cancel_in(&k, call, 150);
    long long t0 = t_now_ms();
    assert_int_equal(qmp_call_execute_str(call, "{\"execute\": \"stop\"}", NULL), QMP_ECANCELLED);
    long long took = t_now_ms() - t0;
    join(&k);
    assert_true(took < PROMPT_MS);
    free(peer_received(p, stop));
    peer_return_to(p, stop, "{}");  /* late: dropped */
    peer_return_to(p, first, status_reply);
    pthread_join(t, NULL);
    assert_int_equal(driver.rc, QMP_OK);
    assert_client_usable(c, p);
    qmp_call_free(call);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_cancel_ends_an_event_wait(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    qmp_call *call = qmp_call_new(c);
    struct canceller k;
    cancel_in(&k, call, 100);
    long long t0 = t_now_ms();
    assert_int_equal(qmp_call_wait_event_str(call, "STOP", NULL, qmp_client_event_seq(c), -1), QMP_ECANCELLED);
    long long took = t_now_ms() - t0;
    join(&k);
    assert_true(took < PROMPT_MS);
    assert_non_null(strstr(qmp_call_error(call)->message, "cancelled"));
    assert_int_equal(qmp_call_seq(call), 0);
    /* The event the wait was for still reaches the next waiter. */
    peer_event(p, "STOP", NULL);
    qmp_call *next = qmp_call_new(c);
    assert_int_equal(qmp_call_wait_event_str(next, "STOP", NULL, 0, 5000), QMP_OK);
    assert_int_equal(qmp_call_seq(next), 1);
    assert_client_usable(c, p);
    qmp_call_free(next);
    qmp_call_free(call);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

/* The pull-style next event: every event in order, by sequence number. */
static void test_next_event_takes_every_event_in_order(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    peer_event(p, "STOP", NULL);
    peer_event(p, "RESUME", NULL);
    peer_event(p, "DEVICE_DELETED", "{\"device\": \"d0\"}");
    static const char *const names[] = {"STOP", "RESUME", "DEVICE_DELETED"};
    qmp_call *call = qmp_call_new(c);
    unsigned long long seq = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(qmp_call_wait_event_str(call, NULL, NULL, seq, 5000), QMP_OK);
        assert_int_equal(qmp_call_seq(call), seq + 1);
        seq = qmp_call_seq(call);
        json_t *ev = qmp_json_parse(qmp_call_result(call), strlen(qmp_call_result(call)));
        assert_non_null(ev);
        assert_string_equal(json_string_value(json_object_get(ev, "event")), names[i]);
        json_decref(ev);
    }
    assert_non_null(strstr(qmp_call_result(call), "\"d0\""));
    /* Filters work as in qmp_client_wait_event_str(): this one was there already. */
    assert_int_equal(qmp_call_wait_event_str(call, "DEVICE_DELETED", "{\"device\": \"d0\"}", 0, 5000), QMP_OK);
    assert_int_equal(qmp_call_seq(call), 3);
    assert_int_equal(qmp_call_wait_event_str(call, NULL, NULL, seq, 50), QMP_ETIMEDOUT);
    assert_null(qmp_call_result(call));
    qmp_call_free(call);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

/* The handle keeps the client's memory; a freed client cancels its calls. */
static void test_client_freed_under_a_handle(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    qmp_call *call = qmp_call_new(c);
    qmp_client_free(c);
    assert_int_equal(qmp_call_execute_str(call, "{\"execute\": \"stop\"}", NULL), QMP_ECANCELLED);
    assert_int_equal(qmp_call_wait_event_str(call, NULL, NULL, 0, 100), QMP_ECANCELLED);
    qmp_call_cancel(call);
    qmp_call_free(call);
    assert_int_equal(peer_finish(p), 0);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(qmp_call_new(NULL));
    assert_int_equal(qmp_error_last()->code, QMP_EINVAL);
    assert_int_equal(qmp_call_execute_str(NULL, "{}", NULL), QMP_EINVAL);
    assert_int_equal(qmp_call_wait_event_str(NULL, NULL, NULL, 0, 0), QMP_EINVAL);
    assert_int_equal(qmp_call_status(NULL), QMP_EINVAL);
    assert_null(qmp_call_result(NULL));
    assert_int_equal(qmp_call_seq(NULL), 0);
    assert_int_equal(qmp_call_is_cancelled(NULL), 0);
    qmp_call_cancel(NULL);
    qmp_call_free(NULL);

    qmp_client *c = qmp_client_new();
    qmp_call *call = qmp_call_new(c);
    assert_int_equal(qmp_call_execute_str(call, NULL, NULL), QMP_EINVAL);
    assert_non_null(strstr(qmp_call_error(call)->message, "NULL"));
    assert_int_equal(qmp_call_execute_str(call, "{\"execute\": \"stop\"}", NULL), QMP_ECLOSED);
    qmp_exec_options bad = QMP_EXEC_OPTIONS_INIT;
    bad.timeout_ms = -7;
    assert_int_equal(qmp_call_execute_str(call, "{\"execute\": \"stop\"}", &bad), QMP_EINVAL);
    assert_int_equal(qmp_call_wait_event_str(call, NULL, NULL, 0, -2), QMP_EINVAL);
    assert_int_equal(qmp_call_wait_event_str(call, NULL, "[1]", 0, 10), QMP_EINVAL);
    assert_non_null(strstr(qmp_call_error(call)->message, "match"));
    assert_int_equal(qmp_call_wait_event_str(call, NULL, "{", 0, 10), QMP_EINVAL);
    assert_int_equal(qmp_call_wait_event_str(call, NULL, NULL, 0, 10), QMP_ECLOSED);
    qmp_call_free(call);
    qmp_client_free(c);
}

/* --- qmp_call_run(): any blocking call made cancellable ------------------- */

static int dial_unix(qmp_client *c, void *path) { return qmp_client_connect_unix(c, path, 30000); }

struct fd_dial {
    int fd;
};

static int dial_fd(qmp_client *c, void *arg) { return qmp_client_connect_fd(c, ((struct fd_dial *)arg)->fd, 30000); }

static int fetch_schema(qmp_client *c, void *out)
{
    qmp_schema *s = qmp_client_get_schema(c, 30000);
    *(qmp_schema **)out = s;
    return s ? 0 : qmp_error_last()->code;
}

static int run_two_commands(qmp_client *c, void *arg)
{
    (void)arg;
    char *ret = NULL;
    int rc = qmp_client_execute_str(c, "{\"execute\": \"query-status\"}", &ret);
    qmp_free(ret);
    if (rc < 0) return rc;
    rc = qmp_client_execute_str(c, "{\"execute\": \"no-such-command\"}", &ret);
    qmp_free(ret);
    return rc < 0 ? rc : 7;
}

static int never_called(qmp_client *c, void *arg)
{
    (void)c;
    *(int *)arg = 1;
    return 0;
}

/* A Unix socket that does not exist yet is retried until the deadline (30 s):
   the cancel ends the retries; the client connects afterwards. */
static void test_run_cancels_a_connect_to_a_missing_socket(void **state)
{
    (void)state;
    char dir[] = "/tmp/test-call-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/not-yet.sock", dir);
    qmp_client *c = qmp_client_new();
    qmp_call *call = qmp_call_new(c);
    struct canceller k;
    cancel_in(&k, call, 100);
    long long t0 = t_now_ms();
    assert_int_equal(qmp_call_run(call, dial_unix, path), QMP_ECANCELLED);
    long long took = t_now_ms() - t0;
    join(&k);
    assert_true(took < PROMPT_MS);
    assert_int_equal(qmp_call_status(call), QMP_ECANCELLED);
    assert_non_null(strstr(qmp_call_error(call)->message, "connecting to"));
    assert_non_null(strstr(qmp_call_error(call)->message, "was cancelled"));
    assert_int_equal(qmp_error_last()->code, QMP_ECANCELLED);
    assert_int_equal(qmp_client_is_connected(c), 0);
    /* Later calls on the handle are cancelled too; the client itself connects. */
    int called = 0;
    assert_int_equal(qmp_call_run(call, never_called, &called), QMP_ECANCELLED);
    assert_int_equal(called, 0);
    qmp_mock *m = qmp_mock_new();
    assert_int_equal(qmp_mock_expect_str(m, "query-status", NULL, "{\"return\": {\"status\": \"running\"}}"), 0);
    assert_int_equal(qmp_client_connect_fd(c, qmp_mock_socketpair(m), 5000), QMP_OK);
    char *ret = NULL;
    assert_int_equal(qmp_client_execute_str(c, "{\"execute\": \"query-status\"}", &ret), QMP_OK);
    qmp_free(ret);
    assert_int_equal(qmp_mock_verify(m, 5000), 0);
    qmp_call_free(call);
    qmp_client_free(c);
    qmp_mock_free(m);
    rmdir(dir);
}

/* A server that accepts but never greets: the cancel ends the handshake and
   closes the connection (the peer sees it close), and nothing is left open. */
static void test_run_cancels_a_handshake(void **state)
{
    (void)state;
    struct fd_dial d;
    peer *p = peer_new(&d.fd);
    peer_expect_close(p);
    qmp_client *c = qmp_client_new();
    qmp_call *call = qmp_call_new(c);
    struct canceller k;
    cancel_in(&k, call, 100);
    long long t0 = t_now_ms();
    assert_int_equal(qmp_call_run(call, dial_fd, &d), QMP_ECANCELLED);
    long long took = t_now_ms() - t0;
    join(&k);
    assert_true(took < PROMPT_MS);
    assert_non_null(strstr(qmp_call_error(call)->message, "connecting to fd"));
    assert_int_equal(qmp_client_is_connected(c), 0);
    assert_int_equal(qmp_client_get_fd(c), -1);
    assert_int_equal(peer_finish(p), 0);  /* its read saw the client close */
    qmp_call_free(call);
    qmp_client_free(c);
}

/* The schema fetch (query-qmp-schema) is a wait like any other: cancelled at
   once, its late reply dropped, the client usable. */
static void test_run_cancels_the_schema_fetch(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    int fetch = peer_expect(p, "query-qmp-schema", PEER_NO_ARGS);  /* no answer yet */
    qmp_call *call = qmp_call_new(c);
    struct canceller k;
    cancel_in(&k, call, 100);
    qmp_schema *s = (qmp_schema *)1;
    long long t0 = t_now_ms();
    assert_int_equal(qmp_call_run(call, fetch_schema, &s), QMP_ECANCELLED);
    long long took = t_now_ms() - t0;
    join(&k);
    assert_true(took < PROMPT_MS);
    assert_null(s);
    assert_non_null(strstr(qmp_call_error(call)->message, "'query-qmp-schema' was cancelled"));
    peer_return_to(p, fetch, "[]");  /* late: dropped */
    assert_client_usable(c, p);
    qmp_call_free(call);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

/* fn's own return value comes back; a failure's error is the handle's, for
   any thread to read; a NULL fn or handle is refused. */
static void test_run_returns_what_fn_returned(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_int_equal(qmp_mock_expect_str(m, "query-status", NULL, "{\"return\": {\"status\": \"running\"}}"), 0);
    assert_int_equal(qmp_mock_expect_str(m, "no-such-command", NULL,
                                         "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"nope\"}}"),
                     0);
    assert_int_equal(qmp_mock_expect_str(m, "query-status", NULL, "{\"return\": {\"status\": \"running\"}}"), 0);
    assert_int_equal(qmp_mock_expect_str(m, "no-such-command", NULL, "{\"return\": {}}"), 0);
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_connect_fd(c, qmp_mock_socketpair(m), 5000), QMP_OK);
    qmp_call *call = qmp_call_new(c);
    assert_int_equal(qmp_call_run(call, run_two_commands, NULL), QMP_ECOMMAND);
    assert_int_equal(qmp_call_status(call), QMP_ECOMMAND);
    struct reader r = {call, 0, "", "", ""};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, read_outcome, &r), 0);
    pthread_join(t, NULL);
    assert_int_equal(r.code, QMP_ECOMMAND);
    assert_string_equal(r.cls, "CommandNotFound");
    assert_string_equal(r.desc, "nope");
    assert_string_equal(r.result, "");
    assert_int_equal(qmp_call_run(call, run_two_commands, NULL), 7);
    assert_int_equal(qmp_call_status(call), QMP_OK);
    assert_int_equal(qmp_call_error(call)->code, QMP_OK);
    assert_int_equal(qmp_call_run(call, NULL, NULL), QMP_EINVAL);
    assert_int_equal(qmp_call_status(call), QMP_EINVAL);
    assert_int_equal(qmp_call_run(NULL, run_two_commands, NULL), QMP_EINVAL);
    assert_int_equal(qmp_mock_verify(m, 5000), 0);
    qmp_call_free(call);
    qmp_client_free(c);
    qmp_mock_free(m);
}

/* Real QEMU, frozen (SIGSTOP): a command it will answer only later is cancelled
   at once; thawed, it answers the next call and the late reply is dropped. */
static void test_cancel_against_frozen_qemu(void **state)
{
    (void)state;
    qemu_proc q;
    assert_int_equal(qemu_start(&q, QEMU_SYSTEM, NULL), 0);
    qmp_client *c = qemu_connect(&q, 0);
    unsigned long long seq = qmp_client_event_seq(c);
    qemu_freeze(&q);
    qmp_call *call = qmp_call_new(c);
    struct canceller k;
    cancel_in(&k, call, 100);
    long long t0 = t_now_ms();
    assert_int_equal(qmp_call_execute_str(call, "{\"execute\": \"stop\"}", NULL), QMP_ECANCELLED);
    long long took = t_now_ms() - t0;
    join(&k);
    assert_true(took < PROMPT_MS);
    qemu_thaw(&q);
    /* QEMU ran the cancelled "stop" (its reply was dropped): the STOP event says so. */
    qmp_call *next = qmp_call_new(c);
    assert_int_equal(qmp_call_execute_str(next, "{\"execute\": \"query-status\"}", NULL), QMP_OK);
    assert_non_null(strstr(qmp_call_result(next), "\"paused\""));
    assert_int_equal(qmp_call_wait_event_str(next, "STOP", NULL, seq, 10000), QMP_OK);
    assert_true(qmp_call_seq(next) > seq);
    assert_int_equal(qmp_call_execute_str(next, "{\"execute\": \"no-such-command\"}", NULL), QMP_ECOMMAND);
    assert_string_equal(qmp_call_error(next)->qmp_class, "CommandNotFound");
    qmp_call_free(next);
    qmp_call_free(call);
    qmp_client_free(c);
    qemu_stop(&q);
}

int main(void)
{
    const qemu_kind kinds[] = {QEMU_SYSTEM};
    int missing = qemu_require(kinds, 1);
    if (missing) return missing;
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_execute_keeps_its_result),
        cmocka_unit_test(test_command_error_stays_with_the_call),
        cmocka_unit_test(test_cancel_before_the_call_sends_nothing),
        cmocka_unit_test(test_cancel_ends_a_driving_execute_at_once),
        cmocka_unit_test(test_cancel_ends_a_sleeping_execute_at_once),
        cmocka_unit_test(test_cancel_ends_an_event_wait),
        cmocka_unit_test(test_next_event_takes_every_event_in_order),
        cmocka_unit_test(test_client_freed_under_a_handle),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_run_cancels_a_connect_to_a_missing_socket),
        cmocka_unit_test(test_run_cancels_a_handshake),
        cmocka_unit_test(test_run_cancels_the_schema_fetch),
        cmocka_unit_test(test_run_returns_what_fn_returned),
        cmocka_unit_test(test_cancel_against_frozen_qemu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
