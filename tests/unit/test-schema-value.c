/*
 * qmp_schema_validate_value() and its _str twin through the public API,
 * against QEMU 7.2's real schema (tests/data/qemu-7.2/): replies and events
 * captured from QEMU pass, values with one mistake fail with the message
 * that names it, and queries that name no single type are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qmp/qmp.h>

#include "data-loader.h"

static qmp_schema *g_schema;

static int group_setup(void **state)
{
    (void)state;
    size_t len;
    char *text = test_data_read(QEMU72_SCHEMA_FILE, &len);
    g_schema = test_schema_new(text, len);
    free(text);
    return g_schema ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    qmp_schema_unref(g_schema);
    return 0;
}

/* The "return" member of a captured reply file (a new reference). */
static json_t *captured_return(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "qemu-7.2/%s", name);
    size_t len;
    char *text = test_data_read(path, &len);
    json_t *reply = qmp_json_parse(text, len);
    free(text);
    assert_non_null(reply);
    json_t *ret = json_incref(json_object_get(reply, "return"));
    json_decref(reply);
    assert_non_null(ret);
    return ret;
}

static json_t *parse(const char *text)
{
    json_t *v = qmp_json_parse(text, strlen(text));
    if (!v)
        fail_msg("bad test JSON %s", text);
    return v;
}

/* Validates text against query; asserts QMP_EINVAL and the exact message. */
static void assert_refused(const char *query, const char *text, const char *message)
{
    json_t *v = parse(text);
    json_t *w = (json_t *)1;
    int rc = qmp_schema_validate_value(g_schema, query, v, 0, &w);
    json_decref(v);
    assert_int_equal(rc, QMP_EINVAL);
    assert_int_equal(qmp_error_last()->code, QMP_EINVAL);
    assert_null(w);
    assert_string_equal(qmp_error_last()->message, message);
}

static void assert_valid(const char *query, const json_t *v)
{
    json_t *w = NULL;
    int rc = qmp_schema_validate_value(g_schema, query, v, 0, &w);
    if (rc != 0)
        fail_msg("%s: %d %s", query, rc, qmp_error_last()->message);
    assert_true(json_is_array(w));
    assert_int_equal(json_array_size(w), 0);
    json_decref(w);
}

static void test_captured_replies_pass(void **state)
{
    (void)state;
    json_t *v = captured_return("query-status.json");
    assert_valid("query-status/ret-type", v);
    json_decref(v);
    v = captured_return("query-version.json");
    assert_valid("query-version/ret-type", v);
    json_decref(v);
}

/* The whole schema is a value of query-qmp-schema's ret-type, so every
 * SchemaInfo branch of 7.2 is exercised.  7.2 marks SchemaInfoEnum's
 * "values" deprecated (in favour of "members"), and its own reply has it in
 * every enum: one warning per enum entity, or refused at the first. */
static void test_captured_schema_passes_with_warnings(void **state)
{
    (void)state;
    json_t *v = captured_return("query-qmp-schema.json");
    size_t enums = 0, first = (size_t)-1, i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "meta-type")), "enum") == 0) {
            if (first == (size_t)-1)
                first = i;
            enums++;
        }
    }
    assert_true(enums > 100);
    json_t *w = NULL;
    assert_int_equal(qmp_schema_validate_value(g_schema, "query-qmp-schema/ret-type", v, 0, &w), 0);
    assert_int_equal(json_array_size(w), enums);
    char want[200];
    snprintf(want, sizeof want, "query-qmp-schema/ret-type: return[%zu].values: member 'values' is deprecated", first);
    assert_string_equal(json_string_value(json_array_get(w, 0)), want);
    json_decref(w);
    assert_int_equal(qmp_schema_validate_value(g_schema, "query-qmp-schema/ret-type", v, QMP_VALIDATE_DENY_DEPRECATED,
                                               NULL), QMP_EINVAL);
    snprintf(want, sizeof want,
             "query-qmp-schema/ret-type: return[%zu].values: member 'values' is deprecated "
             "(refused by QMP_VALIDATE_DENY_DEPRECATED)", first);
    assert_string_equal(qmp_error_last()->message, want);
    json_decref(v);
}

