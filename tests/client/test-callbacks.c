/*
 * test-callbacks: destroy notifiers run exactly once, close callbacks and
 * their reasons, and callbacks that call back into the client.
 *
 * The conversations are the test server's (mock-client.h), except two that
 * need what only the scripted peer does: watching the client hang up
 * (test_close_reports_ok) and an event before a reply with a nested
 * command answered first (test_sync_call_inside_event_handler).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <qmp/qmp.h>
#include "mock-client.h"
#include "peer.h"

struct counts {
    int calls;
    int destroyed;
    int calls_at_destroy;
    int last_reason;
    unsigned int self_id;       /* for a handler that removes itself */
    int destroyed_inside;       /* destroy count seen right after off_event() inside the handler */
    int rc_inside;
    char *result;               /* a result obtained inside the callback */
    peer *p;
};

static void count_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)c;
    (void)ev;
    struct counts *k = user_data;
    k->calls++;
}

static void count_close(qmp_client *c, int reason, void *user_data)
{
    (void)c;
    struct counts *k = user_data;
    k->calls++;
    k->last_reason = reason;
}

static void count_destroy(void *user_data)
{
    struct counts *k = user_data;
    k->destroyed++;
    k->calls_at_destroy = k->calls;
}

static void finish(qmp_client *c, peer *p)
{
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

/* Scripts stop, answered {} and followed by n_events STOP events. */
static void expect_stop(qmp_mock *m, int n_events)
{
    assert_status(qmp_mock_expect_str(m, "stop", "{}", "{\"return\": {}}"), QMP_OK);
    for (int i = 0; i < n_events; i++) assert_status(qmp_mock_event_str(m, "{\"event\": \"STOP\"}"), QMP_OK);
}

/* Runs stop and waits until the n STOP events after it have been dispatched. */
static void run_stop(qmp_client *c, int n_events)
{
    unsigned long long seq = qmp_client_event_seq(c);
    assert_status(qmp_client_execute(c, qmp_command_new("stop", NULL), NULL), QMP_OK);
    for (int i = 0; i < n_events; i++)
        assert_status(qmp_client_wait_event_full(c, "STOP", NULL, seq, peer_io_timeout_ms(), NULL, &seq), QMP_OK);
}

static void test_off_event_runs_destroy_once(void **state)
{
    (void)state;
    struct counts k;
    memset(&k, 0, sizeof k);
    qmp_mock *m;
    qmp_client *c = mock_connect_client(&m);
    unsigned int id = 0;
    assert_status(qmp_client_on_event(c, "STOP", count_event, &k, count_destroy, &id), QMP_OK);

    expect_stop(m, 1);
    run_stop(c, 1);
    assert_int_equal(k.calls, 1);

    assert_status(qmp_client_off_event(c, id), QMP_OK);
    assert_int_equal(k.destroyed, 1);

    /* Removed: no more calls, and removing again is an unknown id. */
    expect_stop(m, 1);
    run_stop(c, 1);
    assert_int_equal(k.calls, 1);
    assert_status(qmp_client_off_event(c, id), QMP_EINVAL);

    mock_finish(c, m);
    assert_int_equal(k.destroyed, 1);
}

static void test_free_runs_destroys_once(void **state)
{
    (void)state;
    struct counts a, b, cl;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&cl, 0, sizeof cl);

    /* Never connected. */
    qmp_client *c = qmp_client_new();
    assert_status(qmp_client_on_event(c, NULL, count_event, &a, count_destroy, NULL), QMP_OK);
    assert_status(qmp_client_on_event(c, "STOP", count_event, &b, count_destroy, NULL), QMP_OK);
    assert_status(qmp_client_on_close(c, count_close, &cl, count_destroy), QMP_OK);
    qmp_client_free(c);
    assert_int_equal(a.destroyed, 1);
    assert_int_equal(b.destroyed, 1);
    assert_int_equal(cl.destroyed, 1);
    assert_int_equal(cl.calls, 0);   /* nothing was open to close */

    /* Connected: the close callback reports QMP_OK, then its destroy runs. */
    memset(&a, 0, sizeof a);
    memset(&cl, 0, sizeof cl);
    qmp_mock *m;
    c = mock_connect_client(&m);
    assert_status(qmp_client_on_event(c, NULL, count_event, &a, count_destroy, NULL), QMP_OK);
    assert_status(qmp_client_on_close(c, count_close, &cl, count_destroy), QMP_OK);
    mock_finish(c, m);
    assert_int_equal(a.destroyed, 1);
    assert_int_equal(cl.calls, 1);
    assert_int_equal(cl.last_reason, QMP_OK);
    assert_int_equal(cl.destroyed, 1);
    assert_int_equal(cl.calls_at_destroy, 1);
}

