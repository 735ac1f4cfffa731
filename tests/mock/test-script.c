/*
 * The test server (qmp-mock.h) against the real libqmp client: scripted
 * conversations, arguments, events, greetings, Unix sockets, fds, exact
 * numbers, and the script items refused when added.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static void test_expect_and_return(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_non_null(m);
    assert_ok(qmp_mock_expect_str(m, "query-status", NULL,
                                  "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}"));
    assert_ok(qmp_mock_expect_str(m, "stop", "{}", "{\"return\": {}}"));
    qmp_client *c = connect_mock(m);
    int rc;
    char *r = run(c, "{\"execute\": \"query-status\"}", &rc);
    assert_ok(rc);
    assert_string_equal(r, "{\"status\":\"running\",\"singlestep\":false,\"running\":true}");
    qmp_free(r);
    r = run(c, "{\"execute\": \"stop\"}", &rc);
    assert_ok(rc);
    assert_string_equal(r, "{}");
    qmp_free(r);
    assert_ok(qmp_mock_verify(m, wait_ms()));
    qmp_client_free(c);
    qmp_mock_free(m);
}

static void test_scripted_error(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_expect_str(m, "device_del", "{\"id\": \"nope\"}",
                                  "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device 'nope' not found\"}}"));
    qmp_client *c = connect_mock(m);
    int rc;
    char *r = run(c, "{\"execute\": \"device_del\", \"arguments\": {\"id\": \"nope\"}}", &rc);
    assert_int_equal(rc, QMP_ECOMMAND);
    assert_string_equal(qmp_error_last()->qmp_class, "DeviceNotFound");
    assert_string_equal(qmp_error_last()->qmp_desc, "Device 'nope' not found");
    qmp_free(r);
    assert_ok(qmp_mock_verify(m, wait_ms()));
    qmp_client_free(c);
    qmp_mock_free(m);
}

static void test_arguments_member_order_ignored(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_expect_str(m, "device_del", "{\"id\": \"d\", \"x\": [1, {\"a\": 1, \"b\": 2}]}",
                                  "{\"return\": {}}"));
    qmp_client *c = connect_mock(m);
    int rc;
    qmp_free(run(c, "{\"execute\": \"device_del\", \"arguments\": {\"x\": [1, {\"b\": 2, \"a\": 1}], \"id\": \"d\"}}",
                 &rc));
    assert_ok(rc);
    assert_ok(qmp_mock_verify(m, wait_ms()));
    qmp_client_free(c);
    qmp_mock_free(m);
}

static void test_wrong_command_is_answered_and_verified(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_expect_str(m, "stop", NULL, "{\"return\": {}}"));
    qmp_client *c = connect_mock(m);
    int rc;
    qmp_free(run(c, "{\"execute\": \"cont\"}", &rc));
    assert_int_equal(rc, QMP_ECOMMAND);
    assert_string_equal(qmp_error_last()->qmp_class, "GenericError");
    assert_string_equal(qmp_error_last()->qmp_desc, "qmp_mock: expected command 'stop', got 'cont'");
    /* The expectation stays: the right command still meets it. */
    qmp_free(run(c, "{\"execute\": \"stop\"}", &rc));
    assert_ok(rc);
    assert_error(qmp_mock_verify(m, wait_ms()), QMP_EPROTO, "qmp_mock: expected command 'stop', got 'cont'");
    qmp_client_free(c);
    qmp_mock_free(m);
}

static void test_wrong_arguments(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_expect_str(m, "device_del", "{\"id\": \"disk0\"}", "{\"return\": {}}"));
    qmp_client *c = connect_mock(m);
    int rc;
    qmp_free(run(c, "{\"execute\": \"device_del\", \"arguments\": {\"id\": \"disk1\"}}", &rc));
    assert_int_equal(rc, QMP_ECOMMAND);
    const char *want = "qmp_mock: command 'device_del': expected arguments {\"id\":\"disk0\"}, got {\"id\":\"disk1\"}";
    assert_string_equal(qmp_error_last()->qmp_desc, want);
    assert_error(qmp_mock_verify(m, wait_ms()), QMP_EPROTO, want);
    qmp_client_free(c);
    qmp_mock_free(m);
}

