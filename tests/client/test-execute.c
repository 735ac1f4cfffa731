/*
 * test-execute: synchronous execution: results, command errors, id routing,
 * timeouts, malformed replies that leave the connection open, and misuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <qmp/qmp.h>
#include "peer.h"

static void finish(qmp_client *c, peer *p)
{
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_return_json(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return(p, "{\"status\": \"paused\", \"singlestep\": false, \"running\": false}");
    json_t *r = NULL;
    assert_status(qmp_client_execute(c, qmp_command_new("query-status", NULL), &r), QMP_OK);
    assert_true(json_is_object(r));
    assert_string_equal(json_string_value(json_object_get(r, "status")), "paused");
    assert_true(json_is_false(json_object_get(r, "running")));
    json_decref(r);

    /* result may be NULL. */
    peer_expect(p, "stop", PEER_NO_ARGS);
    peer_return(p, "{}");
    assert_status(qmp_client_execute(c, qmp_command_new("stop", NULL), NULL), QMP_OK);

    /* A scalar "return" value. */
    peer_expect(p, "qom-get", "{\"path\": \"/machine\", \"property\": \"type\"}");
    peer_return(p, "\"pc-i440fx-7.2-machine\"");
    r = NULL;
    assert_status(qmp_client_execute(c, qmp_command_new("qom-get", "s:path", "/machine",
                                                        "s:property", "type", NULL), &r), QMP_OK);
    assert_string_equal(json_string_value(r), "pc-i440fx-7.2-machine");
    json_decref(r);

    /* execute_full with default options. */
    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    peer_expect(p, "cont", PEER_NO_ARGS);
    peer_return(p, "{}");
    r = NULL;
    assert_status(qmp_client_execute_full(c, qmp_command_new("cont", NULL), &opts, &r), QMP_OK);
    assert_true(json_is_object(r));
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);

    finish(c, p);
}

static void test_return_str_is_exact_text(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    /* "return" after "id", odd spacing, escapes, a float: the text comes back as sent. */
    const char *ret = "{\"b\": [1, 2.50, \"x\\u00e9\\n\"],  \"a\" : null, \"big\": 18446744073709551615}";
    peer_expect(p, "qom-get", "{\"path\": \"/machine\", \"property\": \"type\"}");
    char *tmpl = malloc(strlen(ret) + 64);
    sprintf(tmpl, "{\"id\": %s, \"return\": %s}\r\n", PEER_ID, ret);
    peer_reply_raw(p, PEER_LAST, tmpl);
    free(tmpl);

    char *out = NULL;
    assert_status(qmp_client_execute_str(c,
        "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine\", \"property\": \"type\"}}",
        &out), QMP_OK);
    assert_non_null(out);
    assert_string_equal(out, ret);
    qmp_free(out);

    /* A scalar. */
    peer_expect(p, "query-name", PEER_NO_ARGS);
    peer_return(p, "\"vm1\"");
    out = NULL;
    assert_status(qmp_client_execute_str(c, "{\"execute\": \"query-name\"}", &out), QMP_OK);
    assert_string_equal(out, "\"vm1\"");
    qmp_free(out);

    /* result_json may be NULL; execute_str_full with options. */
    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    peer_expect(p, "stop", PEER_NO_ARGS);
    peer_return(p, "{}");
    assert_status(qmp_client_execute_str_full(c, "{\"execute\": \"stop\"}", &opts, NULL), QMP_OK);

    finish(c, p);
}

static void test_arguments_reach_the_wire(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    int cmd = peer_expect(p, "block-set-io-throttle", PEER_ANY_ARGS);
    peer_return(p, "{}");
    assert_status(qmp_client_execute(c, qmp_command_new("block-set-io-throttle",
                                                        "s:id", "disk0",
                                                        "U:bps", 18446744073709551615ULL,
                                                        "b:flag", 1,
                                                        "n:nothing",
                                                        NULL), NULL), QMP_OK);
    char *text = peer_received(p, cmd);
    assert_non_null(text);
    /* jansson cannot hold the uint64: look at the text, which the client encodes compactly. */
    assert_non_null(strstr(text, "\"bps\":18446744073709551615"));
    assert_non_null(strstr(text, "\"id\":\"disk0\""));
    assert_non_null(strstr(text, "\"flag\":true"));
    assert_non_null(strstr(text, "\"nothing\":null"));
    free(text);
    finish(c, p);
}

