/*
 * test-ids: the ids the client puts on its commands.  They start from 1
 * again whenever nothing is pending (QEMU pays per byte of command), never
 * the id answered last, and never the id of a command that timed out or was
 * cancelled on the wire until its late reply has come: that reply is
 * dropped, not given to a newer call.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <qmp/qmp.h>
#include "peer.h"

static void finish(qmp_client *c, peer *p)
{
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

/* The id of command cmd as the peer read it; the client writes it first. */
static long long id_of(peer *p, int cmd)
{
    char *text = peer_received(p, cmd);
    assert_non_null(text);
    assert_true(strncmp(text, "{\"id\":", 6) == 0);
    json_t *v = qmp_json_parse(text, strlen(text));
    assert_non_null(v);
    json_t *id = json_object_get(v, "id");
    assert_true(json_is_integer(id));
    long long n = json_integer_value(id);
    json_decref(v);
    free(text);
    return n;
}

static void call_status(qmp_client *c, const char *want)
{
    json_t *r = NULL;
    assert_status(qmp_client_execute(c, qmp_command_new("query-status", NULL), &r), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(r, "status")), want);
    json_decref(r);
}

/* One call at a time: qmp_capabilities is 1, then 2, 1, 2... (one digit). */
static void test_sequential_calls_take_small_ids(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_int_equal(id_of(p, 0), 1);  /* qmp_capabilities */
    long long prev = 1;
    for (int i = 0; i < 6; i++) {
        int cmd = peer_expect(p, "query-status", PEER_NO_ARGS);
        peer_return(p, "{\"status\": \"running\", \"running\": true}");
        call_status(c, "running");
        long long id = id_of(p, cmd);
        assert_true(id == 1 || id == 2);
        assert_true(id != prev);
        prev = id;
    }
    finish(c, p);
}

/*
 * A synchronous call times out with its command on the wire: the next call
 * gets another id, and the late reply, which comes while that call waits,
 * is dropped.  Once it came, ids are small again.
 */
static void test_timed_out_call_keeps_its_id_until_late_reply(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    int slow = peer_expect(p, "query-status", PEER_NO_ARGS);
    int next = peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return_to(p, slow, "{\"status\": \"late\", \"running\": false}");
    peer_sleep(p, 50);
    peer_return_to(p, next, "{\"status\": \"running\", \"running\": true}");

    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = 100;
    assert_status(qmp_client_execute_full(c, qmp_command_new("query-status", NULL), &o, NULL), QMP_ETIMEDOUT);
    call_status(c, "running");
    long long slow_id = id_of(p, slow);
    long long next_id = id_of(p, next);
    assert_true(slow_id <= 2);
    assert_true(next_id != slow_id);

    /* The late reply came: the next one takes a small id again, perhaps the slow one's. */
    int later = peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return(p, "{\"status\": \"paused\", \"running\": false}");
    call_status(c, "paused");
    assert_true(id_of(p, later) <= 2);
    finish(c, p);
}

/* The same for an async call that timed out (its callback ran once, with QMP_ETIMEDOUT). */
struct outcome {
    int calls;
    int status;
    int destroyed;
};

static void on_reply(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    (void)result;
    struct outcome *o = user_data;
    o->calls++;
    o->status = status;
}

static void on_destroy(void *user_data) { ((struct outcome *)user_data)->destroyed++; }

static void test_timed_out_async_call_keeps_its_id(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    int slow = peer_expect(p, "query-status", PEER_NO_ARGS);
    int next = peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return_to(p, slow, "{\"status\": \"late\", \"running\": false}");
    peer_return_to(p, next, "{\"status\": \"running\", \"running\": true}");

    struct outcome a = {0, 0, 0};
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = 50;
    assert_status(qmp_client_execute_async(c, qmp_command_new("query-status", NULL), &o, on_reply, &a, on_destroy),
                  QMP_OK);
    for (int i = 0; i < 200 && a.calls == 0; i++) {
        usleep(5 * 1000);
        qmp_client_process(c, 0);
    }
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.status, QMP_ETIMEDOUT);
    call_status(c, "running");
    assert_true(id_of(p, next) != id_of(p, slow));
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.destroyed, 1);
    finish(c, p);
}

/* A synchronous call cancelled from another thread once its command is on the wire. */
struct canceller {
    peer *p;
    int cmd;
    qmp_call *call;
};

static void *cancel_when_received(void *arg)
{
    struct canceller *k = arg;
    free(peer_received(k->p, k->cmd));
    qmp_call_cancel(k->call);
    return NULL;
}

static void test_cancelled_call_keeps_its_id(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    int slow = peer_expect(p, "query-status", PEER_NO_ARGS);
    int next = peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return_to(p, slow, "{\"status\": \"late\", \"running\": false}");
    peer_return_to(p, next, "{\"status\": \"running\", \"running\": true}");

    qmp_call *call = qmp_call_new(c);
    assert_non_null(call);
    struct canceller k = {p, slow, call};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cancel_when_received, &k), 0);
    assert_status(qmp_call_execute_str(call, "{\"execute\": \"query-status\"}", NULL), QMP_ECANCELLED);
    pthread_join(t, NULL);
    qmp_call_free(call);

    call_status(c, "running");
    assert_true(id_of(p, next) != id_of(p, slow));
    finish(c, p);
}

/* A reply sent twice: the copy is dropped, the next call gets its own reply. */
static void test_reply_copy_not_given_to_next_call(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    int first = peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return_to(p, first, "{\"status\": \"running\", \"running\": true}");
    int second = peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return_to(p, first, "{\"status\": \"copy\", \"running\": false}");
    peer_return_to(p, second, "{\"status\": \"paused\", \"running\": false}");
    call_status(c, "running");
    call_status(c, "paused");
    assert_true(id_of(p, second) != id_of(p, first));
    finish(c, p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequential_calls_take_small_ids),
        cmocka_unit_test(test_timed_out_call_keeps_its_id_until_late_reply),
        cmocka_unit_test(test_timed_out_async_call_keeps_its_id),
        cmocka_unit_test(test_cancelled_call_keeps_its_id),
        cmocka_unit_test(test_reply_copy_not_given_to_next_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