static void test_events_pass(void **state)
{
    (void)state;
    json_t *v = parse("{}");
    assert_valid("STOP/arg-type", v);
    json_decref(v);
    v = parse("{\"device\": \"disk0\", \"path\": \"/machine/peripheral/disk0\"}");
    assert_valid("DEVICE_DELETED/arg-type", v);
    json_decref(v);
    v = parse("{\"path\": \"/machine/peripheral-anon/device[0]\"}");
    assert_valid("DEVICE_DELETED/arg-type", v);
    json_decref(v);
}

static void test_members_and_named_types(void **state)
{
    (void)state;
    json_t *v = parse("\"paused\"");
    assert_valid("query-status/ret-type/status", v);
    json_decref(v);
    v = parse("{\"id\": \"d\"}");
    assert_valid("device_del/arg-type", v);
    json_decref(v);
    v = parse("42");
    assert_valid("int", v);
    json_decref(v);
}

static void test_mistakes_are_named(void **state)
{
    (void)state;
    assert_refused("query-status/ret-type", "{\"status\": \"runnin\", \"singlestep\": false, \"running\": true}",
                   "query-status/ret-type: return.status: 'runnin' is not one of debug, inmigrate, internal-error, "
                   "io-error, paused, postmigrate, prelaunch, finish-migrate, restore-vm, running, save-vm, "
                   "shutdown, suspended, watchdog, guest-panicked, colo");
    assert_refused("query-status/ret-type", "{\"status\": \"running\", \"singlestep\": false}",
                   "query-status/ret-type: return: missing required member 'running'");
    assert_refused("STOP/arg-type", "{\"reason\": 1}", "STOP/arg-type: data: unknown member 'reason'");
    assert_refused("DEVICE_DELETED/arg-type", "{\"device\": \"disk0\"}",
                   "DEVICE_DELETED/arg-type: data: missing required member 'path'");
    assert_refused("DEVICE_DELETED/arg-type", "{\"devcie\": \"d\", \"path\": \"/p\"}",
                   "DEVICE_DELETED/arg-type: data: unknown member 'devcie' (did you mean 'device'?)");
    assert_refused("device_del/arg-type", "{\"id\": 7}", "device_del/arg-type: arguments.id: expected str, got integer");
    assert_refused("query-status/ret-type/status", "\"bogus\"",
                   "query-status/ret-type/status: value: 'bogus' is not one of debug, inmigrate, internal-error, "
                   "io-error, paused, postmigrate, prelaunch, finish-migrate, restore-vm, running, save-vm, "
                   "shutdown, suspended, watchdog, guest-panicked, colo");
    assert_refused("int", "\"1\"", "int: value: expected int, got string");
    assert_refused("query-block/ret-type", "{}", "query-block/ret-type: return: expected an array, got object");
    assert_refused("query-block/ret-type", "[{\"device\": \"d\"}]",
                   "query-block/ret-type: return[0]: missing required member 'type'");
}

static void assert_bad_query(const char *query, const char *message)
{
    json_t *v = parse("{}");
    int rc = qmp_schema_validate_value(g_schema, query, v, 0, NULL);
    json_decref(v);
    assert_int_equal(rc, QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, message);
}

static void test_queries_without_one_type(void **state)
{
    (void)state;
    assert_bad_query("query-status", "schema query 'query-status' names the command 'query-status', not a type "
                                     "(add /arg-type or /ret-type)");
    assert_bad_query("STOP", "schema query 'STOP' names the event 'STOP', not a type (add /arg-type)");
    assert_bad_query("STOP/ret-type", "schema query 'STOP/ret-type': event 'STOP' has no 'ret-type' (use arg-type)");
    assert_bad_query("query-sttus/ret-type", "schema query 'query-sttus/ret-type': no command, event or type 'query-sttus'");
    assert_bad_query("query-status/ret-type/nope", "schema query 'query-status/ret-type/nope': no member 'nope'");
    assert_bad_query("query-status/ret-type/*status",
                     "schema query 'query-status/ret-type/*status': member 'status' is not optional");
    assert_bad_query("query-status/ret-type/^running",
                     "schema query 'query-status/ret-type/^running': '^running' is a test, not a type to validate against");
    assert_bad_query("blockdev-add/arg-type/+file",
                     "schema query 'blockdev-add/arg-type/+file': '+file' selects a union branch, not a type to "
                     "validate against");
    assert_bad_query("290/x", "schema query '290/x': 'x' is looked up in an alternate, whose branch depends on the value");
    assert_bad_query("str/x", "schema query 'str/x': 'x' is looked up in a type without members");
    assert_bad_query("a//b", "malformed schema query 'a//b': an empty component");
    assert_bad_query("", "malformed schema query: it is empty");
}

