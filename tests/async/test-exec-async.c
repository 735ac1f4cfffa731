/*
 * test-exec-async: qmp_client_execute_async()'s promise: cb runs exactly
 * once and destroy exactly once after it, whatever the outcome (a result, a
 * QMP error, a timeout, the peer closing, close, free); when the call itself
 * fails, cb never runs and destroy runs once before the call returns.
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

#include "helpers.h"
#include "peer.h"

static json_t *query_status(void)
{
    return qmp_command_new("query-status", NULL);
}

static void test_result(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    atomic_int done = 0;
    struct tally t;
    tally_init(&t, &done);

    peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return(p, "{\"status\": \"running\", \"running\": true}");
    assert_status(tally_send(c, query_status(), NULL, &t), QMP_OK);
    assert_int_equal(pump_until(c, &done, 1, t_io_timeout_ms(), NULL), QMP_OK);
    assert_tally(&t, QMP_OK, "{\"running\":true,\"status\":\"running\"}");

    qmp_client_free(c);
    assert_tally(&t, QMP_OK, NULL); /* free runs nothing twice */
    tally_clear(&t);
    assert_int_equal(peer_finish(p), 0);
}

static void test_qmp_error(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    atomic_int done = 0;
    struct tally t;
    tally_init(&t, &done);

    peer_expect(p, "no-such", PEER_NO_ARGS);
    peer_error(p, "CommandNotFound", "The command no-such has not been found");
    assert_status(tally_send(c, qmp_command_new("no-such", NULL), NULL, &t), QMP_OK);
    assert_int_equal(pump_until(c, &done, 1, t_io_timeout_ms(), NULL), QMP_OK);
    /* The result is the error object. */
    assert_tally(&t, QMP_ECOMMAND, "{\"class\":\"CommandNotFound\",\"desc\":\"The command no-such has not been found\"}");

    qmp_client_free(c);
    tally_clear(&t);
    assert_int_equal(peer_finish(p), 0);
}

static void test_timeout_late_reply_dropped(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    atomic_int done = 0;
    struct tally t;
    tally_init(&t, &done);

    int cmd = peer_expect(p, "slow", PEER_NO_ARGS);
    peer_sleep(p, 400);
    peer_return_to(p, cmd, "{\"late\": true}");

    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = 100;
    long long t0 = t_now_ms();
    assert_status(tally_send(c, qmp_command_new("slow", NULL), &o, &t), QMP_OK);
    int left = qmp_client_get_timeout_ms(c);
    assert_in_range(left, 1, 100);
    assert_int_equal(pump_until(c, &done, 1, t_io_timeout_ms(), NULL), QMP_OK);
    long long took = t_now_ms() - t0;
    assert_tally(&t, QMP_ETIMEDOUT, NULL);
    assert_true(took >= 95);
    if (!t_valgrind())
        assert_true(took < 350);   /* before the late reply came */
    assert_int_equal(qmp_client_get_timeout_ms(c), -1);

    /* The late reply comes before this one's and is dropped; cb does not run again. */
    assert_client_usable(c, p);
    assert_tally(&t, QMP_ETIMEDOUT, NULL);

    qmp_client_free(c);
    assert_tally(&t, QMP_ETIMEDOUT, NULL);
    tally_clear(&t);
    assert_int_equal(peer_finish(p), 0);
}

static void test_peer_closes(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    atomic_int done = 0;
    struct tally t[3];
    for (int i = 0; i < 3; i++)
        tally_init(&t[i], &done);

    for (int i = 0; i < 3; i++)
        peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_close(p);
    for (int i = 0; i < 3; i++)
        assert_status(tally_send(c, query_status(), NULL, &t[i]), QMP_OK);
    assert_int_equal(pump_until(c, &done, 3, t_io_timeout_ms(), NULL), QMP_OK);
    for (int i = 0; i < 3; i++) {
        assert_tally(&t[i], QMP_ECLOSED, NULL);
        tally_clear(&t[i]);
    }
    assert_int_equal(qmp_client_is_connected(c), 0);

    qmp_client_free(c);
    for (int i = 0; i < 3; i++)
        assert_tally(&t[i], QMP_ECLOSED, NULL);
    assert_int_equal(peer_finish(p), 0);
}

/*
 * Ten in flight with "oob" negotiated: seven on the wire and three held back
 * by the limit; all end the same way.
 */
#define IN_FLIGHT 10

static void send_in_flight(qmp_client *c, peer *p, struct tally *t, atomic_int *done)
{
    int last = -1;
    for (int i = 0; i < 7; i++)
        last = peer_expect(p, "query-status", PEER_NO_ARGS);
    for (int i = 0; i < IN_FLIGHT; i++) {
        tally_init(&t[i], done);
        assert_status(tally_send(c, query_status(), NULL, &t[i]), QMP_OK);
    }
    free(peer_received(p, last));
    peer_expect_close(p);
    for (int i = 0; i < IN_FLIGHT; i++)
        assert_int_equal(atomic_load(&t[i].cb), 0);
}

