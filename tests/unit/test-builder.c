/*
 * The command builder of qmp-command.h, through the public API only:
 * every type code with typical, boundary and rule-breaking values, malformed
 * keys, duplicates, a/A ownership on failure, qmp_args_add, transactions,
 * out-of-band commands, escaping of untrusted names, and libvirt's
 * drive-mirror call byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <qmp/qmp.h>

#include "check-json.h"
#include "libvirt-calls.h"

/* ---- helpers ------------------------------------------------------------ */

/* Compares the exact wire text (member order, exact uint64). */
static void check_text(const json_t *got, const char *expected) {
    char *text = qmp_json_dumps(got);
    assert_non_null(text);
    assert_string_equal(text, expected);
    qmp_free(text);
}

/* Checks got with check_json, then drops it. */
static void check_json_free(json_t *got, const char *expected) {
    assert_non_null(got);
    check_json(got, expected);
    json_decref(got);
}

static void check_text_free(json_t *got, const char *expected) {
    assert_non_null(got);
    check_text(got, expected);
    json_decref(got);
}

/* A failure with QMP_EINVAL whose message contains every given piece. */
static void check_einval(const char *piece1, const char *piece2) {
    const qmp_error *e = qmp_error_last();
    assert_int_equal(e->code, QMP_EINVAL);
    assert_non_null(e->message);
    if (piece1 && !strstr(e->message, piece1))
        fail_msg("message \"%s\" does not contain \"%s\"", e->message, piece1);
    if (piece2 && !strstr(e->message, piece2))
        fail_msg("message \"%s\" does not contain \"%s\"", e->message, piece2);
}

/* A builder that returned NULL because of key: EINVAL naming it. */
static void check_rejected(json_t *result, const char *quoted_key) {
    assert_null(result);
    check_einval(quoted_key, NULL);
}

/* ---- qmp_command_new basics ------------------------------------------- */

static void test_command_without_pairs_has_no_arguments(void **state) {
    (void)state;
    json_t *cmd = qmp_command_new("query-status", NULL);
    assert_non_null(cmd);
    assert_null(json_object_get(cmd, "arguments"));
    check_text_free(cmd, "{\"execute\":\"query-status\"}");
}

static void test_command_with_all_pairs_omitted_has_no_arguments(void **state) {
    (void)state;
    json_t *cmd = qmp_command_new("query-status", "S:x", NULL, "z:y", 0, "B:z", 0, NULL);
    check_text_free(cmd, "{\"execute\":\"query-status\"}");
}

static void test_command_name_null(void **state) {
    (void)state;
    assert_null(qmp_command_new(NULL, "s:device", "x", NULL));
    check_einval("qmp_command_new", "name");
}

static void test_command_name_invalid_utf8(void **state) {
    (void)state;
    assert_null(qmp_command_new("bad\xff", NULL));
    check_einval("UTF-8", NULL);
}

static void test_member_order_follows_arguments(void **state) {
    (void)state;
    json_t *cmd = qmp_command_new("x", "s:zeta", "1", "i:alpha", 2, "b:mid", 1, "n:last", NULL);
    check_text_free(cmd, "{\"execute\":\"x\",\"arguments\":"
                         "{\"zeta\":\"1\",\"alpha\":2,\"mid\":true,\"last\":null}}");
}

static void test_error_message_is_exact(void **state) {
    (void)state;
    assert_null(qmp_command_new("drive-mirror", "s:device", "d", "j:speed", -1, NULL));
    assert_int_equal(qmp_error_last()->code, QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message,
                        "qmp_command_new(\"drive-mirror\"): key 'j:speed': value -1 is negative");
}

static void test_commandv(json_t **out, const char *name, ...) {
    va_list ap;
    va_start(ap, name);
    *out = qmp_command_newv(name, ap);
    va_end(ap);
}

static void test_command_newv(void **state) {
    (void)state;
    json_t *cmd;
    test_commandv(&cmd, "block-job-cancel", "s:device", "job0", "B:force", 1, NULL);
    check_text_free(cmd, "{\"execute\":\"block-job-cancel\",\"arguments\":{\"device\":\"job0\",\"force\":true}}");
    test_commandv(&cmd, "block-job-cancel", "q:device", "job0", NULL);
    check_rejected(cmd, "'q:device'");
}

/* ---- s / S --------------------------------------------------------------- */

static void test_s_typical(void **state) {
    (void)state;
    check_json_free(qmp_command_new("x", "s:device", "drive0", "s:empty", "", NULL),
                    "{\"execute\":\"x\",\"arguments\":{\"device\":\"drive0\",\"empty\":\"\"}}");
}

static void test_s_utf8_value(void **state) {
    (void)state;
    check_json_free(qmp_args_new("s:name", "gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80", NULL),
                    "{\"name\":\"gr\\u00fc\\u00df \\u20ac \\ud83d\\ude00\"}");
}

static void test_s_null_is_error(void **state) {
    (void)state;
    check_rejected(qmp_command_new("x", "s:device", (const char *)NULL, NULL), "'s:device'");
    check_einval("NULL", NULL);
}

static void test_s_invalid_utf8_is_error(void **state) {
    (void)state;
    check_rejected(qmp_command_new("x", "s:device", "a\xc0\xaf", NULL), "'s:device'");
    check_rejected(qmp_command_new("x", "s:device", "\xed\xa0\x80", NULL), "'s:device'");
}