static void test_command_error(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    peer_expect(p, "no-such-command", PEER_NO_ARGS);
    peer_error(p, "CommandNotFound", "The command no-such-command has not been found");
    json_t *r = NULL;
    assert_status(qmp_client_execute(c, qmp_command_new("no-such-command", NULL), &r), QMP_ECOMMAND);
    const qmp_error *e = qmp_error_last();
    assert_non_null(e->qmp_class);
    assert_non_null(e->qmp_desc);
    assert_string_equal(e->qmp_class, "CommandNotFound");
    assert_string_equal(e->qmp_desc, "The command no-such-command has not been found");
    assert_non_null(e->message);
    assert_true(json_is_object(r));
    assert_string_equal(json_string_value(json_object_get(r, "class")), "CommandNotFound");
    assert_string_equal(json_string_value(json_object_get(r, "desc")),
                        "The command no-such-command has not been found");
    json_decref(r);

    /* result NULL is fine too. */
    peer_expect(p, "stop", PEER_NO_ARGS);
    peer_error(p, "GenericError", "nope");
    assert_status(qmp_client_execute(c, qmp_command_new("stop", NULL), NULL), QMP_ECOMMAND);
    assert_string_equal(qmp_error_last()->qmp_class, "GenericError");

    assert_client_usable(c, p);
    finish(c, p);
}

static void test_command_error_str(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    peer_expect(p, "device_del", "{\"id\": \"nic0\"}");
    peer_error(p, "DeviceNotFound", "Device 'nic0' not found");
    char *out = NULL;
    assert_status(qmp_client_execute_str(c,
        "{\"execute\": \"device_del\", \"arguments\": {\"id\": \"nic0\"}}", &out), QMP_ECOMMAND);
    assert_string_equal(qmp_error_last()->qmp_class, "DeviceNotFound");
    assert_string_equal(qmp_error_last()->qmp_desc, "Device 'nic0' not found");
    assert_non_null(out);
    json_t *err = json_loads(out, 0, NULL);
    assert_non_null(err);
    assert_string_equal(json_string_value(json_object_get(err, "class")), "DeviceNotFound");
    assert_string_equal(json_string_value(json_object_get(err, "desc")), "Device 'nic0' not found");
    json_decref(err);
    qmp_free(out);

    assert_client_usable(c, p);
    finish(c, p);
}

static void test_several_messages_in_one_write(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    int a = peer_expect(p, "stop", PEER_NO_ARGS);
    peer_reply_raw(p, a,
        "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"STOP\"}\r\n"
        "{\"timestamp\": {\"seconds\": 3, \"microseconds\": 4}, \"event\": \"X\"}"
        "{\"return\": {}, \"id\": " PEER_ID "}\r\n");
    unsigned long long seq = qmp_client_event_seq(c);
    assert_status(qmp_client_execute(c, qmp_command_new("stop", NULL), NULL), QMP_OK);
    assert_true(qmp_client_event_seq(c) == seq + 2);

    /* A reply and the next command's events in one write, then its reply. */
    int b = peer_expect(p, "cont", PEER_NO_ARGS);
    peer_reply_raw(p, b, "{\"return\": {}, \"id\": " PEER_ID "}\r\n"
                         "{\"timestamp\": {\"seconds\": 5, \"microseconds\": 6}, \"event\": \"RESUME\"}\r\n");
    assert_status(qmp_client_execute(c, qmp_command_new("cont", NULL), NULL), QMP_OK);
    json_t *ev = NULL;
    assert_status(qmp_client_wait_event(c, "RESUME", NULL, seq, 5000, &ev), QMP_OK);
    json_decref(ev);

    assert_client_usable(c, p);
    finish(c, p);
}

static void test_reply_split_across_writes(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    int cmd = peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_reply_raw(p, cmd, "{\"return\": {\"status\": \"runn");
    peer_sleep(p, 20);
    peer_reply_raw(p, cmd, "ing\", \"running\": true}, \"i");
    peer_sleep(p, 20);
    peer_reply_raw(p, cmd, "d\": " PEER_ID "}");
    peer_sleep(p, 20);
    peer_send(p, "\r\n");
    json_t *r = NULL;
    assert_status(qmp_client_execute(c, qmp_command_new("query-status", NULL), &r), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "running");
    json_decref(r);

    assert_client_usable(c, p);
    finish(c, p);
}

static void test_unknown_id_is_dropped(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    peer_expect(p, "query-name", PEER_NO_ARGS);
    peer_send(p, "{\"return\": \"wrong\", \"id\": \"libqmp-test-no-such-id\"}\r\n");
    peer_send(p, "{\"return\": \"wrong\", \"id\": 987654321}\r\n");
    peer_return(p, "\"right\"");
    json_t *r = NULL;
    assert_status(qmp_client_execute(c, qmp_command_new("query-name", NULL), &r), QMP_OK);
    assert_string_equal(json_string_value(r), "right");
    json_decref(r);

    assert_client_usable(c, p);
    finish(c, p);
}

