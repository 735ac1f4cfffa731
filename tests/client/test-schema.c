/*
 * test-schema: the connection's schema and validation where real QEMU cannot
 * go on demand: a server whose query-qmp-schema reply is broken, refused,
 * late or cut off, and exactly what goes over the wire (fetched once per
 * connection, nothing sent for a refused command).  The verdicts against
 * QEMU 7.2's real schema are in tests/unit/test-schema.c and
 * tests/interop/test-schema.c.
 *
 * The test server (mock-client.h) serves the ordinary conversations and
 * proves what went over the wire: a command it was not scripted to get is a
 * mismatch that qmp_mock_verify() reports, and every case ends with a round
 * trip, so anything sent before it has reached the server.  The late and the
 * cut-off schema come from the scripted peer.
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

/* A small schema in QEMU's form: query-status, and set-thing whose "state"
 * enum has a deprecated value and whose "old" member is deprecated. */
#define TINY_SCHEMA                                                                                   \
    "[{\"name\": \"query-status\", \"meta-type\": \"command\", \"arg-type\": \"0\", \"ret-type\": \"1\"}," \
    " {\"name\": \"0\", \"meta-type\": \"object\", \"members\": []},"                                 \
    " {\"name\": \"1\", \"meta-type\": \"object\", \"members\": [{\"name\": \"status\", \"type\": \"2\"}," \
    "   {\"name\": \"running\", \"type\": \"bool\"}]},"                                               \
    " {\"name\": \"2\", \"meta-type\": \"enum\", \"values\": [\"running\", \"paused\"],"              \
    "   \"members\": [{\"name\": \"running\"}, {\"name\": \"paused\", \"features\": [\"deprecated\"]}]}," \
    " {\"name\": \"bool\", \"meta-type\": \"builtin\", \"json-type\": \"boolean\"},"                  \
    " {\"name\": \"str\", \"meta-type\": \"builtin\", \"json-type\": \"string\"},"                    \
    " {\"name\": \"set-thing\", \"meta-type\": \"command\", \"arg-type\": \"3\", \"ret-type\": \"0\"}," \
    " {\"name\": \"3\", \"meta-type\": \"object\", \"members\": [{\"name\": \"state\", \"type\": \"2\"}," \
    "   {\"name\": \"old\", \"type\": \"str\", \"default\": null, \"features\": [\"deprecated\"]}]}]"

/* Another server's schema: only set-thing. */
#define OTHER_SCHEMA                                                                                  \
    "[{\"name\": \"set-thing\", \"meta-type\": \"command\", \"arg-type\": \"0\", \"ret-type\": \"0\"}," \
    " {\"name\": \"0\", \"meta-type\": \"object\", \"members\": []}]"

static void serve_schema(qmp_mock *m, const char *schema) {
    char *response = malloc(strlen(schema) + 16);
    assert_non_null(response);
    sprintf(response, "{\"return\": %s}", schema);
    assert_status(qmp_mock_expect_str(m, "query-qmp-schema", "{}", response), QMP_OK);
    free(response);
}

static void expect_schema_refused(qmp_mock *m) {
    assert_status(qmp_mock_expect_str(m, "query-qmp-schema", "{}",
                                      "{\"error\": {\"class\": \"CommandNotFound\", "
                                      "\"desc\": \"The command query-qmp-schema has not been found\"}}"),
                  QMP_OK);
}

static void expect_query_status(qmp_mock *m) {
    assert_status(qmp_mock_expect_str(m, "query-status", "{}", "{\"return\": {\"status\": \"running\", \"running\": true}}"),
                  QMP_OK);
}

static void test_fetched_once_per_connection(void **state) {
    (void)state;
    qmp_mock *m;
    qmp_client *c = mock_connect_client(&m);
    serve_schema(m, TINY_SCHEMA);
    assert_int_equal(qmp_client_schema_has(c, "query-status/ret-type/status/^paused"), 1);
    assert_int_equal(qmp_client_schema_has(c, "query-status/ret-type/status/^stopped"), 0);
    assert_int_equal(qmp_client_schema_has(c, "set-thing/arg-type/*old/$deprecated"), 1);
    qmp_schema *s = qmp_client_get_schema(c, 0);
    assert_non_null(s);
    assert_int_equal(qmp_schema_has(s, "set-thing/arg-type/*state"), 0);
    qmp_schema_unref(s);
    /* Four questions, one fetch: nothing more reaches the server (the round trip below comes next). */
    mock_assert_client_usable(c, m);
    mock_finish(c, m);
}