static void test_S_null_omits(void **state) {
    (void)state;
    check_json_free(qmp_args_new("S:format", (const char *)NULL, "s:x", "y", NULL), "{\"x\":\"y\"}");
}

static void test_S_value(void **state) {
    (void)state;
    check_json_free(qmp_args_new("S:format", "qcow2", NULL), "{\"format\":\"qcow2\"}");
}

/* ---- i j k z y (int) ----------------------------------------------------- */

static void test_i_bounds(void **state) {
    (void)state;
    check_text_free(qmp_args_new("i:min", INT_MIN, "i:max", INT_MAX, "i:zero", 0, "i:neg", -1, NULL),
                    "{\"min\":-2147483648,\"max\":2147483647,\"zero\":0,\"neg\":-1}");
}

static void test_j_zero_and_max(void **state) {
    (void)state;
    check_json_free(qmp_args_new("j:a", 0, "j:b", INT_MAX, NULL), "{\"a\":0,\"b\":2147483647}");
}

static void test_j_negative_is_error(void **state) {
    (void)state;
    check_rejected(qmp_args_new("j:a", -1, NULL), "'j:a'");
    check_rejected(qmp_args_new("j:b", INT_MIN, NULL), "'j:b'");
    check_einval("-2147483648", "negative");
}

static void test_k_negative_omitted(void **state) {
    (void)state;
    check_json_free(qmp_args_new("k:a", -1, "k:b", INT_MIN, "k:c", 0, "k:d", INT_MAX, NULL),
                    "{\"c\":0,\"d\":2147483647}");
}

static void test_z_zero_omitted(void **state) {
    (void)state;
    check_json_free(qmp_args_new("z:a", 0, "z:b", -5, "z:c", INT_MIN, "z:d", INT_MAX, NULL),
                    "{\"b\":-5,\"c\":-2147483648,\"d\":2147483647}");
}

static void test_y_zero_omitted(void **state) {
    (void)state;
    check_json_free(qmp_args_new("y:a", 0, "y:b", 1, "y:c", INT_MAX, NULL),
                    "{\"b\":1,\"c\":2147483647}");
}

static void test_y_negative_is_error(void **state) {
    (void)state;
    check_rejected(qmp_args_new("y:a", -1, NULL), "'y:a'");
    check_rejected(qmp_args_new("y:b", INT_MIN, NULL), "'y:b'");
}

/* ---- I J K Z Y (long long) ----------------------------------------------- */

static void test_I_bounds(void **state) {
    (void)state;
    check_text_free(qmp_args_new("I:min", LLONG_MIN, "I:max", LLONG_MAX, "I:zero", 0LL, NULL),
                    "{\"min\":-9223372036854775808,\"max\":9223372036854775807,\"zero\":0}");
}

static void test_J_zero_and_max(void **state) {
    (void)state;
    check_text_free(qmp_args_new("J:a", 0LL, "J:b", LLONG_MAX, NULL),
                    "{\"a\":0,\"b\":9223372036854775807}");
}

static void test_J_negative_is_error(void **state) {
    (void)state;
    check_rejected(qmp_args_new("J:a", -1LL, NULL), "'J:a'");
    check_rejected(qmp_args_new("J:b", LLONG_MIN, NULL), "'J:b'");
    check_einval("-9223372036854775808", "negative");
}

static void test_K_negative_omitted(void **state) {
    (void)state;
    check_json_free(qmp_args_new("K:a", -1LL, "K:b", LLONG_MIN, "K:c", 0LL, "K:d", 7LL, NULL),
                    "{\"c\":0,\"d\":7}");
}

static void test_Z_zero_omitted(void **state) {
    (void)state;
    check_text_free(qmp_args_new("Z:a", 0LL, "Z:b", LLONG_MIN, "Z:c", LLONG_MAX, NULL),
                    "{\"b\":-9223372036854775808,\"c\":9223372036854775807}");
}

static void test_Y_zero_omitted(void **state) {
    (void)state;
    check_text_free(qmp_args_new("Y:a", 0LL, "Y:b", LLONG_MAX, NULL), "{\"b\":9223372036854775807}");
}

static void test_Y_negative_is_error(void **state) {
    (void)state;
    check_rejected(qmp_args_new("Y:a", -1LL, NULL), "'Y:a'");
    check_rejected(qmp_args_new("Y:b", LLONG_MIN, NULL), "'Y:b'");
}

/* ---- u p U P (unsigned) -------------------------------------------------- */

static void test_u_bounds(void **state) {
    (void)state;
    check_text_free(qmp_args_new("u:zero", 0u, "u:max", UINT_MAX, NULL), "{\"zero\":0,\"max\":4294967295}");
}

static void test_p_zero_omitted(void **state) {
    (void)state;
    check_text_free(qmp_args_new("p:a", 0u, "p:b", UINT_MAX, "p:c", 1u, NULL), "{\"b\":4294967295,\"c\":1}");
}

static void test_U_bounds_exact_on_wire(void **state) {
    (void)state;
    check_text_free(qmp_args_new("U:zero", 0ULL, "U:i64max", (unsigned long long)INT64_MAX,
                                 "U:above", (unsigned long long)INT64_MAX + 1, "U:max", ULLONG_MAX, NULL),
                    "{\"zero\":0,\"i64max\":9223372036854775807,"
                    "\"above\":9223372036854775808,\"max\":18446744073709551615}");
}