static void test_null_and_flags(void **state)
{
    (void)state;
    json_t *v = parse("{}");
    json_t *w = (json_t *)1;
    assert_int_equal(qmp_schema_validate_value(NULL, "STOP/arg-type", v, 0, &w), QMP_EINVAL);
    assert_null(w);
    assert_string_equal(qmp_error_last()->message, "the schema is NULL");
    assert_int_equal(qmp_schema_validate_value(g_schema, NULL, v, 0, NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "the schema query is NULL");
    assert_int_equal(qmp_schema_validate_value(g_schema, "STOP/arg-type", NULL, 0, NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "the value is NULL");
    assert_int_equal(qmp_schema_validate_value(g_schema, "STOP/arg-type", v, 64, NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "flags is 64: use QMP_VALIDATE flags");
    json_decref(v);
}

static void test_str_twin(void **state)
{
    (void)state;
    char *w = NULL;
    /* An integer above INT64_MAX is an int as far as QMP is concerned. */
    const char *big = "18446744073709551615";
    assert_int_equal(qmp_schema_validate_value_str(g_schema, "int", big, strlen(big), 0, &w), 0);
    assert_string_equal(w, "[]");
    qmp_free(w);
    const char *bad = "{\"status\": 1}";
    w = (char *)1;
    assert_int_equal(qmp_schema_validate_value_str(g_schema, "query-status/ret-type", bad, strlen(bad), 0, &w),
                     QMP_EINVAL);
    assert_null(w);
    assert_string_equal(qmp_error_last()->message,
                        "query-status/ret-type: return.status: expected a string (one of debug, inmigrate, "
                        "internal-error, io-error, paused, postmigrate, prelaunch, finish-migrate, restore-vm, "
                        "running, save-vm, shutdown, suspended, watchdog, guest-panicked, colo), got integer");
    const char *broken = "{\"status\": ";
    assert_int_equal(qmp_schema_validate_value_str(g_schema, "query-status/ret-type", broken, strlen(broken), 0, NULL),
                     QMP_EINVAL);
    assert_non_null(strstr(qmp_error_last()->message, "the value is not valid JSON"));
    assert_int_equal(qmp_schema_validate_value_str(g_schema, "int", NULL, 0, 0, NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "the value text is NULL");
}

/* A deprecated member in a value is a warning, or refused by flag. */
static void test_deprecated_in_value(void **state)
{
    (void)state;
    const char *schema =
        "[{\"name\": \"q\", \"meta-type\": \"command\", \"arg-type\": \"0\", \"ret-type\": \"1\"},"
        " {\"name\": \"0\", \"meta-type\": \"object\", \"members\": []},"
        " {\"name\": \"1\", \"meta-type\": \"object\", \"members\": ["
        "   {\"name\": \"old\", \"type\": \"int\", \"default\": null, \"features\": [\"deprecated\"]}]},"
        " {\"name\": \"int\", \"meta-type\": \"builtin\", \"json-type\": \"int\"}]";
    qmp_schema *s = qmp_schema_new_str(schema, strlen(schema));
    assert_non_null(s);
    char *w = NULL;
    const char *v = "{\"old\": 1}";
    assert_int_equal(qmp_schema_validate_value_str(s, "q/ret-type", v, strlen(v), 0, &w), 0);
    assert_string_equal(w, "[\"q/ret-type: return.old: member 'old' is deprecated\"]");
    qmp_free(w);
    assert_int_equal(qmp_schema_validate_value_str(s, "q/ret-type", v, strlen(v), QMP_VALIDATE_DENY_DEPRECATED, NULL),
                     QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message,
                        "q/ret-type: return.old: member 'old' is deprecated (refused by QMP_VALIDATE_DENY_DEPRECATED)");
    qmp_schema_unref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_captured_replies_pass),
        cmocka_unit_test(test_captured_schema_passes_with_warnings),
        cmocka_unit_test(test_events_pass),
        cmocka_unit_test(test_members_and_named_types),
        cmocka_unit_test(test_mistakes_are_named),
        cmocka_unit_test(test_queries_without_one_type),
        cmocka_unit_test(test_null_and_flags),
        cmocka_unit_test(test_str_twin),
        cmocka_unit_test(test_deprecated_in_value),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
