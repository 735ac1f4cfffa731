/*
 * test-async: qmp_client_execute_async(): out-of-order replies, driving by
 * qmp_client_process() or by a synchronous call, failures of the call
 * itself, timeouts, cancellation, and the in-flight limit.
 *
 * Replies in order come from the test server (mock-client.h); replies out of
 * order or late, hang-ups, silence and commands that may or may not reach
 * the server before a close come from the scripted peer.
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
#include "mock-client.h"
#include "peer.h"

struct call {
    int cb;                 /* times cb ran */
    int destroy;            /* times destroy ran */
    int destroy_first;      /* destroy ran before cb */
    int status;
    int error_code;         /* qmp_error_last()->code inside cb */
    char error_class[64];
    char *result;           /* compact text of result, or NULL */
    int *done;              /* incremented by cb, when set */
};

static void reply_cb(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    struct call *k = user_data;
    k->cb++;
    if (k->destroy)
        k->destroy_first = 1;
    k->status = status;
    free(k->result);
    k->result = result ? json_dumps(result, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    const qmp_error *e = qmp_error_last();
    k->error_code = e->code;
    snprintf(k->error_class, sizeof k->error_class, "%s", e->qmp_class ? e->qmp_class : "");
    if (k->done)
        (*k->done)++;
}

static void call_destroy(void *user_data)
{
    struct call *k = user_data;
    k->destroy++;
}

static void call_init(struct call *k, int *done)
{
    memset(k, 0, sizeof *k);
    k->done = done;
}

/* cb ran once with status (and result text, if not NULL), then destroy once. */
static void assert_call(struct call *k, int status, const char *result)
{
    assert_int_equal(k->cb, 1);
    assert_int_equal(k->destroy, 1);
    assert_int_equal(k->destroy_first, 0);
    assert_int_equal(k->status, status);
    assert_int_equal(k->error_code, status);
    if (result) {
        assert_non_null(k->result);
        assert_string_equal(k->result, result);
    } else if (status != QMP_OK && status != QMP_ECOMMAND) {
        assert_null(k->result);
    }
    free(k->result);
    k->result = NULL;
}

static int send_async(qmp_client *c, const char *name, const qmp_exec_options *opts, struct call *k)
{
    return qmp_client_execute_async(c, qmp_command_new(name, NULL), opts, reply_cb, k, call_destroy);
}

static void finish(qmp_client *c, peer *p)
{
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_out_of_order_with_process(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    int done = 0;
    struct call a, b;
    call_init(&a, &done);
    call_init(&b, &done);

    int ca = peer_expect(p, "query-a", PEER_NO_ARGS);
    int cb = peer_expect(p, "query-b", PEER_NO_ARGS);
    peer_return_to(p, cb, "\"b\"");
    peer_return_to(p, ca, "\"a\"");
    assert_status(send_async(c, "query-a", NULL, &a), QMP_OK);
    assert_status(send_async(c, "query-b", NULL, &b), QMP_OK);
    assert_int_equal(a.cb + b.cb, 0);   /* never from inside execute_async */
    assert_int_equal(drive_until(c, &done, 2), QMP_OK);

    assert_call(&a, QMP_OK, "\"a\"");
    assert_call(&b, QMP_OK, "\"b\"");
    assert_client_usable(c, p);
    finish(c, p);
}

static void test_out_of_order_with_sync_call(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    struct call a, b;
    call_init(&a, NULL);
    call_init(&b, NULL);

    int ca = peer_expect(p, "query-a", PEER_NO_ARGS);
    int cb = peer_expect(p, "query-b", PEER_NO_ARGS);
    int cc = peer_expect(p, "query-c", PEER_NO_ARGS);
    peer_return_to(p, cb, "{\"which\": \"b\"}");
    peer_return_to(p, ca, "{\"which\": \"a\"}");
    peer_return_to(p, cc, "{\"which\": \"c\"}");
    assert_status(send_async(c, "query-a", NULL, &a), QMP_OK);
    assert_status(send_async(c, "query-b", NULL, &b), QMP_OK);
    json_t *r = NULL;
    assert_status(qmp_client_execute(c, qmp_command_new("query-c", NULL), &r), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(r, "which")), "c");
    json_decref(r);

    /* Both replies came before c's, so both callbacks ran before execute returned. */
    assert_call(&a, QMP_OK, "{\"which\":\"a\"}");
    assert_call(&b, QMP_OK, "{\"which\":\"b\"}");
    finish(c, p);
}

static void test_async_command_error(void **state)
{
    (void)state;
    qmp_mock *m;
    qmp_client *c = mock_connect_client(&m);
    int done = 0;
    struct call a;
    call_init(&a, &done);

    assert_status(qmp_mock_expect_str(m, "query-a", "{}",
                                      "{\"error\": {\"class\": \"CommandNotFound\", "
                                      "\"desc\": \"The command query-a has not been found\"}}"),
                  QMP_OK);
    assert_status(send_async(c, "query-a", NULL, &a), QMP_OK);
    assert_int_equal(drive_until(c, &done, 1), QMP_OK);
    assert_call(&a, QMP_ECOMMAND,
                "{\"class\":\"CommandNotFound\",\"desc\":\"The command query-a has not been found\"}");
    assert_string_equal(a.error_class, "CommandNotFound");

    mock_assert_client_usable(c, m);
    mock_finish(c, m);
}

static void test_async_arguments_and_array_result(void **state)
{
    (void)state;
    qmp_mock *m;
    qmp_client *c = mock_connect_client(&m);
    int done = 0;
    struct call a;
    call_init(&a, &done);

    /* Arguments pass through untouched. */
    assert_status(qmp_mock_expect_str(m, "qom-list", "{\"path\": \"/machine\"}",
                                      "{\"return\": [{\"name\": \"type\", \"type\": \"string\"}]}"),
                  QMP_OK);
    assert_status(qmp_client_execute_async(c, qmp_command_new("qom-list", "s:path", "/machine", NULL),
                                           NULL, reply_cb, &a, call_destroy), QMP_OK);
    assert_int_equal(drive_until(c, &done, 1), QMP_OK);
    assert_call(&a, QMP_OK, "[{\"name\":\"type\",\"type\":\"string\"}]");
    mock_finish(c, m);
}

static void test_async_fails_not_connected(void **state)
{
    (void)state;
    qmp_client *c = qmp_client_new();
    struct call a;
    call_init(&a, NULL);
    int rc = send_async(c, "query-a", NULL, &a);
    assert_true(rc < 0);
    assert_int_equal(rc, QMP_ECLOSED);
    assert_int_equal(a.cb, 0);
    assert_int_equal(a.destroy, 1);   /* before the call returned */
    qmp_client_free(c);
    assert_int_equal(a.cb, 0);
    assert_int_equal(a.destroy, 1);
}

static void test_async_fails_null_command(void **state)
{
    (void)state;
    qmp_mock *m;
    qmp_client *c = mock_connect_client(&m);
    struct call a;
    call_init(&a, NULL);
    assert_null(qmp_command_new("x", "j:n", -1, NULL));
    int rc = qmp_client_execute_async(c, NULL, NULL, reply_cb, &a, call_destroy);
    assert_int_equal(rc, QMP_EINVAL);
    assert_non_null(strstr(qmp_error_last()->message, "j:n"));
    assert_int_equal(a.cb, 0);
    assert_int_equal(a.destroy, 1);

    /* So does a command with its own id. */
    struct call b;
    call_init(&b, NULL);
    json_t *cmd = qmp_command_new("query-a", NULL);
    json_object_set_new(cmd, "id", json_integer(1));
    assert_status(qmp_client_execute_async(c, cmd, NULL, reply_cb, &b, call_destroy), QMP_EINVAL);
    assert_int_equal(b.cb, 0);
    assert_int_equal(b.destroy, 1);

    /* Nothing was sent: the server saw only the query-status below. */
    mock_assert_client_usable(c, m);
    mock_finish(c, m);
    assert_int_equal(a.cb + b.cb, 0);
    assert_int_equal(a.destroy + b.destroy, 2);
}

static void test_free_with_pending(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    struct call a, b;
    call_init(&a, NULL);
    call_init(&b, NULL);

    assert_status(send_async(c, "query-a", NULL, &a), QMP_OK);
    assert_status(send_async(c, "query-b", NULL, &b), QMP_OK);
    qmp_client_free(c);
    assert_call(&a, QMP_ECANCELLED, NULL);
    assert_call(&b, QMP_ECANCELLED, NULL);
    assert_int_equal(peer_finish(p), 0);
}

static void test_close_with_pending(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    int done = 0;
    struct call a;
    call_init(&a, &done);

    /* Whether it reached the peer before the close does not matter. */
    assert_status(send_async(c, "query-a", NULL, &a), QMP_OK);
    assert_status(qmp_client_close(c), QMP_OK);
    assert_call(&a, QMP_ECANCELLED, NULL);
    assert_client_closed(c);
    finish(c, p);
}

static void test_async_timeout(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    int done = 0;
    struct call a;
    call_init(&a, &done);

    assert_int_equal(qmp_client_get_timeout_ms(c), -1);
    int ca = peer_expect(p, "query-a", PEER_NO_ARGS);
    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    opts.timeout_ms = 100;
    assert_status(send_async(c, "query-a", &opts, &a), QMP_OK);
    int t = qmp_client_get_timeout_ms(c);
    assert_true(t >= 0 && t <= 100);
    assert_int_equal(drive_until(c, &done, 1), QMP_OK);
    assert_call(&a, QMP_ETIMEDOUT, NULL);
    assert_int_equal(qmp_client_get_timeout_ms(c), -1);

    /* The late reply is dropped; the next call gets its own. */
    peer_return_to(p, ca, "\"late\"");
    assert_client_usable(c, p);
    finish(c, p);
}

static void test_async_no_timeout_by_default(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_status(qmp_client_set_timeout(c, 50), QMP_OK);   /* sync calls only */
    int done = 0;
    struct call a;
    call_init(&a, &done);

    int ca = peer_expect(p, "query-a", PEER_NO_ARGS);
    peer_sleep(p, 200);
    peer_return_to(p, ca, "\"a\"");
    assert_status(send_async(c, "query-a", NULL, &a), QMP_OK);
    assert_int_equal(drive_until(c, &done, 1), QMP_OK);
    assert_call(&a, QMP_OK, "\"a\"");
    assert_status(qmp_client_set_timeout(c, 10000), QMP_OK);
    finish(c, p);
}

static void test_peer_hangs_up_with_pending(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    int done = 0;
    struct call a, b;
    call_init(&a, &done);
    call_init(&b, &done);

    peer_expect(p, "query-a", PEER_NO_ARGS);
    peer_expect(p, "query-b", PEER_NO_ARGS);
    peer_close(p);
    assert_status(send_async(c, "query-a", NULL, &a), QMP_OK);
    assert_status(send_async(c, "query-b", NULL, &b), QMP_OK);
    assert_int_equal(drive_until(c, &done, 2), QMP_ECLOSED);
    assert_call(&a, QMP_ECLOSED, NULL);
    assert_call(&b, QMP_ECLOSED, NULL);
    assert_client_closed(c);
    assert_status(qmp_client_process(c, 0), QMP_ECLOSED);
    finish(c, p);
}

static void test_in_flight_limit(void **state)
{
    (void)state;
    enum { N = 20, LIMIT = 7 };
    peer *p;
    qmp_client *c = connect_oob_client(&p);
    int done = 0;
    struct call k[N];
    int cmd[N];
    char name[N][32];

    for (int i = 0; i < N; i++)
        snprintf(name[i], sizeof name[i], "cmd-%d", i);
    /* With "oob" the client keeps at most 7 in-band commands unanswered (QEMU stops
       reading when its queue of 8 fills): the 8th is sent only after a reply. */
    for (int i = 0; i < LIMIT; i++)
        cmd[i] = peer_expect(p, name[i], PEER_NO_ARGS);
    peer_expect_quiet(p, 200);
    for (int i = 0; i < N; i++) {
        char ret[40];
        snprintf(ret, sizeof ret, "%d", i);
        peer_return_to(p, cmd[i], ret);
        if (i + LIMIT < N)
            cmd[i + LIMIT] = peer_expect(p, name[i + LIMIT], PEER_NO_ARGS);
    }

    for (int i = 0; i < N; i++) {
        call_init(&k[i], &done);
        assert_status(send_async(c, name[i], NULL, &k[i]), QMP_OK);
    }
    assert_int_equal(drive_until(c, &done, N), QMP_OK);
    for (int i = 0; i < N; i++) {
        char ret[40];
        snprintf(ret, sizeof ret, "%d", i);
        assert_call(&k[i], QMP_OK, ret);
    }
    assert_client_usable(c, p);
    finish(c, p);
}

static void test_loop_integration_idle(void **state)
{
    (void)state;
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_get_fd(c), -1);
    assert_int_equal(qmp_client_get_timeout_ms(c), -1);
    assert_status(qmp_client_process(c, 0), QMP_ECLOSED);
    qmp_client_free(c);

    qmp_mock *m;
    c = mock_connect_client(&m);
    int fd = qmp_client_get_fd(c);
    assert_true(fd >= 0);
    assert_true(qmp_client_get_events(c) & QMP_POLL_IN);
    assert_status(qmp_client_process(c, 0), QMP_OK);
    assert_int_equal(qmp_client_get_fd(c), fd);
    mock_assert_client_usable(c, m);
    assert_int_equal(qmp_client_get_fd(c), fd);
    mock_finish(c, m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_of_order_with_process),
        cmocka_unit_test(test_out_of_order_with_sync_call),
        cmocka_unit_test(test_async_command_error),
        cmocka_unit_test(test_async_arguments_and_array_result),
        cmocka_unit_test(test_async_fails_not_connected),
        cmocka_unit_test(test_async_fails_null_command),
        cmocka_unit_test(test_free_with_pending),
        cmocka_unit_test(test_close_with_pending),
        cmocka_unit_test(test_async_timeout),
        cmocka_unit_test(test_async_no_timeout_by_default),
        cmocka_unit_test(test_peer_hangs_up_with_pending),
        cmocka_unit_test(test_in_flight_limit),
        cmocka_unit_test(test_loop_integration_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