static void test_more_than_scripted(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_expect_str(m, "stop", NULL, "{\"return\": {}}"));
    qmp_client *c = connect_mock(m);
    int rc;
    qmp_free(run(c, "{\"execute\": \"stop\"}", &rc));
    assert_ok(rc);
    assert_ok(qmp_mock_verify(m, wait_ms()));
    qmp_free(run(c, "{\"execute\": \"cont\"}", &rc));
    assert_int_equal(rc, QMP_ECOMMAND);
    const char *want = "qmp_mock: unexpected command 'cont': the script holds no more commands";
    assert_string_equal(qmp_error_last()->qmp_desc, want);
    assert_error(qmp_mock_verify(m, wait_ms()), QMP_EPROTO, want);
    qmp_client_free(c);
    qmp_mock_free(m);
}

static void test_never_reached(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_expect_str(m, "stop", NULL, "{\"return\": {}}"));
    assert_ok(qmp_mock_expect_str(m, "cont", NULL, "{\"return\": {}}"));
    qmp_client *c = connect_mock(m);
    int rc;
    qmp_free(run(c, "{\"execute\": \"stop\"}", &rc));
    assert_ok(rc);
    assert_error(qmp_mock_verify(m, 50), QMP_EPROTO,
                 "qmp_mock: expectations never reached after 50 ms: still expected command 'cont'");
    qmp_client_free(c);
    /* The client is gone now. */
    assert_error(qmp_mock_verify(m, wait_ms()), QMP_EPROTO,
                 "qmp_mock: the client closed the connection before the script was used up: still expected "
                 "command 'cont'");
    qmp_mock_free(m);
}

static void test_never_started(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_expect_str(m, "stop", NULL, "{\"return\": {}}"));
    assert_ok(qmp_mock_event_str(m, "{\"event\": \"STOP\"}"));
    assert_error(qmp_mock_verify(m, 0), QMP_EPROTO,
                 "qmp_mock: expectations never reached (the server was never started): command 'stop' and 1 more "
                 "script items");
    qmp_mock_free(m);
    /* An empty script is met by nothing at all. */
    m = qmp_mock_new();
    assert_ok(qmp_mock_verify(m, 0));
    qmp_mock_free(m);
    qmp_mock_free(NULL);
}

static void test_events(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    /* First in the script: sent right after the negotiation. */
    assert_ok(qmp_mock_event_str(m, "{\"event\": \"RESUME\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}"));
    assert_ok(qmp_mock_expect_str(m, "stop", NULL, "{\"return\": {}}"));
    assert_ok(qmp_mock_event_str(m, "{\"event\": \"STOP\"}"));
    qmp_client *c = connect_mock(m);
    char *ev = NULL;
    assert_ok(qmp_client_wait_event_str(c, "RESUME", NULL, 0, wait_ms(), &ev));
    /* Sent as scripted (the timestamp given is kept). */
    assert_string_equal(ev, "{\"event\":\"RESUME\",\"timestamp\":{\"seconds\":1,\"microseconds\":2}}");
    qmp_free(ev);
    unsigned long long seq = qmp_client_event_seq(c);
    int rc;
    qmp_free(run(c, "{\"execute\": \"stop\"}", &rc));
    assert_ok(rc);
    json_t *stop = NULL;
    assert_ok(qmp_client_wait_event(c, "STOP", NULL, seq, wait_ms(), &stop));
    /* The timestamp the server added is QEMU's shape. */
    json_t *ts = json_object_get(stop, "timestamp");
    assert_true(json_is_integer(json_object_get(ts, "seconds")));
    assert_true(json_is_integer(json_object_get(ts, "microseconds")));
    json_decref(stop);
    /* Added while the server runs, after its expectation was met: sent at once. */
    seq = qmp_client_event_seq(c);
    assert_ok(qmp_mock_event_str(m, "{\"event\": \"DEVICE_DELETED\", \"data\": {\"path\": \"/p\"}}"));
    assert_ok(qmp_client_wait_event_str(c, "DEVICE_DELETED", "{\"path\": \"/p\"}", seq, wait_ms(), NULL));
    assert_ok(qmp_mock_verify(m, wait_ms()));
    qmp_client_free(c);
    qmp_mock_free(m);
}