static void test_U_reads_back_exactly(void **state) {
    (void)state;
    json_t *args = qmp_args_new("U:max", ULLONG_MAX, NULL);
    assert_non_null(args);
    unsigned long long v = 0;
    assert_int_equal(qmp_json_get_uint64(json_object_get(args, "max"), &v), QMP_OK);
    assert_true(v == ULLONG_MAX);
    json_decref(args);
}

static void test_P_zero_omitted(void **state) {
    (void)state;
    check_text_free(qmp_args_new("P:a", 0ULL, "P:max", ULLONG_MAX, "P:one", 1ULL, NULL),
                    "{\"max\":18446744073709551615,\"one\":1}");
}

/* ---- b B T d n ---------------------------------------------------------- */

static void test_b_true_false(void **state) {
    (void)state;
    check_text_free(qmp_args_new("b:t", 1, "b:f", 0, "b:other", 5, NULL),
                    "{\"t\":true,\"f\":false,\"other\":true}");
}

static void test_B_false_omitted(void **state) {
    (void)state;
    check_text_free(qmp_args_new("B:f", 0, "B:t", 1, "B:other", -1, NULL), "{\"t\":true,\"other\":true}");
}

static void test_T_tristate(void **state) {
    (void)state;
    check_text_free(qmp_args_new("T:absent", QMP_TRISTATE_ABSENT, "T:yes", QMP_TRISTATE_YES,
                                 "T:no", QMP_TRISTATE_NO, NULL),
                    "{\"yes\":true,\"no\":false}");
}

static void test_T_invalid_is_error(void **state) {
    (void)state;
    check_rejected(qmp_args_new("T:x", 3, NULL), "'T:x'");
    check_rejected(qmp_args_new("T:y", -1, NULL), "'T:y'");
}

static void test_d_typical(void **state) {
    (void)state;
    json_t *args = qmp_args_new("d:half", 0.5, "d:zero", 0.0, "d:big", -1e300, "d:max", 1.7976931348623157e308, NULL);
    assert_non_null(args);
    assert_true(json_is_real(json_object_get(args, "half")));
    assert_true(json_real_value(json_object_get(args, "half")) == 0.5);
    assert_true(json_real_value(json_object_get(args, "zero")) == 0.0);
    assert_true(json_real_value(json_object_get(args, "big")) == -1e300);
    assert_true(json_real_value(json_object_get(args, "max")) == 1.7976931348623157e308);
    /* and the wire text reads back as the same doubles */
    char *text = qmp_json_dumps(args);
    assert_non_null(text);
    json_t *back = json_loads(text, 0, NULL);
    assert_non_null(back);
    assert_true(json_equal(back, args));
    json_decref(back);
    qmp_free(text);
    json_decref(args);
}

static void test_d_nan_is_error(void **state) {
    (void)state;
    check_rejected(qmp_args_new("d:x", (double)NAN, NULL), "'d:x'");
}

static void test_d_infinity_is_error(void **state) {
    (void)state;
    check_rejected(qmp_args_new("d:pos", (double)INFINITY, NULL), "'d:pos'");
    check_rejected(qmp_args_new("d:neg", -(double)INFINITY, NULL), "'d:neg'");
}

static void test_n_consumes_no_argument(void **state) {
    (void)state;
    check_text_free(qmp_args_new("n:x", "s:y", "z", "n:w", NULL), "{\"x\":null,\"y\":\"z\",\"w\":null}");
}

/* ---- a / A ---------------------------------------------------------------- */

static void test_a_steals_value(void **state) {
    (void)state;
    json_t *list = json_pack("[i,i]", 1, 2);
    json_t *keep = list;
    json_t *args = qmp_args_new("a:list", &list, NULL);
    assert_non_null(args);
    assert_null(list);
    assert_ptr_equal(json_object_get(args, "list"), keep);
    assert_int_equal(keep->refcount, 1);
    check_json_free(args, "{\"list\":[1,2]}");
}

static void test_a_null_value_is_error(void **state) {
    (void)state;
    json_t *v = NULL;
    check_rejected(qmp_args_new("a:x", &v, NULL), "'a:x'");
}

static void test_a_null_pointer_is_error(void **state) {
    (void)state;
    check_rejected(qmp_args_new("a:x", (json_t **)NULL, NULL), "'a:x'");
}

static void test_A_null_value_omits(void **state) {
    (void)state;
    json_t *v = NULL;
    check_json_free(qmp_args_new("A:x", &v, "i:y", 1, NULL), "{\"y\":1}");
}

static void test_A_value_is_stolen(void **state) {
    (void)state;
    json_t *v = json_pack("{s:s}", "driver", "null-co");
    check_json_free(qmp_args_new("A:options", &v, NULL), "{\"options\":{\"driver\":\"null-co\"}}");
    assert_null(v);
}

static void test_A_null_pointer_is_error(void **state) {
    (void)state;
    check_rejected(qmp_args_new("A:x", (json_t **)NULL, NULL), "'A:x'");
}

/* The rule of qmp-command.h: before the failing key stolen and freed, at and
 * after it untouched. valgrind proves nothing leaks and nothing is freed twice. */
