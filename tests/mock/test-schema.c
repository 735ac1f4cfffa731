/*
 * qmp_mock_set_schema() with QEMU 7.2's schema: commands received are
 * validated (a violation is a mismatch with the validation's message),
 * scripted returns and events are checked against their types when added,
 * and a script already added is checked when the schema is set.
 */
#include "helpers.h"
#include "schema-fixture.h"

static void test_valid_script_passes(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_set_schema(m, g_schema));
    assert_ok(qmp_mock_expect_str(m, "query-status", NULL,
                                  "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}"));
    assert_ok(qmp_mock_expect_str(m, "device_del", "{\"id\": \"disk0\"}", "{\"return\": {}}"));
    assert_ok(qmp_mock_event_str(m, "{\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": \"disk0\", "
                                    "\"path\": \"/machine/peripheral/disk0\"}}"));
    qmp_client *c = connect_mock(m);
    int rc;
    qmp_free(run(c, "{\"execute\": \"query-status\"}", &rc));
    assert_ok(rc);
    qmp_free(run(c, "{\"execute\": \"device_del\", \"arguments\": {\"id\": \"disk0\"}}", &rc));
    assert_ok(rc);
    assert_ok(qmp_client_wait_event(c, "DEVICE_DELETED", NULL, 0, wait_ms(), NULL));
    assert_ok(qmp_mock_verify(m, wait_ms()));
    qmp_client_free(c);
    qmp_mock_free(m);
}

static void test_bad_return_refused(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_set_schema(m, g_schema));
    assert_error(qmp_mock_expect_str(m, "query-status", NULL, "{\"return\": {\"status\": \"running\"}}"), QMP_EINVAL,
                 "the scripted return is not valid: query-status/ret-type: return: missing required member 'running'");
    assert_error(qmp_mock_expect_str(m, "query-sttus", NULL, "{\"return\": {}}"), QMP_EINVAL,
                 "the schema has no command 'query-sttus'");
    assert_error(qmp_mock_expect_str(m, "device_del", "{\"di\": \"x\"}", "{\"return\": {}}"), QMP_EINVAL,
                 "the expected arguments are not valid: device_del: arguments: unknown member 'di' (did you mean "
                 "'id'?)");
    /* An error response is not checked against anything: QEMU's errors are free text. */
    assert_ok(qmp_mock_expect_str(m, "query-status", NULL,
                                  "{\"error\": {\"class\": \"GenericError\", \"desc\": \"whatever\"}}"));
    qmp_mock_free(m);
}

static void test_bad_event_refused(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_set_schema(m, g_schema));
    assert_error(qmp_mock_event_str(m, "{\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": \"d\"}}"), QMP_EINVAL,
                 "the event's data is not valid: DEVICE_DELETED/arg-type: data: missing required member 'path'");
    assert_error(qmp_mock_event_str(m, "{\"event\": \"STOP\", \"data\": {\"why\": 1}}"), QMP_EINVAL,
                 "the event's data is not valid: STOP/arg-type: data: unknown member 'why'");
    assert_error(qmp_mock_event_str(m, "{\"event\": \"NO_SUCH_EVENT\"}"), QMP_EINVAL,
                 "the schema has no event 'NO_SUCH_EVENT'");
    assert_ok(qmp_mock_event_str(m, "{\"event\": \"STOP\"}"));
    qmp_mock_free(m);
}

static void test_script_checked_when_schema_set(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_expect_str(m, "stop", NULL, "{\"return\": {}}"));
    assert_ok(qmp_mock_expect_str(m, "query-kvm", NULL, "{\"return\": {\"enabled\": \"no\", \"present\": true}}"));
    assert_error(qmp_mock_set_schema(m, g_schema), QMP_EINVAL,
                 "the scripted return is not valid: query-kvm/ret-type: return.enabled: expected bool, got string");
    /* Not set: an invalid command is still answered as scripted. */
    qmp_client *c = connect_mock(m);
    int rc;
    qmp_free(run(c, "{\"execute\": \"stop\", \"arguments\": {\"now\": true}}", &rc));
    assert_ok(rc);
    qmp_free(run(c, "{\"execute\": \"query-kvm\"}", &rc));
    assert_ok(rc);
    assert_ok(qmp_mock_verify(m, wait_ms()));
    qmp_client_free(c);
    qmp_mock_free(m);
}

/* A command that the schema refuses is a mismatch, with the library's message. */
static void test_invalid_command_received(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_set_schema(m, g_schema));
    assert_ok(qmp_mock_expect_str(m, "device_del", NULL, "{\"return\": {}}"));
    qmp_client *c = connect_mock(m);
    int rc;
    qmp_free(run(c, "{\"execute\": \"device_del\", \"arguments\": {\"id\": 5}}", &rc));
    assert_int_equal(rc, QMP_ECOMMAND);
    const char *want = "qmp_mock: device_del: arguments.id: expected str, got integer";
    assert_string_equal(qmp_error_last()->qmp_desc, want);
    qmp_free(run(c, "{\"execute\": \"device_del\", \"arguments\": {\"id\": \"d\"}}", &rc));
    assert_ok(rc);
    assert_error(qmp_mock_verify(m, wait_ms()), QMP_EPROTO, want);
    qmp_client_free(c);
    qmp_mock_free(m);
}

/* The schema is the server's own reference: the caller may drop theirs. */
static void test_schema_reference(void **state)
{
    (void)state;
    qmp_schema *s = qmp_schema_ref(g_schema);
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_set_schema(m, s));
    qmp_schema_unref(s);
    assert_ok(qmp_mock_expect_str(m, "stop", NULL, "{\"return\": {}}"));
    assert_ok(qmp_mock_set_schema(m, NULL)); /* off again */
    assert_ok(qmp_mock_expect_str(m, "no-such-command", NULL, "{\"return\": 1}"));
    qmp_mock_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_script_passes),
        cmocka_unit_test(test_bad_return_refused),
        cmocka_unit_test(test_bad_event_refused),
        cmocka_unit_test(test_script_checked_when_schema_set),
        cmocka_unit_test(test_invalid_command_received),
        cmocka_unit_test(test_schema_reference),
    };
    return cmocka_run_group_tests(tests, schema_setup, schema_teardown);
}