static void test_custom_greeting(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_set_greeting_str(m, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 1, \"minor\": 0, "
                                           "\"major\": 8}, \"package\": \"test\"}, \"capabilities\": []}}"));
    qmp_client *c = connect_mock(m);
    int major = 0, minor = 0, micro = 0;
    assert_ok(qmp_client_get_version(c, &major, &minor, &micro));
    assert_int_equal(major, 8);
    assert_int_equal(minor, 0);
    assert_int_equal(micro, 1);
    assert_int_equal(json_array_size(json_object_get(json_object_get(qmp_client_greeting(c), "QMP"), "capabilities")), 0);
    assert_error(qmp_mock_set_greeting_str(m, "{\"QMP\": {}}"), QMP_EINVAL,
                 "the server has started: set the greeting before");
    assert_ok(qmp_mock_verify(m, wait_ms()));
    qmp_client_free(c);
    qmp_mock_free(m);

    /* The default is QEMU 7.2's, offering oob. */
    m = qmp_mock_new();
    c = connect_mock(m);
    assert_ok(qmp_client_get_version(c, &major, &minor, &micro));
    assert_int_equal(major, 7);
    assert_int_equal(minor, 2);
    const json_t *caps = json_object_get(json_object_get(qmp_client_greeting(c), "QMP"), "capabilities");
    assert_int_equal(json_array_size(caps), 1);
    assert_string_equal(json_string_value(json_array_get(caps, 0)), "oob");
    qmp_client_free(c);
    qmp_mock_free(m);
}

static void test_scripted_negotiation(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_set_greeting_str(m, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "
                                           "\"major\": 7}, \"package\": \"\"}, \"capabilities\": []}}"));
    assert_ok(qmp_mock_expect_str(m, "qmp_capabilities", NULL,
                                  "{\"error\": {\"class\": \"GenericError\", \"desc\": \"refused\"}}"));
    int fd = qmp_mock_socketpair(m);
    assert_true(fd >= 0);
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_connect_fd(c, fd, wait_ms()), QMP_ENEGOTIATION);
    assert_ok(qmp_mock_verify(m, wait_ms()));
    qmp_client_free(c);
    qmp_mock_free(m);
}

static void test_listen_unix(void **state)
{
    (void)state;
    char dir[] = "/tmp/libqmp-mock-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/qmp.sock", dir);
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_expect_str(m, "query-version", NULL, "{\"return\": {\"package\": \"\"}}"));
    assert_ok(qmp_mock_listen_unix(m, path));
    qmp_client *c = qmp_client_new();
    assert_ok(qmp_client_connect_unix(c, path, wait_ms()));
    int rc;
    char *r = run(c, "{\"execute\": \"query-version\"}", &rc);
    assert_ok(rc);
    assert_string_equal(r, "{\"package\":\"\"}");
    qmp_free(r);
    assert_ok(qmp_mock_verify(m, wait_ms()));
    /* One server, one connection. */
    assert_error(qmp_mock_socketpair(m), QMP_EINVAL, "the server has started already: it serves one connection");
    qmp_client_free(c);
    qmp_mock_free(m);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(errno, ENOENT);
    /* A path that exists is refused. */
    m = qmp_mock_new();
    assert_int_equal(qmp_mock_listen_unix(m, dir), QMP_EIO);
    assert_int_equal(qmp_error_last()->sys_errno, EADDRINUSE);
    qmp_mock_free(m);
    assert_int_equal(rmdir(dir), 0);
}