static void test_a_ownership_on_value_failure(void **state) {
    (void)state;
    json_t *v1 = json_pack("{s:i}", "one", 1);
    json_t *v2 = json_pack("{s:i}", "two", 2);
    json_t *v2_before = v2;
    assert_null(qmp_command_new("x", "a:x", &v1, "j:bad", -1, "a:y", &v2, NULL));
    check_einval("'j:bad'", NULL);
    assert_null(v1);
    assert_ptr_equal(v2, v2_before);
    assert_int_equal(v2->refcount, 1);
    json_decref(v2);
}

static void test_a_ownership_when_a_itself_fails(void **state) {
    (void)state;
    json_t *v1 = json_string("one");
    json_t *v2 = json_string("dup");
    assert_null(qmp_command_new("x", "a:x", &v1, "a:x", &v2, NULL));
    check_einval("'a:x'", "duplicate");
    assert_null(v1);
    assert_non_null(v2);
    assert_int_equal(v2->refcount, 1);
    json_decref(v2);
}

static void test_a_ownership_on_malformed_key(void **state) {
    (void)state;
    json_t *v1 = json_integer(1);
    json_t *v2 = json_integer(2);
    assert_null(qmp_transaction_action_new("t", "A:x", &v1, "nocolon", &v2, NULL));
    check_einval("'nocolon'", NULL);
    assert_null(v1);
    assert_non_null(v2);
    json_decref(v2);
}

/* ---- malformed keys -------------------------------------------------------- */

static void test_key_without_code(void **state) {
    (void)state;
    check_rejected(qmp_command_new("x", ":device", "d", NULL), "':device'");
    check_einval("code", NULL);
}

static void test_key_empty(void **state) {
    (void)state;
    check_rejected(qmp_command_new("x", "", "d", NULL), "key ''");
}

static void test_key_without_colon(void **state) {
    (void)state;
    check_rejected(qmp_command_new("x", "sdevice", "d", NULL), "'sdevice'");
    check_einval("colon", NULL);
}

static void test_key_code_only(void **state) {
    (void)state;
    check_rejected(qmp_command_new("x", "s", "d", NULL), "'s'");
    check_einval("colon", NULL);
}

static void test_key_two_letter_code(void **state) {
    (void)state;
    check_rejected(qmp_command_new("x", "ss:device", "d", NULL), "'ss:device'");
}

static void test_key_unknown_code(void **state) {
    (void)state;
    check_rejected(qmp_command_new("x", "x:device", "d", NULL), "'x:device'");
    check_einval("unknown type code 'x'", NULL);
}

static void test_key_empty_name(void **state) {
    (void)state;
    check_rejected(qmp_command_new("x", "s:", "d", NULL), "'s:'");
    check_einval("empty member name", NULL);
}

static void test_key_name_invalid_utf8(void **state) {
    (void)state;
    check_rejected(qmp_command_new("x", "s:dev\xff", "d", NULL), "UTF-8");
}

static void test_malformed_key_after_good_ones(void **state) {
    (void)state;
    check_rejected(qmp_command_new("x", "s:a", "1", "i:b", 2, "?:c", 3, NULL), "'?:c'");
}

/* ---- duplicates -------------------------------------------------------- */

static void test_duplicate_member(void **state) {
    (void)state;
    check_rejected(qmp_command_new("x", "s:device", "a", "i:device", 2, NULL), "'i:device'");
    check_einval("duplicate", NULL);
}

/* As in libvirt, an omitted pair adds no member, so it cannot collide. */
static void test_omitted_pair_is_no_duplicate(void **state) {
    (void)state;
    check_json_free(qmp_args_new("S:format", (const char *)NULL, "s:format", "raw", "z:format", 0, NULL),
                    "{\"format\":\"raw\"}");
}

/* ---- qmp_args_new / qmp_args_add ----------------------------------------- */

static void test_args_new_empty(void **state) {
    (void)state;
    check_text_free(qmp_args_new(NULL), "{}");
}

static void test_args_new_error_names_key(void **state) {
    (void)state;
    check_rejected(qmp_args_new("s:a", "1", "J:b", -5LL, NULL), "qmp_args_new: key 'J:b'");
}

static void test_args_add_plain_object(void **state) {
    (void)state;
    json_t *args = qmp_args_new("s:node-name", "n0", NULL);
    assert_int_equal(qmp_args_add(args, "s:driver", "qcow2", "B:read-only", 1, NULL), QMP_OK);
    check_text_free(args, "{\"node-name\":\"n0\",\"driver\":\"qcow2\",\"read-only\":true}");
}

static void test_args_add_command_creates_arguments(void **state) {
    (void)state;
    json_t *cmd = qmp_command_new("blockdev-del", NULL);
    assert_int_equal(qmp_args_add(cmd, "s:node-name", "n0", NULL), QMP_OK);
    check_text_free(cmd, "{\"execute\":\"blockdev-del\",\"arguments\":{\"node-name\":\"n0\"}}");
}

static void test_args_add_command_extends_arguments(void **state) {
    (void)state;
    json_t *cmd = qmp_command_new("drive-mirror", "s:device", "d0", NULL);
    assert_int_equal(qmp_args_add(cmd, "s:target", "/t", "Y:speed", 10LL, NULL), QMP_OK);
    check_text_free(cmd, "{\"execute\":\"drive-mirror\",\"arguments\":"
                         "{\"device\":\"d0\",\"target\":\"/t\",\"speed\":10}}");
}