static void test_off_event_unknown_id(void **state)
{
    (void)state;
    struct counts k;
    memset(&k, 0, sizeof k);
    qmp_client *c = qmp_client_new();
    unsigned int id = 0;
    assert_status(qmp_client_on_event(c, NULL, count_event, &k, count_destroy, &id), QMP_OK);
    assert_status(qmp_client_off_event(c, id + 1000), QMP_EINVAL);
    assert_int_equal(qmp_error_last()->code, QMP_EINVAL);
    assert_int_equal(k.destroyed, 0);
    assert_status(qmp_client_off_event(NULL, id), QMP_EINVAL);
    qmp_client_free(c);
    assert_int_equal(k.destroyed, 1);
}

static void test_on_event_failure_runs_destroy(void **state)
{
    (void)state;
    struct counts k;
    memset(&k, 0, sizeof k);
    qmp_client *c = qmp_client_new();
    unsigned int id = 12345;
    assert_status(qmp_client_on_event(c, "STOP", NULL, &k, count_destroy, &id), QMP_EINVAL);
    assert_int_equal(k.destroyed, 1);
    assert_status(qmp_client_on_event(NULL, "STOP", count_event, &k, count_destroy, &id), QMP_EINVAL);
    assert_int_equal(k.destroyed, 2);
    qmp_client_free(c);
    assert_int_equal(k.destroyed, 2);
    assert_int_equal(k.calls, 0);
}

static void test_on_close_replaced(void **state)
{
    (void)state;
    struct counts first, second;
    memset(&first, 0, sizeof first);
    memset(&second, 0, sizeof second);
    qmp_mock *m;
    qmp_client *c = mock_connect_client(&m);
    assert_status(qmp_client_on_close(c, count_close, &first, count_destroy), QMP_OK);
    assert_status(qmp_client_on_close(c, count_close, &second, count_destroy), QMP_OK);
    assert_int_equal(first.destroyed, 1);
    assert_int_equal(second.destroyed, 0);

    mock_finish(c, m);
    assert_int_equal(first.calls, 0);
    assert_int_equal(first.destroyed, 1);
    assert_int_equal(second.calls, 1);
    assert_int_equal(second.last_reason, QMP_OK);
    assert_int_equal(second.destroyed, 1);
}

static void test_close_reports_ok(void **state)
{
    (void)state;
    struct counts k;
    memset(&k, 0, sizeof k);
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_status(qmp_client_on_close(c, count_close, &k, count_destroy), QMP_OK);
    peer_expect_close(p);

    assert_status(qmp_client_close(c), QMP_OK);
    assert_int_equal(k.calls, 1);
    assert_int_equal(k.last_reason, QMP_OK);
    assert_int_equal(k.destroyed, 0);   /* the callback stays registered */
    assert_client_closed(c);

    assert_status(qmp_client_close(c), QMP_OK);   /* a no-op */
    assert_int_equal(k.calls, 1);
    assert_int_equal(peer_finish(p), 0);

    /* Handlers stay registered across a reconnect. */
    struct counts ev;
    memset(&ev, 0, sizeof ev);
    assert_status(qmp_client_on_event(c, "STOP", count_event, &ev, count_destroy, NULL), QMP_OK);
    int fd;
    p = peer_new(&fd);
    peer_handshake(p, 0, 0);
    assert_status(qmp_client_connect_fd(c, fd, peer_io_timeout_ms()), QMP_OK);
    peer_expect(p, "stop", PEER_NO_ARGS);
    peer_event(p, "STOP", NULL);
    peer_return(p, "{}");
    assert_status(qmp_client_execute(c, qmp_command_new("stop", NULL), NULL), QMP_OK);
    assert_int_equal(ev.calls, 1);

    finish(c, p);
    assert_int_equal(k.calls, 2);
    assert_int_equal(k.destroyed, 1);
    assert_int_equal(ev.destroyed, 1);
}

static void remove_self(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)ev;
    struct counts *k = user_data;
    k->calls++;
    k->rc_inside = qmp_client_off_event(c, k->self_id);
    k->destroyed_inside = k->destroyed;
}

static void test_off_event_inside_handler(void **state)
{
    (void)state;
    struct counts k;
    memset(&k, 0, sizeof k);
    qmp_mock *m;
    qmp_client *c = mock_connect_client(&m);
    assert_status(qmp_client_on_event(c, NULL, remove_self, &k, count_destroy, &k.self_id), QMP_OK);

    expect_stop(m, 2);
    run_stop(c, 2);
    assert_int_equal(k.rc_inside, QMP_OK);
    assert_int_equal(k.destroyed_inside, 0);   /* "after any call of it in progress" */
    assert_int_equal(k.calls, 1);              /* not called for the second event */
    assert_int_equal(k.destroyed, 1);

    mock_finish(c, m);
    assert_int_equal(k.destroyed, 1);
}