static void test_close_cancels(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_oob_client(&p);
    atomic_int done = 0;
    struct tally t[IN_FLIGHT];
    send_in_flight(c, p, t, &done);

    assert_status(qmp_client_close(c), QMP_OK);
    /* Nobody else drives: close ran them before it returned. */
    assert_int_equal(atomic_load(&done), IN_FLIGHT);
    for (int i = 0; i < IN_FLIGHT; i++)
        assert_tally(&t[i], QMP_ECANCELLED, NULL);
    /* Completion in the order the commands were sent. */
    for (int i = 1; i < IN_FLIGHT; i++)
        assert_true(atomic_load(&t[i].cb_tick) > atomic_load(&t[i - 1].cb_tick));

    qmp_client_free(c);
    for (int i = 0; i < IN_FLIGHT; i++) {
        assert_tally(&t[i], QMP_ECANCELLED, NULL);
        tally_clear(&t[i]);
    }
    assert_int_equal(peer_finish(p), 0);
}

static void test_free_cancels(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_oob_client(&p);
    atomic_int done = 0;
    struct tally t[IN_FLIGHT];
    send_in_flight(c, p, t, &done);

    qmp_client_free(c);
    assert_int_equal(atomic_load(&done), IN_FLIGHT);
    for (int i = 0; i < IN_FLIGHT; i++) {
        assert_tally(&t[i], QMP_ECANCELLED, NULL);
        tally_clear(&t[i]);
    }
    assert_int_equal(peer_finish(p), 0);
}

/* --- the call itself fails ---------------------------------------------------------- */

static void test_refused_not_connected(void **state)
{
    (void)state;
    qmp_client *c = qmp_client_new();
    struct tally t;
    tally_init(&t, NULL);
    assert_status(tally_send(c, query_status(), NULL, &t), QMP_ECLOSED);
    assert_tally_refused(&t);
    assert_int_equal(qmp_client_process(c, 0), QMP_ECLOSED);
    qmp_client_free(c);
    assert_tally_refused(&t);
}

static void test_refused_after_close(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    peer_expect_close(p);
    assert_status(qmp_client_close(c), QMP_OK);
    struct tally t;
    tally_init(&t, NULL);
    assert_status(tally_send(c, query_status(), NULL, &t), QMP_ECLOSED);
    assert_tally_refused(&t);
    qmp_client_free(c);
    assert_tally_refused(&t);
    assert_int_equal(peer_finish(p), 0);
}

static void test_refused_null_command(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    struct tally t;
    tally_init(&t, NULL);
    assert_int_equal(tally_send(c, NULL, NULL, &t), QMP_EINVAL);
    assert_tally_refused(&t);
    /* A builder's failure keeps its message. */
    tally_init(&t, NULL);
    json_t *bad = qmp_command_new("x", "s:name", (const char *)NULL, NULL);
    assert_null(bad);
    assert_status(tally_send(c, bad, NULL, &t), QMP_EINVAL);
    assert_non_null(strstr(qmp_error_last()->message, "name"));
    assert_tally_refused(&t);
    assert_client_usable(c, p);
    qmp_client_free(c);
    assert_tally_refused(&t);
    assert_int_equal(peer_finish(p), 0);
}

static void test_refused_null_cb(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    struct tally t;
    tally_init(&t, NULL);
    assert_status(qmp_client_execute_async(c, query_status(), NULL, NULL, &t, tally_destroy), QMP_EINVAL);
    assert_tally_refused(&t);
    assert_client_usable(c, p);   /* nothing was sent */
    qmp_client_free(c);
    assert_tally_refused(&t);
    assert_int_equal(peer_finish(p), 0);
}

static void test_refused_bad_options(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    struct tally t;

    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.version = QMP_EXEC_OPTIONS_VERSION + 41;
    tally_init(&t, NULL);
    assert_status(tally_send(c, query_status(), &o, &t), QMP_EINVAL);
    assert_tally_refused(&t);

    o.version = 0;
    tally_init(&t, NULL);
    assert_status(tally_send(c, query_status(), &o, &t), QMP_EINVAL);
    assert_tally_refused(&t);

    qmp_exec_options neg = QMP_EXEC_OPTIONS_INIT;
    neg.timeout_ms = -2;
    tally_init(&t, NULL);
    assert_status(tally_send(c, query_status(), &neg, &t), QMP_EINVAL);
    assert_tally_refused(&t);

    /* oob without the negotiated capability */
    qmp_exec_options oob = QMP_EXEC_OPTIONS_INIT;
    oob.oob = 1;
    tally_init(&t, NULL);
    assert_status(tally_send(c, query_status(), &oob, &t), QMP_EINVAL);
    assert_tally_refused(&t);

    assert_client_usable(c, p);
    qmp_client_free(c);
    assert_tally_refused(&t);
    assert_int_equal(peer_finish(p), 0);
}

static void test_refused_null_client(void **state)
{
    (void)state;
    struct tally t;
    tally_init(&t, NULL);
    assert_status(tally_send(NULL, query_status(), NULL, &t), QMP_EINVAL);
    assert_tally_refused(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result),
        cmocka_unit_test(test_qmp_error),
        cmocka_unit_test(test_timeout_late_reply_dropped),
        cmocka_unit_test(test_peer_closes),
        cmocka_unit_test(test_close_cancels),
        cmocka_unit_test(test_free_cancels),
        cmocka_unit_test(test_refused_not_connected),
        cmocka_unit_test(test_refused_after_close),
        cmocka_unit_test(test_refused_null_command),
        cmocka_unit_test(test_refused_null_cb),
        cmocka_unit_test(test_refused_bad_options),
        cmocka_unit_test(test_refused_null_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