static void test_args_add_oob_command(void **state) {
    (void)state;
    json_t *cmd = qmp_command_new("migrate-pause", NULL);
    assert_int_equal(qmp_command_set_oob(cmd), QMP_OK);
    assert_int_equal(qmp_args_add(cmd, "i:x", 1, NULL), QMP_OK);
    check_text_free(cmd, "{\"exec-oob\":\"migrate-pause\",\"arguments\":{\"x\":1}}");
}

static void test_args_add_nothing(void **state) {
    (void)state;
    json_t *cmd = qmp_command_new("query-status", NULL);
    assert_int_equal(qmp_args_add(cmd, NULL), QMP_OK);
    assert_int_equal(qmp_args_add(cmd, "S:x", (const char *)NULL, NULL), QMP_OK);
    check_text_free(cmd, "{\"execute\":\"query-status\"}");
}

static void test_args_add_all_or_nothing(void **state) {
    (void)state;
    json_t *cmd = qmp_command_new("x", "s:a", "1", NULL);
    json_t *v1 = json_string("stolen");
    json_t *v2 = json_string("kept");
    assert_int_equal(qmp_args_add(cmd, "s:b", "2", "a:c", &v1, "y:bad", -3, "a:d", &v2, NULL), QMP_EINVAL);
    check_einval("qmp_args_add: key 'y:bad'", NULL);
    check_text(cmd, "{\"execute\":\"x\",\"arguments\":{\"a\":\"1\"}}");
    assert_null(v1);
    assert_non_null(v2);
    json_decref(v2);
    json_decref(cmd);
}

static void test_args_add_all_or_nothing_creates_nothing(void **state) {
    (void)state;
    json_t *cmd = qmp_command_new("x", NULL);
    assert_int_equal(qmp_args_add(cmd, "s:b", "2", "q:bad", 1, NULL), QMP_EINVAL);
    check_text_free(cmd, "{\"execute\":\"x\"}");
}

static void test_args_add_existing_member_is_duplicate(void **state) {
    (void)state;
    json_t *args = qmp_args_new("s:device", "d0", NULL);
    assert_int_equal(qmp_args_add(args, "s:new", "n", "s:device", "d1", NULL), QMP_EINVAL);
    check_einval("'s:device'", "duplicate");
    check_text_free(args, "{\"device\":\"d0\"}");
}

static void test_args_add_existing_argument_is_duplicate(void **state) {
    (void)state;
    json_t *cmd = qmp_command_new("x", "i:speed", 1, NULL);
    assert_int_equal(qmp_args_add(cmd, "I:speed", 2LL, NULL), QMP_EINVAL);
    check_einval("'I:speed'", "duplicate");
    check_text_free(cmd, "{\"execute\":\"x\",\"arguments\":{\"speed\":1}}");
}

static void test_args_add_null_object(void **state) {
    (void)state;
    assert_int_equal(qmp_args_add(NULL, "s:a", "b", NULL), QMP_EINVAL);
    check_einval("qmp_args_add", NULL);
}

static void test_args_add_not_an_object(void **state) {
    (void)state;
    json_t *array = json_array();
    assert_int_equal(qmp_args_add(array, "s:a", "b", NULL), QMP_EINVAL);
    check_einval("qmp_args_add", "object");
    assert_int_equal(json_array_size(array), 0);
    json_decref(array);
}

static void test_args_add_arguments_not_an_object(void **state) {
    (void)state;
    json_t *cmd = json_pack("{s:s,s:[]}", "execute", "x", "arguments");
    assert_int_equal(qmp_args_add(cmd, "s:a", "b", NULL), QMP_EINVAL);
    check_einval("arguments", NULL);
    check_text_free(cmd, "{\"execute\":\"x\",\"arguments\":[]}");
}

static void test_args_add_self_is_error(void **state) {
    (void)state;
    json_t *args = qmp_args_new("s:a", "b", NULL);
    json_t *self = args;
    assert_int_equal(qmp_args_add(args, "a:me", &self, NULL), QMP_EINVAL);
    check_einval("'a:me'", NULL);
    assert_ptr_equal(self, args);
    check_text_free(args, "{\"a\":\"b\"}");
}

static int call_args_addv(json_t *object, ...) {
    va_list ap;
    va_start(ap, object);
    int rc = qmp_args_addv(object, ap);
    va_end(ap);
    return rc;
}

static void test_args_addv(void **state) {
    (void)state;
    json_t *args = qmp_args_new(NULL);
    assert_int_equal(call_args_addv(args, "U:size", ULLONG_MAX, NULL), QMP_OK);
    check_text_free(args, "{\"size\":18446744073709551615}");
}

/* ---- transactions -------------------------------------------------------- */

static void test_transaction_action(void **state) {
    (void)state;
    check_text_free(qmp_transaction_action_new("block-dirty-bitmap-add", "s:node", "drive0",
                                               "s:name", "bitmap0", "B:persistent", 1, NULL),
                    "{\"type\":\"block-dirty-bitmap-add\",\"data\":"
                    "{\"node\":\"drive0\",\"name\":\"bitmap0\",\"persistent\":true}}");
}

static void test_transaction_action_without_pairs(void **state) {
    (void)state;
    check_text_free(qmp_transaction_action_new("abort", NULL), "{\"type\":\"abort\",\"data\":{}}");
}