static void test_timeout_then_late_reply_dropped(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    int slow = peer_expect(p, "query-name", PEER_NO_ARGS);
    peer_sleep(p, 300);
    peer_return_to(p, slow, "\"late\"");
    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    opts.timeout_ms = 100;
    json_t *r = (json_t *)(uintptr_t)1;
    assert_status(qmp_client_execute_full(c, qmp_command_new("query-name", NULL), &opts, &r),
                  QMP_ETIMEDOUT);
    assert_null(r);
    assert_int_equal(qmp_client_is_connected(c), 1);

    /* The next call is sent at once; the late reply comes first and must not reach it. */
    int next = peer_expect(p, "query-name", PEER_NO_ARGS);
    peer_return_to(p, next, "\"on time\"");
    r = NULL;
    assert_status(qmp_client_execute(c, qmp_command_new("query-name", NULL), &r), QMP_OK);
    assert_string_equal(json_string_value(r), "on time");
    json_decref(r);

    assert_client_usable(c, p);
    finish(c, p);
}

static void test_client_default_timeout(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_status(qmp_client_set_timeout(c, 100), QMP_OK);

    int slow = peer_expect(p, "query-name", PEER_NO_ARGS);
    peer_sleep(p, 300);
    peer_return_to(p, slow, "\"late\"");
    assert_status(qmp_client_execute_str(c, "{\"execute\": \"query-name\"}", NULL), QMP_ETIMEDOUT);

    assert_status(qmp_client_set_timeout(c, 10000), QMP_OK);
    assert_client_usable(c, p);
    finish(c, p);
}

static void test_error_without_id(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    /* What QEMU sends when it cannot parse a command: no id. */
    peer_expect(p, "query-name", PEER_NO_ARGS);
    peer_send(p, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, invalid keyword 'x'\"}}\r\n");
    json_t *r = (json_t *)(uintptr_t)1;
    assert_status(qmp_client_execute(c, qmp_command_new("query-name", NULL), &r), QMP_EPROTO);
    assert_null(r);
    assert_int_equal(qmp_client_is_connected(c), 1);

    assert_client_usable(c, p);
    finish(c, p);
}

static void test_reply_with_return_and_error(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    peer_expect(p, "query-name", PEER_NO_ARGS);
    peer_reply_raw(p, PEER_LAST, "{\"return\": {}, \"error\": {\"class\": \"GenericError\", \"desc\": \"d\"}, "
                                 "\"id\": " PEER_ID "}\r\n");
    json_t *r = (json_t *)(uintptr_t)1;
    assert_status(qmp_client_execute(c, qmp_command_new("query-name", NULL), &r), QMP_EPROTO);
    assert_null(r);

    /* Well-formed and ours, of the wrong shape: only this call fails (docs/internals.md). */
    assert_client_usable(c, p);
    finish(c, p);
}

static void test_reply_with_neither_return_nor_error(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    peer_expect(p, "query-name", PEER_NO_ARGS);
    peer_reply_raw(p, PEER_LAST, "{\"id\": " PEER_ID "}\r\n");
    char *out = (char *)(uintptr_t)1;
    assert_status(qmp_client_execute_str(c, "{\"execute\": \"query-name\"}", &out), QMP_EPROTO);
    assert_null(out);

    assert_client_usable(c, p);
    finish(c, p);
}

static void test_reply_twice(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    int first = peer_expect(p, "query-name", PEER_NO_ARGS);
    peer_return_to(p, first, "\"first\"");
    peer_return_to(p, first, "\"again\"");
    json_t *r = NULL;
    assert_status(qmp_client_execute(c, qmp_command_new("query-name", NULL), &r), QMP_OK);
    assert_string_equal(json_string_value(r), "first");
    json_decref(r);

    int second = peer_expect(p, "query-name", PEER_NO_ARGS);
    peer_return_to(p, second, "\"second\"");
    r = NULL;
    assert_status(qmp_client_execute(c, qmp_command_new("query-name", NULL), &r), QMP_OK);
    assert_string_equal(json_string_value(r), "second");
    json_decref(r);

    assert_client_usable(c, p);
    finish(c, p);
}