static void test_cache_ends_with_the_connection(void **state) {
    (void)state;
    qmp_mock *m;
    qmp_client *c = mock_connect_client(&m);
    serve_schema(m, TINY_SCHEMA);
    assert_int_equal(qmp_client_schema_has(c, "query-status"), 1);
    qmp_schema *first = qmp_client_get_schema(c, 0);
    assert_non_null(first);
    assert_status(qmp_client_close(c), QMP_OK);
    mock_finish(NULL, m);

    /* Not connected: no schema, and the old one is not answered from. */
    assert_null(qmp_client_get_schema(c, 0));
    assert_int_equal(qmp_error_last()->code, QMP_ECLOSED);
    assert_status(qmp_client_schema_has(c, "query-status"), QMP_ECLOSED);

    /* The same client on another server asks that server. */
    m = qmp_mock_new();
    assert_non_null(m);
    assert_status(qmp_mock_set_greeting_str(m, MOCK_GREETING_NO_OOB), QMP_OK);
    int fd = qmp_mock_socketpair(m);
    assert_true(fd >= 0);
    assert_status(qmp_client_connect_fd(c, fd, 5000), QMP_OK);
    serve_schema(m, OTHER_SCHEMA);
    assert_int_equal(qmp_client_schema_has(c, "query-status"), 0);
    assert_int_equal(qmp_client_schema_has(c, "set-thing"), 1);
    /* A reference taken before stays valid and unchanged. */
    assert_int_equal(qmp_schema_has(first, "query-status"), 1);
    qmp_schema_unref(first);
    mock_finish(c, m);
}

static void test_invalid_schema_is_eproto_and_not_kept(void **state) {
    (void)state;
    qmp_mock *m;
    qmp_client *c = mock_connect_client(&m);

    /* Not an array. */
    serve_schema(m, "{}");
    assert_null(qmp_client_get_schema(c, 0));
    assert_int_equal(qmp_error_last()->code, QMP_EPROTO);
    assert_non_null(strstr(qmp_error_last()->message, "not a valid QMP schema"));

    /* A reference to a type that does not exist, named in the message. */
    serve_schema(m, "[{\"name\": \"q\", \"meta-type\": \"command\", \"arg-type\": \"0\", \"ret-type\": \"9\"},"
                    " {\"name\": \"0\", \"meta-type\": \"object\", \"members\": []}]");
    assert_status(qmp_client_schema_has(c, "q"), QMP_EPROTO);
    assert_non_null(strstr(qmp_error_last()->message, "'q'"));
    assert_non_null(strstr(qmp_error_last()->message, "'9'"));

    /* The failures were not cached: the next call fetches again and works. */
    serve_schema(m, TINY_SCHEMA);
    assert_int_equal(qmp_client_schema_has(c, "query-status"), 1);
    mock_assert_client_usable(c, m);
    mock_finish(c, m);
}

static void test_refused_schema_blocks_validated_calls(void **state) {
    (void)state;
    qmp_mock *m;
    qmp_client *c = mock_connect_client(&m);

    /* A server without query-qmp-schema: set_validation reports why and stays off. */
    expect_schema_refused(m);
    assert_status(qmp_client_set_validation(c, QMP_VALIDATE), QMP_ECOMMAND);
    assert_string_equal(qmp_error_last()->qmp_class, "CommandNotFound");
    assert_int_equal(qmp_client_get_validation(c), 0);

    /* Asked for per call, the command is not sent without the schema. */
    expect_schema_refused(m);
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.validate = QMP_VALIDATE;
    assert_status(qmp_client_execute_full(c, qmp_command_new("query-status", NULL), &o, NULL), QMP_ECOMMAND);
    assert_non_null(strstr(qmp_error_last()->message, "cannot validate 'query-status'"));
    /* query-status was not sent: the server gets the round trip below next. */
    mock_assert_client_usable(c, m);
    mock_finish(c, m);
}

