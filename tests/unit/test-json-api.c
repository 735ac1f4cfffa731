/*
 * The JSON helpers of qmp-json.h through the public API only: exact uint64
 * both ways, parse errors, qmp_json_get_uint64's refusals, and messages
 * free of function names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <qmp/qmp.h>

/* ---- helpers ------------------------------------------------------------ */

static json_t *parse(const char *text) { return qmp_json_parse(text, strlen(text)); }

/* parse then dumps gives back exactly `expected`. */
static void check_round_trip(const char *text, const char *expected) {
    json_t *v = parse(text);
    if (!v) fail_msg("parse of %s failed: %s", text, qmp_error_last()->message);
    char *out = qmp_json_dumps(v);
    assert_non_null(out);
    assert_string_equal(out, expected);
    qmp_free(out);
    json_decref(v);
}

/* parse fails with QMP_EINVAL and a message of its own. */
static void check_parse_error(const char *text, size_t length) {
    assert_null(qmp_json_parse(text, length));
    const qmp_error *e = qmp_error_last();
    assert_int_equal(e->code, QMP_EINVAL);
    assert_non_null(e->message);
    assert_true(strlen(e->message) > 0);
    assert_string_not_equal(e->message, qmp_strerror(QMP_EINVAL));
}

static void check_get_uint64_refused(json_t *value) {
    unsigned long long out = 12345;
    assert_int_equal(qmp_json_get_uint64(value, &out), QMP_EINVAL);
    assert_int_equal(qmp_error_last()->code, QMP_EINVAL);
    assert_true(out == 12345);
    json_decref(value);
}

/* ---- exact uint64 -------------------------------------------------------- */

static void test_round_trip_uint64_max(void **state) {
    (void)state;
    check_round_trip("18446744073709551615", "18446744073709551615");
}

static void test_round_trip_uint64_in_object(void **state) {
    (void)state;
    check_round_trip("{ \"a\": 18446744073709551615, \"b\": 9223372036854775808,\n"
                     "  \"c\": 9223372036854775807, \"d\": -9223372036854775808, \"e\": -1 }",
                     "{\"a\":18446744073709551615,\"b\":9223372036854775808,"
                     "\"c\":9223372036854775807,\"d\":-9223372036854775808,\"e\":-1}");
}

static void test_parsed_uint64_reads_back(void **state) {
    (void)state;
    json_t *v = parse("[18446744073709551615, 9223372036854775808, 0, 42]");
    assert_non_null(v);
    unsigned long long out = 0;
    assert_int_equal(qmp_json_get_uint64(json_array_get(v, 0), &out), QMP_OK);
    assert_true(out == ULLONG_MAX);
    assert_int_equal(qmp_json_get_uint64(json_array_get(v, 1), &out), QMP_OK);
    assert_true(out == 9223372036854775808ULL);
    assert_int_equal(qmp_json_get_uint64(json_array_get(v, 2), &out), QMP_OK);
    assert_true(out == 0);
    assert_int_equal(qmp_json_get_uint64(json_array_get(v, 3), &out), QMP_OK);
    assert_true(out == 42);
    json_decref(v);
}

static void test_json_uint64_exact_on_wire(void **state) {
    (void)state;
    const unsigned long long values[] = {0, 1, (unsigned long long)INT64_MAX,
                                         (unsigned long long)INT64_MAX + 1, ULLONG_MAX - 1, ULLONG_MAX};
    const char *texts[] = {"0", "1", "9223372036854775807", "9223372036854775808",
                           "18446744073709551614", "18446744073709551615"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        json_t *v = qmp_json_uint64(values[i]);
        assert_non_null(v);
        assert_true(json_is_integer(v));
        char *text = qmp_json_dumps(v);
        assert_non_null(text);
        assert_string_equal(text, texts[i]);
        qmp_free(text);
        unsigned long long out = 0;
        assert_int_equal(qmp_json_get_uint64(v, &out), QMP_OK);
        assert_true(out == values[i]);
        json_decref(v);
    }
}

static void test_json_uint64_inside_command(void **state) {
    (void)state;
    json_t *size = qmp_json_uint64(ULLONG_MAX);
    json_t *cmd = qmp_command_new("block_resize", "s:node-name", "n0", "a:size", &size, NULL);
    assert_non_null(cmd);
    assert_null(size);
    char *text = qmp_json_dumps(cmd);
    assert_string_equal(text, "{\"execute\":\"block_resize\",\"arguments\":"
                              "{\"node-name\":\"n0\",\"size\":18446744073709551615}}");
    qmp_free(text);
    json_decref(cmd);
}