static void test_null_command_keeps_builder_message(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    json_t *cmd = qmp_command_new("x", "j:n", -1, NULL);
    assert_null(cmd);
    assert_int_equal(qmp_error_last()->code, QMP_EINVAL);
    assert_non_null(strstr(qmp_error_last()->message, "j:n"));

    json_t *r = (json_t *)(uintptr_t)1;
    assert_status(qmp_client_execute(c, cmd, &r), QMP_EINVAL);
    assert_int_equal(qmp_error_last()->code, QMP_EINVAL);
    assert_non_null(strstr(qmp_error_last()->message, "j:n"));
    assert_null(r);

    /* The same through execute_full. */
    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    assert_null(qmp_command_new("x", "s:name", NULL, NULL));
    assert_status(qmp_client_execute_full(c, NULL, &opts, NULL), QMP_EINVAL);
    assert_non_null(strstr(qmp_error_last()->message, "s:name"));

    assert_client_usable(c, p);
    finish(c, p);
}

static void test_command_with_user_id(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    json_t *cmd = qmp_command_new("query-name", NULL);
    json_object_set_new(cmd, "id", json_string("mine"));
    json_t *r = (json_t *)(uintptr_t)1;
    assert_status(qmp_client_execute(c, cmd, &r), QMP_EINVAL);   /* stolen: valgrind checks */
    assert_null(r);

    char *out = (char *)(uintptr_t)1;
    assert_status(qmp_client_execute_str(c, "{\"execute\": \"query-name\", \"id\": 1}", &out), QMP_EINVAL);
    assert_null(out);

    /* Nothing was sent: the next command is the first the peer sees. */
    assert_client_usable(c, p);
    finish(c, p);
}

static void test_malformed_command_text(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    assert_status(qmp_client_execute_str(c, "{\"execute\": ", NULL), QMP_EINVAL);
    assert_status(qmp_client_execute_str(c, "[\"execute\", \"stop\"]", NULL), QMP_EINVAL);
    assert_status(qmp_client_execute_str(c, "{\"arguments\": {}}", NULL), QMP_EINVAL);
    assert_status(qmp_client_execute_str(c, NULL, NULL), QMP_EINVAL);
    /* A JSON object that is not a command, through the json_t API. */
    assert_status(qmp_client_execute(c, json_pack("{s:i}", "hello", 1), NULL), QMP_EINVAL);

    assert_client_usable(c, p);
    finish(c, p);
}

static void test_execute_not_connected(void **state)
{
    (void)state;
    qmp_client *c = qmp_client_new();
    json_t *r = (json_t *)(uintptr_t)1;
    assert_status(qmp_client_execute(c, qmp_command_new("query-status", NULL), &r), QMP_ECLOSED);
    assert_null(r);
    char *out = (char *)(uintptr_t)1;
    assert_status(qmp_client_execute_str(c, "{\"execute\": \"query-status\"}", &out), QMP_ECLOSED);
    assert_null(out);
    assert_status(qmp_client_hmp(c, "info status", NULL), QMP_ECLOSED);
    assert_status(qmp_client_get_version(c, NULL, NULL, NULL), QMP_ECLOSED);
    assert_int_equal(qmp_client_is_connected(c), 0);
    assert_int_equal(qmp_client_get_fd(c), -1);
    qmp_client_free(c);
}

static void test_execute_null_client(void **state)
{
    (void)state;
    /* The command is stolen also here (valgrind checks). */
    assert_status(qmp_client_execute(NULL, qmp_command_new("stop", NULL), NULL), QMP_EINVAL);
    assert_status(qmp_client_execute_str(NULL, "{\"execute\": \"stop\"}", NULL), QMP_EINVAL);
}

static void test_execute_after_close(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_status(qmp_client_close(c), QMP_OK);
    assert_client_closed(c);
    finish(c, p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_return_json),
        cmocka_unit_test(test_return_str_is_exact_text),
        cmocka_unit_test(test_arguments_reach_the_wire),
        cmocka_unit_test(test_command_error),
        cmocka_unit_test(test_command_error_str),
        cmocka_unit_test(test_several_messages_in_one_write),
        cmocka_unit_test(test_reply_split_across_writes),
        cmocka_unit_test(test_unknown_id_is_dropped),
        cmocka_unit_test(test_timeout_then_late_reply_dropped),
        cmocka_unit_test(test_client_default_timeout),
        cmocka_unit_test(test_error_without_id),
        cmocka_unit_test(test_reply_with_return_and_error),
        cmocka_unit_test(test_reply_with_neither_return_nor_error),
        cmocka_unit_test(test_reply_twice),
        cmocka_unit_test(test_null_command_keeps_builder_message),
        cmocka_unit_test(test_command_with_user_id),
        cmocka_unit_test(test_malformed_command_text),
        cmocka_unit_test(test_execute_not_connected),
        cmocka_unit_test(test_execute_null_client),
        cmocka_unit_test(test_execute_after_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