static void test_transaction_action_type_null(void **state) {
    (void)state;
    assert_null(qmp_transaction_action_new(NULL, "s:a", "b", NULL));
    check_einval("qmp_transaction_action_new", "type");
}

static void test_transaction_action_error_names_key(void **state) {
    (void)state;
    check_rejected(qmp_transaction_action_new("block-dirty-bitmap-add", "s:node", (const char *)NULL, NULL),
                   "qmp_transaction_action_new(\"block-dirty-bitmap-add\"): key 's:node'");
}

static json_t *two_bitmap_adds(void) {
    json_t *actions = json_array();
    json_array_append_new(actions, qmp_transaction_action_new("block-dirty-bitmap-add",
                                                              "s:node", "drive0", "s:name", "bitmap0", NULL));
    json_array_append_new(actions, qmp_transaction_action_new("block-dirty-bitmap-add",
                                                              "s:node", "drive1", "s:name", "bitmap1",
                                                              "u:granularity", 65536u, NULL));
    return actions;
}

static void test_transaction_grouped(void **state) {
    (void)state;
    check_text_free(qmp_transaction_new(two_bitmap_adds(), "grouped"),
                    "{\"execute\":\"transaction\",\"arguments\":{\"actions\":["
                    "{\"type\":\"block-dirty-bitmap-add\",\"data\":{\"node\":\"drive0\",\"name\":\"bitmap0\"}},"
                    "{\"type\":\"block-dirty-bitmap-add\",\"data\":{\"node\":\"drive1\",\"name\":\"bitmap1\","
                    "\"granularity\":65536}}],"
                    "\"properties\":{\"completion-mode\":\"grouped\"}}}");
}

static void test_transaction_without_mode(void **state) {
    (void)state;
    json_t *cmd = qmp_transaction_new(two_bitmap_adds(), NULL);
    assert_non_null(cmd);
    assert_null(json_object_get(json_object_get(cmd, "arguments"), "properties"));
    check_text_free(cmd,
                    "{\"execute\":\"transaction\",\"arguments\":{\"actions\":["
                    "{\"type\":\"block-dirty-bitmap-add\",\"data\":{\"node\":\"drive0\",\"name\":\"bitmap0\"}},"
                    "{\"type\":\"block-dirty-bitmap-add\",\"data\":{\"node\":\"drive1\",\"name\":\"bitmap1\","
                    "\"granularity\":65536}}]}}");
}

static void test_transaction_actions_null(void **state) {
    (void)state;
    assert_null(qmp_transaction_new(NULL, "grouped"));
    check_einval("qmp_transaction_new", "actions");
}

/* Stolen also on failure: valgrind shows the object is freed. */
static void test_transaction_actions_not_array(void **state) {
    (void)state;
    json_t *not_array = json_pack("{s:s}", "type", "abort");
    assert_null(qmp_transaction_new(not_array, NULL));
    check_einval("qmp_transaction_new", "array");
}

/* ---- out of band --------------------------------------------------------- */

static void test_set_oob_renames_execute(void **state) {
    (void)state;
    json_t *cmd = qmp_command_new("migrate-pause", NULL);
    assert_int_equal(qmp_command_set_oob(cmd), QMP_OK);
    check_text_free(cmd, "{\"exec-oob\":\"migrate-pause\"}");
}

static void test_set_oob_keeps_member_order(void **state) {
    (void)state;
    json_t *cmd = qmp_command_new("x", "i:a", 1, "i:b", 2, NULL);
    json_t *args = json_object_get(cmd, "arguments");
    json_object_set_new(cmd, "id", json_string("7"));
    assert_int_equal(qmp_command_set_oob(cmd), QMP_OK);
    assert_ptr_equal(json_object_get(cmd, "arguments"), args);
    check_text_free(cmd, "{\"exec-oob\":\"x\",\"arguments\":{\"a\":1,\"b\":2},\"id\":\"7\"}");
}

static void test_set_oob_execute_not_first(void **state) {
    (void)state;
    json_t *cmd = json_pack("{s:s,s:s,s:{}}", "id", "1", "execute", "x", "arguments");
    assert_int_equal(qmp_command_set_oob(cmd), QMP_OK);
    check_text_free(cmd, "{\"id\":\"1\",\"exec-oob\":\"x\",\"arguments\":{}}");
}

static void test_set_oob_keeps_big_uint64(void **state) {
    (void)state;
    json_t *cmd = qmp_command_new("x", "U:big", ULLONG_MAX, NULL);
    assert_int_equal(qmp_command_set_oob(cmd), QMP_OK);
    check_text_free(cmd, "{\"exec-oob\":\"x\",\"arguments\":{\"big\":18446744073709551615}}");
}

static void test_set_oob_null(void **state) {
    (void)state;
    assert_int_equal(qmp_command_set_oob(NULL), QMP_EINVAL);
    check_einval("qmp_command_set_oob", NULL);
}

static void test_set_oob_without_execute(void **state) {
    (void)state;
    json_t *args = qmp_args_new("s:a", "b", NULL);
    assert_int_equal(qmp_command_set_oob(args), QMP_EINVAL);
    check_einval("execute", NULL);
    check_text_free(args, "{\"a\":\"b\"}");
}

static void test_set_oob_twice(void **state) {
    (void)state;
    json_t *cmd = qmp_command_new("x", NULL);
    assert_int_equal(qmp_command_set_oob(cmd), QMP_OK);
    assert_int_equal(qmp_command_set_oob(cmd), QMP_EINVAL);
    check_text_free(cmd, "{\"exec-oob\":\"x\"}");
}