/* ---- qmp_json_get_uint64 refusals ---------------------------------------- */

static void test_get_uint64_negative(void **state) {
    (void)state;
    check_get_uint64_refused(json_integer(-1));
}

static void test_get_uint64_parsed_negative(void **state) {
    (void)state;
    check_get_uint64_refused(parse("-9223372036854775808"));
}

static void test_get_uint64_real(void **state) {
    (void)state;
    check_get_uint64_refused(json_real(1.0));
}

static void test_get_uint64_parsed_real(void **state) {
    (void)state;
    check_get_uint64_refused(parse("18446744073709551616"));
}

static void test_get_uint64_string(void **state) {
    (void)state;
    check_get_uint64_refused(json_string("18446744073709551615"));
}

static void test_get_uint64_other_types(void **state) {
    (void)state;
    check_get_uint64_refused(json_true());
    check_get_uint64_refused(json_null());
    check_get_uint64_refused(json_array());
    check_get_uint64_refused(json_object());
}

static void test_get_uint64_null_arguments(void **state) {
    (void)state;
    unsigned long long out;
    assert_int_equal(qmp_json_get_uint64(NULL, &out), QMP_EINVAL);
    json_t *v = json_integer(1);
    assert_int_equal(qmp_json_get_uint64(v, NULL), QMP_EINVAL);
    json_decref(v);
}

static void test_get_uint64_plain(void **state) {
    (void)state;
    json_t *v = json_integer(INT64_MAX);
    unsigned long long out = 0;
    assert_int_equal(qmp_json_get_uint64(v, &out), QMP_OK);
    assert_true(out == (unsigned long long)INT64_MAX);
    json_decref(v);
}

/* ---- qmp_json_parse ---------------------------------------------------------- */

static void test_parse_values(void **state) {
    (void)state;
    json_t *v = parse(" {\"b\": 1, \"a\": [true, false, null, \"x\\u00e9\", 1.5, -7]} ");
    assert_non_null(v);
    json_t *want = json_pack("{s:i,s:[b,b,n,s,f,i]}", "b", 1, "a", 1, 0, "x\xc3\xa9", 1.5, -7);
    assert_true(json_equal(v, want));
    json_decref(want);
    json_decref(v);
}

static void test_parse_keeps_member_order(void **state) {
    (void)state;
    check_round_trip("{\"z\":1,\"a\":2,\"m\":{\"y\":[],\"b\":{}}}", "{\"z\":1,\"a\":2,\"m\":{\"y\":[],\"b\":{}}}");
}

static void test_parse_uses_length(void **state) {
    (void)state;
    const char *text = "[1,2]garbage";
    json_t *v = qmp_json_parse(text, 5);
    assert_non_null(v);
    assert_int_equal(json_array_size(v), 2);
    json_decref(v);
}

static void test_parse_error_truncated(void **state) {
    (void)state;
    check_parse_error("{\"a\": 1", 7);
}

static void test_parse_error_trailing_comma(void **state) {
    (void)state;
    check_parse_error("[1,]", 4);
}

static void test_parse_error_bad_literal(void **state) {
    (void)state;
    check_parse_error("nul", 3);
}

static void test_parse_error_trailing_garbage(void **state) {
    (void)state;
    check_parse_error("1 2", 3);
}

static void test_parse_error_empty(void **state) {
    (void)state;
    check_parse_error("", 0);
    check_parse_error("   ", 3);
}

static void test_parse_error_invalid_utf8(void **state) {
    (void)state;
    check_parse_error("\"\xff\"", 3);
    check_parse_error("\"\xc0\xaf\"", 4);
}

static void test_parse_error_embedded_nul(void **state) {
    (void)state;
    check_parse_error("[1,\0 2]", 7);
}

static void test_parse_error_too_deep(void **state) {
    (void)state;
    size_t depth = 1025;
    char *text = malloc(2 * depth);
    assert_non_null(text);
    memset(text, '[', depth);
    memset(text + depth, ']', depth);
    check_parse_error(text, 2 * depth);
    free(text);
}