static void sync_call_in_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)ev;
    struct counts *k = user_data;
    k->calls++;
    json_t *r = NULL;
    k->rc_inside = qmp_client_execute(c, qmp_command_new("query-status", NULL), &r);
    k->result = r ? json_dumps(r, JSON_COMPACT) : NULL;
    json_decref(r);
}

static void test_sync_call_inside_event_handler(void **state)
{
    (void)state;
    struct counts k;
    memset(&k, 0, sizeof k);
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_status(qmp_client_on_event(c, "STOP", sync_call_in_event, &k, count_destroy, NULL), QMP_OK);

    int outer = peer_expect(p, "stop", PEER_NO_ARGS);
    peer_event(p, "STOP", NULL);
    int inner = peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return_to(p, inner, "{\"status\": \"paused\"}");
    peer_return_to(p, outer, "{}");
    assert_status(qmp_client_execute(c, qmp_command_new("stop", NULL), NULL), QMP_OK);
    assert_int_equal(k.calls, 1);
    assert_status(k.rc_inside, QMP_OK);
    assert_non_null(k.result);
    assert_string_equal(k.result, "{\"status\":\"paused\"}");
    free(k.result);

    assert_client_usable(c, p);
    finish(c, p);
    assert_int_equal(k.destroyed, 1);
}

static void sync_call_in_reply(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)status;
    (void)result;
    struct counts *k = user_data;
    json_t *r = NULL;
    k->rc_inside = qmp_client_execute(c, qmp_command_new("query-status", NULL), &r);
    k->result = r ? json_dumps(r, JSON_COMPACT) : NULL;
    json_decref(r);
    k->calls++;
}

static void test_sync_call_inside_async_callback(void **state)
{
    (void)state;
    struct counts k;
    memset(&k, 0, sizeof k);
    qmp_mock *m;
    qmp_client *c = mock_connect_client(&m);

    expect_stop(m, 0);
    assert_status(qmp_mock_expect_str(m, "query-status", "{}", "{\"return\": {\"status\": \"paused\"}}"), QMP_OK);
    assert_status(qmp_client_execute_async(c, qmp_command_new("stop", NULL), NULL,
                                           sync_call_in_reply, &k, count_destroy), QMP_OK);
    assert_int_equal(drive_until(c, &k.calls, 1), QMP_OK);
    assert_status(k.rc_inside, QMP_OK);
    assert_non_null(k.result);
    assert_string_equal(k.result, "{\"status\":\"paused\"}");
    free(k.result);
    assert_int_equal(k.destroyed, 1);

    mock_assert_client_usable(c, m);
    mock_finish(c, m);
}

static void free_in_reply(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)result;
    struct counts *k = user_data;
    k->last_reason = status;
    qmp_client_free(c);
    k->calls++;
}

static void test_free_inside_callback(void **state)
{
    (void)state;
    struct counts k, cl;
    memset(&k, 0, sizeof k);
    memset(&cl, 0, sizeof cl);
    qmp_mock *m;
    qmp_client *c = mock_connect_client(&m);
    assert_status(qmp_client_on_close(c, count_close, &cl, count_destroy), QMP_OK);

    expect_stop(m, 0);
    assert_status(qmp_client_execute_async(c, qmp_command_new("stop", NULL), NULL,
                                           free_in_reply, &k, count_destroy), QMP_OK);
    /* drive_until stops as soon as the callback ran: c is gone then. */
    drive_until(c, &k.calls, 1);
    assert_int_equal(k.calls, 1);
    assert_int_equal(k.last_reason, QMP_OK);
    assert_int_equal(k.destroyed, 1);
    assert_int_equal(cl.calls, 1);
    assert_int_equal(cl.last_reason, QMP_OK);
    assert_int_equal(cl.destroyed, 1);
    mock_finish(NULL, m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_event_runs_destroy_once),
        cmocka_unit_test(test_free_runs_destroys_once),
        cmocka_unit_test(test_off_event_unknown_id),
        cmocka_unit_test(test_on_event_failure_runs_destroy),
        cmocka_unit_test(test_on_close_replaced),
        cmocka_unit_test(test_close_reports_ok),
        cmocka_unit_test(test_off_event_inside_handler),
        cmocka_unit_test(test_sync_call_inside_event_handler),
        cmocka_unit_test(test_sync_call_inside_async_callback),
        cmocka_unit_test(test_free_inside_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