static void test_set_oob_execute_not_a_string(void **state) {
    (void)state;
    json_t *cmd = json_pack("{s:i}", "execute", 1);
    assert_int_equal(qmp_command_set_oob(cmd), QMP_EINVAL);
    check_text_free(cmd, "{\"execute\":1}");
}

static void test_set_oob_not_an_object(void **state) {
    (void)state;
    json_t *s = json_string("execute");
    assert_int_equal(qmp_command_set_oob(s), QMP_EINVAL);
    json_decref(s);
}

/* ---- untrusted strings --------------------------------------------------- */

static void test_quotes_cannot_inject_members(void **state) {
    (void)state;
    json_t *cmd = qmp_command_new("x\"}, \"evil\": {\"",
                                  "s:a\"b", "v\"}, \"injected\": \"1",
                                  "s:back\\slash", "\\", NULL);
    assert_non_null(cmd);
    check_text(cmd, "{\"execute\":\"x\\\"}, \\\"evil\\\": {\\\"\","
                    "\"arguments\":{\"a\\\"b\":\"v\\\"}, \\\"injected\\\": \\\"1\","
                    "\"back\\\\slash\":\"\\\\\"}}");
    /* and the text reads back as the same two members, nothing more */
    char *text = qmp_json_dumps(cmd);
    json_t *back = json_loads(text, 0, NULL);
    assert_non_null(back);
    assert_int_equal(json_object_size(back), 2);
    assert_int_equal(json_object_size(json_object_get(back, "arguments")), 2);
    assert_true(json_equal(back, cmd));
    json_decref(back);
    qmp_free(text);
    json_decref(cmd);
}

static void test_control_characters_escaped(void **state) {
    (void)state;
    json_t *cmd = qmp_command_new("cmd\n\x01", "s:k\t\x1f", "line\r\nbreak\b\f", NULL);
    assert_non_null(cmd);
    char *text = qmp_json_dumps(cmd);
    assert_non_null(text);
    for (const char *p = text; *p; p++) assert_true((unsigned char)*p >= 0x20);
    json_t *back = json_loads(text, 0, NULL);
    assert_non_null(back);
    assert_true(json_equal(back, cmd));
    assert_string_equal(json_string_value(json_object_get(back, "execute")), "cmd\n\x01");
    assert_string_equal(json_string_value(json_object_get(json_object_get(back, "arguments"), "k\t\x1f")),
                        "line\r\nbreak\b\f");
    json_decref(back);
    qmp_free(text);
    json_decref(cmd);
}

/* ---- libvirt's drive-mirror ------------------------------------------------ */

static void test_libvirt_drive_mirror_defaults(void **state) {
    (void)state;
    check_text_free(libvirt_drive_mirror("drive-virtio-disk0", "/tmp/mirror.qcow2", "qcow2",
                                 1048576, 0, 0, 0, 1),
                    "{\"execute\":\"drive-mirror\",\"arguments\":{\"device\":\"drive-virtio-disk0\","
                    "\"target\":\"/tmp/mirror.qcow2\",\"speed\":1048576,\"sync\":\"full\","
                    "\"mode\":\"existing\",\"format\":\"qcow2\"}}");
}

static void test_libvirt_drive_mirror_granularity_buf_size(void **state) {
    (void)state;
    check_text_free(libvirt_drive_mirror("drive-virtio-disk0", "/tmp/mirror.qcow2", NULL,
                                 1048576, 65536, 8388608, 1, 0),
                    "{\"execute\":\"drive-mirror\",\"arguments\":{\"device\":\"drive-virtio-disk0\","
                    "\"target\":\"/tmp/mirror.qcow2\",\"speed\":1048576,\"granularity\":65536,"
                    "\"buf-size\":8388608,\"sync\":\"top\",\"mode\":\"absolute-paths\"}}");
}

static void test_libvirt_drive_mirror_no_speed(void **state) {
    (void)state;
    check_text_free(libvirt_drive_mirror("d", "/t", NULL, 0, 0, 0, 0, 0),
                    "{\"execute\":\"drive-mirror\",\"arguments\":{\"device\":\"d\",\"target\":\"/t\","
                    "\"sync\":\"full\",\"mode\":\"absolute-paths\"}}");
}