static void test_parse_depth_limit_allows_1024(void **state) {
    (void)state;
    size_t depth = 1024;
    char *text = malloc(2 * depth);
    assert_non_null(text);
    memset(text, '[', depth);
    memset(text + depth, ']', depth);
    json_t *v = qmp_json_parse(text, 2 * depth);
    assert_non_null(v);
    json_decref(v);
    free(text);
}

static void test_parse_null_text(void **state) {
    (void)state;
    assert_null(qmp_json_parse(NULL, 0));
    assert_int_equal(qmp_error_last()->code, QMP_EINVAL);
}

/* ---- qmp_json_dumps ------------------------------------------------------ */

static void test_dumps_compact(void **state) {
    (void)state;
    json_t *v = json_pack("{s:[i,s,b,n],s:{}}", "list", 1, "two", 1, "empty");
    char *text = qmp_json_dumps(v);
    assert_string_equal(text, "{\"list\":[1,\"two\",true,null],\"empty\":{}}");
    qmp_free(text);
    json_decref(v);
}

static void test_dumps_scalar(void **state) {
    (void)state;
    json_t *v = json_string("a\"b\\c");
    char *text = qmp_json_dumps(v);
    assert_string_equal(text, "\"a\\\"b\\\\c\"");
    qmp_free(text);
    json_decref(v);
}

static void test_dumps_null(void **state) {
    (void)state;
    assert_null(qmp_json_dumps(NULL));
    assert_int_equal(qmp_error_last()->code, QMP_EINVAL);
}

/* ---- messages ----------------------------------------------------------- */

/*
 * The messages say what is wrong in words an application can show its user
 * as they are: no function names ("qmp_json_parse: ...").
 */
static void test_messages_name_no_function(void **state) {
    (void)state;
    assert_null(parse("{\"a\":"));
    assert_string_equal(qmp_error_last()->message, "malformed JSON: unexpected end of input at byte 5");
    assert_null(qmp_json_parse(NULL, 0));
    assert_string_equal(qmp_error_last()->message, "the text is NULL");
    unsigned long long out;
    assert_int_equal(qmp_json_get_uint64(NULL, &out), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "the value is NULL");
    json_t *minus = json_integer(-1);
    assert_int_equal(qmp_json_get_uint64(minus, &out), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "the value -1 is negative");
    json_decref(minus);
    assert_null(qmp_json_dumps(NULL));
    assert_string_equal(qmp_error_last()->message, "the value is NULL");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_uint64_max),
        cmocka_unit_test(test_round_trip_uint64_in_object),
        cmocka_unit_test(test_parsed_uint64_reads_back),
        cmocka_unit_test(test_json_uint64_exact_on_wire),
        cmocka_unit_test(test_json_uint64_inside_command),
        cmocka_unit_test(test_get_uint64_negative),
        cmocka_unit_test(test_get_uint64_parsed_negative),
        cmocka_unit_test(test_get_uint64_real),
        cmocka_unit_test(test_get_uint64_parsed_real),
        cmocka_unit_test(test_get_uint64_string),
        cmocka_unit_test(test_get_uint64_other_types),
        cmocka_unit_test(test_get_uint64_null_arguments),
        cmocka_unit_test(test_get_uint64_plain),
        cmocka_unit_test(test_parse_values),
        cmocka_unit_test(test_parse_keeps_member_order),
        cmocka_unit_test(test_parse_uses_length),
        cmocka_unit_test(test_parse_error_truncated),
        cmocka_unit_test(test_parse_error_trailing_comma),
        cmocka_unit_test(test_parse_error_bad_literal),
        cmocka_unit_test(test_parse_error_trailing_garbage),
        cmocka_unit_test(test_parse_error_empty),
        cmocka_unit_test(test_parse_error_invalid_utf8),
        cmocka_unit_test(test_parse_error_embedded_nul),
        cmocka_unit_test(test_parse_error_too_deep),
        cmocka_unit_test(test_parse_depth_limit_allows_1024),
        cmocka_unit_test(test_parse_null_text),
        cmocka_unit_test(test_dumps_compact),
        cmocka_unit_test(test_dumps_scalar),
        cmocka_unit_test(test_dumps_null),
        cmocka_unit_test(test_messages_name_no_function),
    };
    return cmocka_run_group_tests_name("json-api", tests, NULL, NULL);
}