/* A uint64 above INT64_MAX reaches the client exactly as scripted. */
static void test_numbers_exact(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_expect_str(m, "query-big", NULL,
                                  "{\"return\": {\"u\": 18446744073709551615, \"i\": -9223372036854775808}}"));
    qmp_client *c = connect_mock(m);
    int rc;
    char *r = run(c, "{\"execute\": \"query-big\"}", &rc);
    assert_ok(rc);
    assert_string_equal(r, "{\"u\":18446744073709551615,\"i\":-9223372036854775808}");
    qmp_free(r);
    assert_ok(qmp_mock_verify(m, wait_ms()));
    qmp_client_free(c);
    qmp_mock_free(m);
}

/* The fds that come with a command are closed once it is answered: the
 * pipe's read end sees EOF when the test closes its own write end. */
static void test_fds_closed_after_answer(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_expect_str(m, "getfd", "{\"fdname\": \"f\"}", "{\"return\": {}}"));
    assert_ok(qmp_mock_expect_str(m, "add-fd", NULL, "{\"return\": {\"fdset-id\": 1, \"fd\": 42}}"));
    qmp_client *c = connect_mock(m);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_ok(qmp_client_getfd(c, p[1], "f"));
    long long set = 0, qfd = 0;
    assert_ok(qmp_client_add_fd(c, p[1], -1, NULL, &set, &qfd));
    assert_int_equal(set, 1);
    assert_int_equal(qfd, 42);
    assert_ok(qmp_mock_verify(m, wait_ms()));
    close(p[1]);
    char b;
    assert_int_equal(read(p[0], &b, 1), 0);
    close(p[0]);
    qmp_client_free(c);
    qmp_mock_free(m);
}

static void test_bad_script_items(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_error(qmp_mock_expect_str(m, "stop", NULL, "{\"return\": "), QMP_EINVAL,
                 "the response to 'stop' is not valid JSON: malformed JSON: unexpected end of input at byte 11");
    assert_error(qmp_mock_expect_str(m, "stop", "[1]", "{\"return\": {}}"), QMP_EINVAL,
                 "the expected arguments of 'stop' must be a JSON object");
    assert_error(qmp_mock_expect_str(m, "stop", NULL, "{\"ret\": {}}"), QMP_EINVAL,
                 "the response to 'stop': a response must be {\"return\": ...} or {\"error\": {\"class\": ..., "
                 "\"desc\": ...}}: it has neither");
    assert_error(qmp_mock_expect_str(m, "stop", NULL, "{\"return\": {}, \"error\": {}}"), QMP_EINVAL,
                 "the response to 'stop': a response must be {\"return\": ...} or {\"error\": {\"class\": ..., "
                 "\"desc\": ...}}, not both");
    assert_error(qmp_mock_expect_str(m, "stop", NULL, "{\"error\": {\"class\": \"GenericError\"}}"), QMP_EINVAL,
                 "the response to 'stop': a response must be {\"return\": ...} or {\"error\": {\"class\": ..., "
                 "\"desc\": ...}}: \"error\" needs a string \"class\" and \"desc\"");
    assert_error(qmp_mock_expect_str(m, "stop", NULL, "{\"return\": {}, \"id\": 1}"), QMP_EINVAL,
                 "the response to 'stop': a response must be {\"return\": ...} or {\"error\": {\"class\": ..., "
                 "\"desc\": ...}}: it has other members (the server adds the id)");
    assert_error(qmp_mock_expect_str(m, "", NULL, "{\"return\": {}}"), QMP_EINVAL,
                 "the expected command's name is empty");
    assert_error(qmp_mock_expect_str(m, NULL, NULL, "{\"return\": {}}"), QMP_EINVAL,
                 "the expected command's name is NULL");
    assert_error(qmp_mock_event_str(m, "{\"data\": {}}"), QMP_EINVAL, "an event must have an \"event\" name");
    assert_error(qmp_mock_event_str(m, "{\"event\": \"X\", \"data\": 1}"), QMP_EINVAL,
                 "an event's \"data\" must be an object");
    assert_error(qmp_mock_event_str(m, "[]"), QMP_EINVAL, "an event must be a JSON object");
    assert_error(qmp_mock_event_str(m, "{\"event\": "), QMP_EINVAL,
                 "the event is not valid JSON: malformed JSON: unexpected end of input at byte 10");
    assert_error(qmp_mock_set_greeting_str(m, "{\"capabilities\": []}"), QMP_EINVAL,
                 "a greeting must be an object with a \"QMP\" object");
    assert_error(qmp_mock_expect_str(NULL, "stop", NULL, "{\"return\": {}}"), QMP_EINVAL, "the test server is NULL");
    assert_error(qmp_mock_expect(NULL, "stop", NULL, NULL), QMP_EINVAL, "the test server is NULL");
    assert_error(qmp_mock_event_str(NULL, "{}"), QMP_EINVAL, "the test server is NULL");
    assert_error(qmp_mock_event(NULL, NULL), QMP_EINVAL, "the test server is NULL");
    assert_error(qmp_mock_set_greeting_str(NULL, "{}"), QMP_EINVAL, "the test server is NULL");
    assert_error(qmp_mock_set_greeting(NULL, NULL), QMP_EINVAL, "the test server is NULL");
    assert_error(qmp_mock_load_replies(NULL, "x"), QMP_EINVAL, "the test server is NULL");
    assert_error(qmp_mock_set_schema(NULL, NULL), QMP_EINVAL, "the test server is NULL");
    assert_error(qmp_mock_socketpair(NULL), QMP_EINVAL, "the test server is NULL");
    assert_error(qmp_mock_listen_unix(NULL, "/tmp/x"), QMP_EINVAL, "the test server is NULL");
    assert_error(qmp_mock_verify(NULL, 0), QMP_EINVAL, "the test server is NULL");
    assert_error(qmp_mock_expect(m, "stop", NULL, NULL), QMP_EINVAL, "the response to 'stop' is NULL");
    assert_error(qmp_mock_event(m, NULL), QMP_EINVAL, "the event is NULL");
    assert_error(qmp_mock_event_str(m, NULL), QMP_EINVAL, "the event is NULL");
    assert_error(qmp_mock_set_greeting(m, NULL), QMP_EINVAL, "the greeting is NULL");
    assert_error(qmp_mock_listen_unix(m, NULL), QMP_EINVAL, "the socket path is NULL");
    assert_error(qmp_mock_verify(m, -2), QMP_EINVAL, "timeout_ms must be -1, 0 or positive");
    /* Nothing was added by the refused calls. */
    assert_ok(qmp_mock_verify(m, 0));
    qmp_mock_free(m);
}