static void test_libvirt_drive_mirror_missing_device(void **state) {
    (void)state;
    check_rejected(libvirt_drive_mirror(NULL, "/t", NULL, 0, 0, 0, 0, 0),
                   "qmp_command_new(\"drive-mirror\"): key 's:device'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_without_pairs_has_no_arguments),
        cmocka_unit_test(test_command_with_all_pairs_omitted_has_no_arguments),
        cmocka_unit_test(test_command_name_null),
        cmocka_unit_test(test_command_name_invalid_utf8),
        cmocka_unit_test(test_member_order_follows_arguments),
        cmocka_unit_test(test_error_message_is_exact),
        cmocka_unit_test(test_command_newv),
        cmocka_unit_test(test_s_typical),
        cmocka_unit_test(test_s_utf8_value),
        cmocka_unit_test(test_s_null_is_error),
        cmocka_unit_test(test_s_invalid_utf8_is_error),
        cmocka_unit_test(test_S_null_omits),
        cmocka_unit_test(test_S_value),
        cmocka_unit_test(test_i_bounds),
        cmocka_unit_test(test_j_zero_and_max),
        cmocka_unit_test(test_j_negative_is_error),
        cmocka_unit_test(test_k_negative_omitted),
        cmocka_unit_test(test_z_zero_omitted),
        cmocka_unit_test(test_y_zero_omitted),
        cmocka_unit_test(test_y_negative_is_error),
        cmocka_unit_test(test_I_bounds),
        cmocka_unit_test(test_J_zero_and_max),
        cmocka_unit_test(test_J_negative_is_error),
        cmocka_unit_test(test_K_negative_omitted),
        cmocka_unit_test(test_Z_zero_omitted),
        cmocka_unit_test(test_Y_zero_omitted),
        cmocka_unit_test(test_Y_negative_is_error),
        cmocka_unit_test(test_u_bounds),
        cmocka_unit_test(test_p_zero_omitted),
        cmocka_unit_test(test_U_bounds_exact_on_wire),
        cmocka_unit_test(test_U_reads_back_exactly),
        cmocka_unit_test(test_P_zero_omitted),
        cmocka_unit_test(test_b_true_false),
        cmocka_unit_test(test_B_false_omitted),
        cmocka_unit_test(test_T_tristate),
        cmocka_unit_test(test_T_invalid_is_error),
        cmocka_unit_test(test_d_typical),
        cmocka_unit_test(test_d_nan_is_error),
        cmocka_unit_test(test_d_infinity_is_error),
        cmocka_unit_test(test_n_consumes_no_argument),
        cmocka_unit_test(test_a_steals_value),
        cmocka_unit_test(test_a_null_value_is_error),
        cmocka_unit_test(test_a_null_pointer_is_error),
        cmocka_unit_test(test_A_null_value_omits),
        cmocka_unit_test(test_A_value_is_stolen),
        cmocka_unit_test(test_A_null_pointer_is_error),
        cmocka_unit_test(test_a_ownership_on_value_failure),
        cmocka_unit_test(test_a_ownership_when_a_itself_fails),
        cmocka_unit_test(test_a_ownership_on_malformed_key),
        cmocka_unit_test(test_key_without_code),
        cmocka_unit_test(test_key_empty),
        cmocka_unit_test(test_key_without_colon),
        cmocka_unit_test(test_key_code_only),
        cmocka_unit_test(test_key_two_letter_code),
        cmocka_unit_test(test_key_unknown_code),
        cmocka_unit_test(test_key_empty_name),
        cmocka_unit_test(test_key_name_invalid_utf8),
        cmocka_unit_test(test_malformed_key_after_good_ones),
        cmocka_unit_test(test_duplicate_member),
        cmocka_unit_test(test_omitted_pair_is_no_duplicate),
        cmocka_unit_test(test_args_new_empty),
        cmocka_unit_test(test_args_new_error_names_key),
        cmocka_unit_test(test_args_add_plain_object),
        cmocka_unit_test(test_args_add_command_creates_arguments),
        cmocka_unit_test(test_args_add_command_extends_arguments),
        cmocka_unit_test(test_args_add_oob_command),
        cmocka_unit_test(test_args_add_nothing),
        cmocka_unit_test(test_args_add_all_or_nothing),
        cmocka_unit_test(test_args_add_all_or_nothing_creates_nothing),
        cmocka_unit_test(test_args_add_existing_member_is_duplicate),
        cmocka_unit_test(test_args_add_existing_argument_is_duplicate),
        cmocka_unit_test(test_args_add_null_object),
        cmocka_unit_test(test_args_add_not_an_object),
        cmocka_unit_test(test_args_add_arguments_not_an_object),
        cmocka_unit_test(test_args_add_self_is_error),
        cmocka_unit_test(test_args_addv),
        cmocka_unit_test(test_transaction_action),
        cmocka_unit_test(test_transaction_action_without_pairs),
        cmocka_unit_test(test_transaction_action_type_null),
        cmocka_unit_test(test_transaction_action_error_names_key),
        cmocka_unit_test(test_transaction_grouped),
        cmocka_unit_test(test_transaction_without_mode),
        cmocka_unit_test(test_transaction_actions_null),
        cmocka_unit_test(test_transaction_actions_not_array),
        cmocka_unit_test(test_set_oob_renames_execute),
        cmocka_unit_test(test_set_oob_keeps_member_order),
        cmocka_unit_test(test_set_oob_execute_not_first),
        cmocka_unit_test(test_set_oob_keeps_big_uint64),
        cmocka_unit_test(test_set_oob_null),
        cmocka_unit_test(test_set_oob_without_execute),
        cmocka_unit_test(test_set_oob_twice),
        cmocka_unit_test(test_set_oob_execute_not_a_string),
        cmocka_unit_test(test_set_oob_not_an_object),
        cmocka_unit_test(test_quotes_cannot_inject_members),
        cmocka_unit_test(test_control_characters_escaped),
        cmocka_unit_test(test_libvirt_drive_mirror_defaults),
        cmocka_unit_test(test_libvirt_drive_mirror_granularity_buf_size),
        cmocka_unit_test(test_libvirt_drive_mirror_no_speed),
        cmocka_unit_test(test_libvirt_drive_mirror_missing_device),
    };
    return cmocka_run_group_tests_name("builder", tests, NULL, NULL);
}