static void test_late_schema_times_out_and_is_dropped(void **state) {
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    int cmd = peer_expect(p, "query-qmp-schema", PEER_NO_ARGS);
    assert_null(qmp_client_get_schema(c, 200));
    assert_int_equal(qmp_error_last()->code, QMP_ETIMEDOUT);
    /* The reply comes late: dropped, not taken by the next call. */
    peer_return_to(p, cmd, TINY_SCHEMA);
    assert_client_usable(c, p);
    peer_expect(p, "query-qmp-schema", PEER_NO_ARGS);
    peer_return(p, OTHER_SCHEMA);
    assert_int_equal(qmp_client_schema_has(c, "set-thing"), 1);
    assert_int_equal(qmp_client_schema_has(c, "query-status"), 0);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_server_dies_mid_schema(void **state) {
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    peer_expect(p, "query-qmp-schema", PEER_NO_ARGS);
    peer_reply_raw(p, PEER_LAST, "{\"return\": [{\"name\": \"query-status\", \"meta-type\": \"comm");
    peer_close(p);
    assert_status(qmp_client_schema_has(c, "query-status"), QMP_ECLOSED);
    assert_client_closed(c);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

typedef struct {
    int warnings;
    int sends;
    char last_warning[256];
} log_record;

static void on_log(qmp_client *c, int kind, const char *text, void *user_data) {
    (void)c;
    log_record *r = user_data;
    if (kind == QMP_LOG_WARNING) {
        r->warnings++;
        snprintf(r->last_warning, sizeof r->last_warning, "%s", text);
    } else if (kind == QMP_LOG_SEND) {
        r->sends++;
    }
}

static int replies, destroyed;
static void on_reply(qmp_client *c, int status, const json_t *result, void *user_data) {
    (void)c, (void)status, (void)result, (void)user_data;
    replies++;
}
static void on_destroy(void *user_data) {
    (void)user_data;
    destroyed++;
}

static void test_validation_on_the_wire(void **state) {
    (void)state;
    qmp_mock *m;
    qmp_client *c = mock_connect_client(&m);
    log_record rec = {0};
    assert_status(qmp_client_set_log(c, on_log, &rec, NULL), QMP_OK);

    /* Turning it on while connected fetches the schema at once. */
    serve_schema(m, TINY_SCHEMA);
    assert_status(qmp_client_set_validation(c, QMP_VALIDATE), QMP_OK);
    assert_int_equal(qmp_client_get_validation(c), QMP_VALIDATE);
    int sends = rec.sends;

    /* Refused commands: an error naming the path, and nothing sent. */
    assert_status(qmp_client_execute(c, qmp_command_new("set-thing", "s:state", "runnin", NULL), NULL),
                  QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message,
                        "set-thing: arguments.state: 'runnin' is not one of running, paused");
    assert_status(qmp_client_execute(c, qmp_command_new("set-thingy", NULL), NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "set-thingy: unknown command (did you mean 'set-thing'?)");
    char *out = NULL;
    assert_status(qmp_client_execute_str(c, "{\"execute\": \"set-thing\", \"arguments\": {\"stat\": \"running\"}}", &out),
                  QMP_EINVAL);
    assert_null(out);
    assert_string_equal(qmp_error_last()->message,
                        "set-thing: arguments: unknown member 'stat' (did you mean 'state'?)");
    replies = destroyed = 0;
    assert_status(qmp_client_execute_async(c, qmp_command_new("set-thing", NULL), NULL, on_reply, NULL, on_destroy),
                  QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "set-thing: arguments: missing required member 'state'");
    assert_int_equal(destroyed, 1);
    assert_int_equal(rec.sends, sends);
    assert_int_equal(replies, 0);
    /* Nothing of them reached the server: set-thing below is the next command it gets. */

    /* A deprecated value is flagged and sent. */
    assert_status(qmp_mock_expect_str(m, "set-thing", "{\"state\": \"paused\"}", "{\"return\": {}}"), QMP_OK);
    assert_status(qmp_client_execute(c, qmp_command_new("set-thing", "s:state", "paused", NULL), NULL), QMP_OK);
    assert_int_equal(rec.warnings, 1);
    assert_string_equal(rec.last_warning, "set-thing: arguments.state: value 'paused' is deprecated");

    /* Per call: off lets the mistake through to the server. */
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.validate = QMP_VALIDATE_OFF;
    assert_status(qmp_mock_expect_str(m, "set-thing", "{\"state\": \"runnin\"}",
                                      "{\"error\": {\"class\": \"GenericError\", "
                                      "\"desc\": \"Parameter 'state' does not accept value 'runnin'\"}}"),
                  QMP_OK);
    assert_status(qmp_client_execute_full(c, qmp_command_new("set-thing", "s:state", "runnin", NULL), &o, NULL),
                  QMP_ECOMMAND);

    /* Per call: deny deprecated refuses what the client only flags. */
    o.validate = QMP_VALIDATE | QMP_VALIDATE_DENY_DEPRECATED;
    assert_status(qmp_client_execute_full(c, qmp_command_new("set-thing", "s:state", "running", "s:old", "x", NULL),
                                          &o, NULL),
                  QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message,
                        "set-thing: arguments.old: member 'old' is deprecated (refused by QMP_VALIDATE_DENY_DEPRECATED)");

    /* An async call that validates is sent and answered. */
    replies = destroyed = 0;
    assert_status(qmp_mock_expect_str(m, "set-thing", "{\"state\": \"running\"}", "{\"return\": {}}"), QMP_OK);
    assert_status(qmp_client_execute_async(c, qmp_command_new("set-thing", "s:state", "running", NULL), NULL,
                                           on_reply, NULL, on_destroy),
                  QMP_OK);
    assert_int_equal(drive_until(c, &replies, 1), 0);
    assert_int_equal(destroyed, 1);

    /* Off again: no schema needed, nothing checked. */
    assert_status(qmp_client_set_validation(c, 0), QMP_OK);
    assert_status(qmp_mock_expect_str(m, "no-such-command", "{}",
                                      "{\"error\": {\"class\": \"CommandNotFound\", "
                                      "\"desc\": \"The command no-such-command has not been found\"}}"),
                  QMP_OK);
    assert_status(qmp_client_execute(c, qmp_command_new("no-such-command", NULL), NULL), QMP_ECOMMAND);

    mock_assert_client_usable(c, m);
    mock_finish(c, m);
}

static void test_validation_before_connecting(void **state) {
    (void)state;
    /* Set on an unconnected client: the first validated call fetches. */
    qmp_client *c = qmp_client_new();
    assert_status(qmp_client_set_validation(c, QMP_VALIDATE), QMP_OK);
    assert_status(qmp_client_set_validation(c, 8), QMP_EINVAL);
    assert_status(qmp_client_set_validation(c, -1), QMP_EINVAL);
    assert_int_equal(qmp_client_get_validation(c), QMP_VALIDATE);
    qmp_mock *m = qmp_mock_new();
    assert_non_null(m);
    assert_status(qmp_mock_set_greeting_str(m, MOCK_GREETING_NO_OOB), QMP_OK);
    int fd = qmp_mock_socketpair(m);
    assert_true(fd >= 0);
    assert_status(qmp_client_connect_fd(c, fd, 5000), QMP_OK);
    serve_schema(m, TINY_SCHEMA);
    expect_query_status(m);
    assert_status(qmp_client_execute(c, qmp_command_new("query-status", NULL), NULL), QMP_OK);
    /* An options struct of version 1 (before "validate") is still accepted. */
    qmp_exec_options v1 = QMP_EXEC_OPTIONS_INIT;
    v1.version = 1;
    v1.validate = 12345; /* not read for version 1 */
    expect_query_status(m);
    assert_status(qmp_client_execute_full(c, qmp_command_new("query-status", NULL), &v1, NULL), QMP_OK);
    v1.version = 3;
    assert_status(qmp_client_execute_full(c, qmp_command_new("query-status", NULL), &v1, NULL), QMP_EINVAL);
    qmp_exec_options bad = QMP_EXEC_OPTIONS_INIT;
    bad.validate = 64;
    assert_status(qmp_client_execute_full(c, qmp_command_new("query-status", NULL), &bad, NULL), QMP_EINVAL);
    /* Neither was sent: the server gets this round trip next. */
    expect_query_status(m);
    assert_status(qmp_client_execute(c, qmp_command_new("query-status", NULL), NULL), QMP_OK);
    mock_finish(c, m);
}

/* Schemas no QEMU sends, as a hostile server could: every walk ends. */
static void test_hostile_schema_terminates(void **state) {
    (void)state;
    /* An alternate that holds itself and an array of itself. */
    const char *cyclic =
        "[{\"name\": \"c\", \"meta-type\": \"command\", \"arg-type\": \"o\", \"ret-type\": \"A\"},"
        " {\"name\": \"o\", \"meta-type\": \"object\", \"members\": [{\"name\": \"m\", \"type\": \"A\"}]},"
        " {\"name\": \"A\", \"meta-type\": \"alternate\", \"members\": [{\"type\": \"A\"}, {\"type\": \"[A]\"}]},"
        " {\"name\": \"[A]\", \"meta-type\": \"array\", \"element-type\": \"A\"}]";
    qmp_schema *s = qmp_schema_new_str(cyclic, strlen(cyclic));
    assert_non_null(s);
    assert_int_equal(qmp_schema_has(s, "c/arg-type/m"), 1);
    assert_int_equal(qmp_schema_has(s, "c/arg-type/m/x"), 0);
    assert_int_equal(qmp_schema_has(s, "c/arg-type/m/^v"), 0);
    assert_int_equal(qmp_schema_has(s, "c/ret-type/!string"), 0);
    json_t *args = qmp_schema_arguments(s, "c");
    assert_non_null(args);
    assert_string_equal(json_string_value(json_object_get(json_array_get(args, 0), "type")), "...|[...]");
    json_decref(args);
    json_t *d = qmp_schema_describe(s, "c");
    assert_non_null(d);
    json_decref(d);
    json_t *cmd = json_pack("{s:s, s:{s:[[[i]]]}}", "execute", "c", "arguments", "m", 1);
    assert_status(qmp_schema_validate(s, cmd, 0, NULL), QMP_EINVAL);
    json_decref(cmd);
    qmp_schema_unref(s);

    /* An array of an array of itself is refused outright. */
    const char *selfarray = "[{\"name\": \"[x]\", \"meta-type\": \"array\", \"element-type\": \"[x]\"}]";
    assert_null(qmp_schema_new_str(selfarray, strlen(selfarray)));
    assert_int_equal(qmp_error_last()->code, QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "not a valid QMP schema: entity '[x]': an array of itself");

    /* A union whose branch is the union itself: validation stops. */
    const char *selfunion =
        "[{\"name\": \"c\", \"meta-type\": \"command\", \"arg-type\": \"u\", \"ret-type\": \"u\"},"
        " {\"name\": \"u\", \"meta-type\": \"object\", \"tag\": \"k\", \"members\": [{\"name\": \"k\", \"type\": \"e\"}],"
        "  \"variants\": [{\"case\": \"a\", \"type\": \"u\"}]},"
        " {\"name\": \"e\", \"meta-type\": \"enum\", \"values\": [\"a\"]}]";
    s = qmp_schema_new_str(selfunion, strlen(selfunion));
    assert_non_null(s);
    cmd = json_pack("{s:s, s:{s:s, s:i}}", "execute", "c", "arguments", "k", "a", "z", 1);
    assert_status(qmp_schema_validate(s, cmd, 0, NULL), QMP_EINVAL);
    json_decref(cmd);
    assert_int_equal(qmp_schema_has(s, "c/arg-type/+a/+a/+a/k"), 1);
    qmp_schema_unref(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fetched_once_per_connection),
        cmocka_unit_test(test_cache_ends_with_the_connection),
        cmocka_unit_test(test_invalid_schema_is_eproto_and_not_kept),
        cmocka_unit_test(test_refused_schema_blocks_validated_calls),
        cmocka_unit_test(test_late_schema_times_out_and_is_dropped),
        cmocka_unit_test(test_server_dies_mid_schema),
        cmocka_unit_test(test_validation_on_the_wire),
        cmocka_unit_test(test_validation_before_connecting),
        cmocka_unit_test(test_hostile_schema_terminates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