/* The jansson twins take the same script. */
static void test_json_twins(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    json_t *args = json_pack("{s:s}", "id", "d");
    json_t *resp = json_pack("{s:{}}", "return");
    assert_ok(qmp_mock_expect(m, "device_del", args, resp));
    json_decref(args);
    json_decref(resp);
    json_t *ev = json_pack("{s:s}", "event", "STOP");
    assert_ok(qmp_mock_event(m, ev));
    json_decref(ev);
    qmp_client *c = connect_mock(m);
    int rc;
    qmp_free(run(c, "{\"execute\": \"device_del\", \"arguments\": {\"id\": \"d\"}}", &rc));
    assert_ok(rc);
    assert_ok(qmp_client_wait_event(c, "STOP", NULL, 0, wait_ms(), NULL));
    assert_ok(qmp_mock_verify(m, wait_ms()));
    qmp_client_free(c);
    qmp_mock_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expect_and_return),
        cmocka_unit_test(test_scripted_error),
        cmocka_unit_test(test_arguments_member_order_ignored),
        cmocka_unit_test(test_wrong_command_is_answered_and_verified),
        cmocka_unit_test(test_wrong_arguments),
        cmocka_unit_test(test_more_than_scripted),
        cmocka_unit_test(test_never_reached),
        cmocka_unit_test(test_never_started),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_custom_greeting),
        cmocka_unit_test(test_scripted_negotiation),
        cmocka_unit_test(test_listen_unix),
        cmocka_unit_test(test_numbers_exact),
        cmocka_unit_test(test_fds_closed_after_answer),
        cmocka_unit_test(test_bad_script_items),
        cmocka_unit_test(test_json_twins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
