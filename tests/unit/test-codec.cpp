// JSON text <-> jansson: the parser (numbers incl. big uint64, strings,
// escapes, UTF-8, depth, errors) and the compact encoder, on real QEMU 7.2
// output too.
#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <csetjmp>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

extern "C" {
#include <cmocka.h>
}

#include <jansson.h>
#include <locale.h>

#include "qemu-data.h"

#include "wire/codec.h"
#include "wire/uint64.h"

using qmp::Error;
using qmp::wire::encode;
using qmp::wire::encode_string;
using qmp::wire::parse;

// newlocale() fails in this program, as it may when memory runs out: the
// parser must read reals without a locale object of its own.
extern "C" locale_t newlocale(int, const char *, locale_t) {
    errno = ENOMEM;
    return static_cast<locale_t>(0);
}

namespace {


json_t *parse_ok(const std::string &text, size_t max_depth = 1024) {
    json_t *v = nullptr;
    Error e = parse(text.data(), text.size(), &v, max_depth);
    if (e) fail_msg("parse of %s: %d %s", text.substr(0, 80).c_str(), e.code, e.message.c_str());
    assert_non_null(v);
    return v;
}

std::string enc(const json_t *v) {
    std::string s;
    Error e = encode(v, s);
    if (e) fail_msg("encode: %s", e.message.c_str());
    return s;
}

// parse then encode
std::string reencode(const std::string &text) {
    json_t *v = parse_ok(text);
    std::string s = enc(v);
    json_decref(v);
    return s;
}

void expect_parse_error(const std::string &text, int code, const char *message = nullptr, size_t max_depth = 1024) {
    json_t *v = reinterpret_cast<json_t *>(0x1);
    Error e = parse(text.data(), text.size(), &v, max_depth);
    if (e.code != code)
        fail_msg("parse of '%s': got %d (%s), want %d", text.substr(0, 80).c_str(), e.code, e.message.c_str(), code);
    assert_null(v);
    if (message) assert_string_equal(e.message.c_str(), message);
}

// ---------------------------------------------------------------- parse

void test_parse_scalars(void **) {
    json_t *v = parse_ok("true");
    assert_true(json_is_true(v));
    json_decref(v);
    v = parse_ok(" \t\r\nfalse\n");
    assert_true(json_is_false(v));
    json_decref(v);
    v = parse_ok("null");
    assert_true(json_is_null(v));
    json_decref(v);
    v = parse_ok("\"abc\"");
    assert_string_equal(json_string_value(v), "abc");
    json_decref(v);
    v = parse_ok("-12");
    assert_int_equal(json_integer_value(v), -12);
    json_decref(v);
}

void test_parse_containers(void **) {
    json_t *v = parse_ok("{ \"a\" : [ 1 , { } , [ ] , \"x\" ] , \"b\" : { \"c\" : null } }");
    json_t *want = json_pack("{s:[i,{},[],s],s:{s:n}}", "a", 1, "x", "b", "c");
    assert_true(json_equal(v, want));
    json_decref(v);
    json_decref(want);
    v = parse_ok("[]");
    assert_int_equal(json_array_size(v), 0);
    json_decref(v);
    v = parse_ok("{}");
    assert_int_equal(json_object_size(v), 0);
    json_decref(v);
}

void test_parse_duplicate_keys_last_wins(void **) {
    json_t *v = parse_ok("{\"a\": 1, \"b\": 2, \"a\": {\"x\": 3}}");
    assert_int_equal(json_object_size(v), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "a"), "x")), 3);
    json_decref(v);
}

void test_parse_integers(void **) {
    struct {
        const char *text;
        long long want;
    } cases[] = {
        {"0", 0},
        {"-0", 0},
        {"9223372036854775807", INT64_MAX},
        {"-9223372036854775807", -INT64_MAX},
        {"-9223372036854775808", INT64_MIN},
        {"1234567890", 1234567890},
    };
    for (auto &c : cases) {
        json_t *v = parse_ok(c.text);
        assert_true(json_is_integer(v));
        assert_true(json_integer_value(v) == c.want);
        assert_false(qmp::wire::is_big_uint64(v));
        json_decref(v);
    }
}

void test_parse_big_uint64(void **) {
    struct {
        const char *text;
        unsigned long long want;
    } cases[] = {
        {"9223372036854775808", 9223372036854775808ull},
        {"18446744073709551615", UINT64_MAX},
        {"12345678901234567890", 12345678901234567890ull},
    };
    for (auto &c : cases) {
        json_t *v = parse_ok(c.text);
        assert_true(json_is_integer(v));
        assert_true(qmp::wire::is_big_uint64(v));
        unsigned long long u = 0;
        assert_true(qmp::wire::get_uint64(v, &u));
        assert_true(u == c.want);
        assert_string_equal(enc(v).c_str(), c.text);
        json_decref(v);
    }
    // inside containers, both ways
    assert_string_equal(reencode("{\"size\": 18446744073709551615, \"n\": [9223372036854775808, -1]}").c_str(),
                        "{\"size\":18446744073709551615,\"n\":[9223372036854775808,-1]}");
}

void test_encode_big_uint64_built(void **) {
    json_t *v = json_pack("{s:o,s:o,s:I}", "a", qmp::wire::uint64_new(UINT64_MAX), "b",
                          qmp::wire::uint64_new(42), "c", (json_int_t)-1);
    assert_string_equal(enc(v).c_str(), "{\"a\":18446744073709551615,\"b\":42,\"c\":-1}");
    json_decref(v);
}

void test_parse_integers_beyond_uint64_are_reals(void **) {
    json_t *v = parse_ok("18446744073709551616");
    assert_true(json_is_real(v));
    assert_true(json_real_value(v) == 18446744073709551616.0);
    json_decref(v);
    v = parse_ok("-9223372036854775809");
    assert_true(json_is_real(v));
    assert_true(json_real_value(v) == -9223372036854775808.0);
    json_decref(v);
    v = parse_ok("123456789012345678901234567890");
    assert_true(json_is_real(v));
    assert_true(json_real_value(v) == 1.2345678901234568e29);
    json_decref(v);
}

void test_parse_reals(void **) {
    struct {
        const char *text;
        double want;
    } cases[] = {
        {"1.5", 1.5},   {"-0.25", -0.25}, {"1e3", 1000.0},       {"1E+3", 1000.0},
        {"2e-3", 0.002}, {"0.0", 0.0},     {"-0.0", -0.0},        {"1.7976931348623157e308", DBL_MAX},
        {"5e-324", 5e-324}, {"1e-400", 0.0}, {"0.1", 0.1},        {"1.0", 1.0},
    };
    for (auto &c : cases) {
        json_t *v = parse_ok(c.text);
        assert_true(json_is_real(v));
        assert_true(json_real_value(v) == c.want);
        json_decref(v);
    }
    json_t *v = parse_ok("-0.0");
    assert_true(std::signbit(json_real_value(v)));
    json_decref(v);
}

void test_parse_real_overflow(void **) {
    expect_parse_error("1e400", QMP_EPROTO, "malformed JSON: number out of range at byte 0");
    expect_parse_error("[1, -1e999]", QMP_EPROTO, "malformed JSON: number out of range at byte 4");
    expect_parse_error("1e99999999999999999999", QMP_EPROTO, "malformed JSON: number out of range at byte 0");
    // A negative exponent does not make it small: 10^400 * 10^-10.
    expect_parse_error("1" + std::string(400, '0') + "e-10", QMP_EPROTO,
                       "malformed JSON: number out of range at byte 0");
    expect_parse_error("0.00001e314", QMP_EPROTO, "malformed JSON: number out of range at byte 0");
}

// Too small for a double: zero with the number's sign, as strtod gives.
void test_parse_real_underflow(void **) {
    struct {
        std::string text;
        bool negative;
    } cases[] = {
        {"1e-400", false},
        {"-1e-400", true},
        {"1e-99999999999999999999", false},
        {"0." + std::string(400, '0') + "1", false},
        {"-0." + std::string(330, '0') + "25e3", true},
        {"1000e-330", false},
    };
    for (auto &c : cases) {
        json_t *v = parse_ok(c.text);
        assert_true(json_is_real(v));
        assert_true(json_real_value(v) == 0.0);
        assert_int_equal(std::signbit(json_real_value(v)) ? 1 : 0, c.negative ? 1 : 0);
        json_decref(v);
    }
    // The smallest subnormals are still in range.
    json_t *v = parse_ok("4.9e-324");
    assert_true(json_real_value(v) == 5e-324);
    json_decref(v);
    v = parse_ok("0.001e-320");
    assert_true(json_real_value(v) == 1e-323);
    json_decref(v);
}

// Reals are read without the application's locale and without creating
// one: newlocale() fails in this program (see the top), and every value
// still reads exactly.
void test_parse_reals_without_newlocale(void **) {
    assert_null(newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(0)));
    const char *texts[] = {"0.5", "-2.75e2", "3.141592653589793", "1e-5", "12345678901234567890123"};
    const double want[] = {0.5, -275.0, 3.141592653589793, 1e-5, 12345678901234567890123.0};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        json_t *v = parse_ok(texts[i]);
        assert_true(json_is_real(v));
        assert_true(json_real_value(v) == want[i]);
        json_decref(v);
    }
}

void test_parse_strings_and_escapes(void **) {
    json_t *v = parse_ok("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20ac\\ud83d\\ude00\\uDBFF\\uDFFF\"");
    const char want[] = "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf";
    assert_int_equal(json_string_length(v), sizeof want - 1);
    assert_memory_equal(json_string_value(v), want, sizeof want - 1);
    json_decref(v);
    // raw UTF-8 kept
    v = parse_ok("\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    assert_string_equal(json_string_value(v), "caf\xc3\xa9 \xf0\x9f\x98\x80");
    json_decref(v);
}

void test_parse_nul_in_strings(void **) {
    json_t *v = parse_ok("{\"a\\u0000b\": \"x\\u0000y\"}");
    assert_int_equal(json_object_size(v), 1);
    const char *key;
    size_t key_len;
    json_t *val;
    json_object_keylen_foreach(v, key, key_len, val) {
        assert_int_equal(key_len, 3);
        assert_memory_equal(key, "a\0b", 3);
        assert_int_equal(json_string_length(val), 3);
        assert_memory_equal(json_string_value(val), "x\0y", 3);
    }
    assert_string_equal(enc(v).c_str(), "{\"a\\u0000b\":\"x\\u0000y\"}");
    json_decref(v);
}

void test_parse_errors(void **) {
    struct {
        const char *text;
        const char *message;
    } cases[] = {
        {"", "malformed JSON: unexpected end of input at byte 0"},
        {"   ", "malformed JSON: unexpected end of input at byte 3"},
        {"{", "malformed JSON: unexpected end of input at byte 1"},
        {"[1,", "malformed JSON: unexpected end of input at byte 3"},
        {"[1,]", "malformed JSON: unexpected ']' at byte 3"},
        {"{\"a\"}", "malformed JSON: unexpected '}' at byte 4"},
        {"{\"a\":1,}", "malformed JSON: unexpected '}' at byte 7"},
        {"{1:2}", "malformed JSON: unexpected '1' at byte 1"},
        {"[1 2]", "malformed JSON: unexpected '2' at byte 3"},
        {"1 2", "malformed JSON: unexpected '2' at byte 2"},
        {"{} x", "malformed JSON: unexpected 'x' at byte 3"},
        {"tru", "malformed JSON: unexpected end of input at byte 3"},
        {"trux", "malformed JSON: unexpected 'x' at byte 3"},
        {"nul", "malformed JSON: unexpected end of input at byte 3"},
        {"01", "malformed JSON: unexpected '1' at byte 1"},
        {"-", "malformed JSON: unexpected end of input at byte 1"},
        {"1.", "malformed JSON: unexpected end of input at byte 2"},
        {"1.e3", "malformed JSON: unexpected 'e' at byte 2"},
        {"1e", "malformed JSON: unexpected end of input at byte 2"},
        {"1e+", "malformed JSON: unexpected end of input at byte 3"},
        {".5", "malformed JSON: unexpected '.' at byte 0"},
        {"+1", "malformed JSON: unexpected '+' at byte 0"},
        {"[}", "malformed JSON: unexpected '}' at byte 1"},
        {"{]", "malformed JSON: unexpected ']' at byte 1"},
        {"[1}", "malformed JSON: unexpected '}' at byte 2"},
        {"\"abc", "malformed JSON: unexpected end of input at byte 4"},
        {"\"\\x\"", "malformed JSON: invalid escape in a string at byte 2"},
        {"\"\\u12g4\"", "malformed JSON: invalid \\u escape in a string at byte 5"},
        {"\"\\u12", "malformed JSON: unexpected end of input at byte 5"},
        {"\"\\ud800\"", "malformed JSON: unpaired surrogate escape in a string at byte 7"},
        {"\"\\ud800\\u0041\"", "malformed JSON: unpaired surrogate escape in a string at byte 12"},
        {"\"\\udc00\"", "malformed JSON: unpaired surrogate escape in a string at byte 6"},
        {"\"a\nb\"", "malformed JSON: control character in a string at byte 2"},
        {"\"\x01\"", "malformed JSON: control character in a string at byte 1"},
        {"\xef\xbb\xbf{}", "malformed JSON: unexpected byte 0xef at byte 0"},
        {"NaN", "malformed JSON: unexpected 'N' at byte 0"},
        {"'a'", "malformed JSON: unexpected ''' at byte 0"},
    };
    for (auto &c : cases) expect_parse_error(c.text, QMP_EPROTO, c.message);
}

void test_parse_bad_utf8(void **) {
    const char *bad[] = {"\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xf0\x80\x80\x80",
                         "\xf0\x8f\xbf\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
                         "\xfe", "\xff", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xc3\x41"};
    for (const char *b : bad) {
        expect_parse_error(std::string("[\"ok\", \"") + b + "\"]", QMP_EPROTO,
                           "malformed JSON: invalid UTF-8 in a string at byte 8");
        expect_parse_error(std::string("{\"") + b + "\": 1}", QMP_EPROTO);
        // truncated at the end of input
        expect_parse_error(std::string("\"") + b, QMP_EPROTO);
    }
    // boundaries that are fine
    json_t *v = parse_ok("\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
    assert_int_equal(json_string_length(v), 24);
    json_decref(v);
}

void test_parse_depth(void **) {
    std::string ok = std::string(1024, '[') + std::string(1024, ']');
    json_t *v = parse_ok(ok);
    json_decref(v);
    std::string deep = std::string(1025, '[') + std::string(1025, ']');
    expect_parse_error(deep, QMP_ETOOBIG, "nesting deeper than 1024");
    expect_parse_error(std::string(100000, '['), QMP_ETOOBIG, "nesting deeper than 1024");
    // objects count too, and the limit is a parameter
    expect_parse_error("{\"a\": {\"b\": {}}}", QMP_ETOOBIG, "nesting deeper than 2", 2);
    v = parse_ok("{\"a\": {\"b\": 1}}", 2);
    json_decref(v);
    // scalars need no depth
    v = parse_ok("1", 0);
    json_decref(v);
}

void test_parse_errors_free_partial_trees(void **) {
    // Each fails deep inside half-built containers (valgrind checks the rest).
    const char *cases[] = {
        "{\"a\": [1, 2, {\"b\": [\"x\", {\"c\": tru}]}]}",
        "[[[[{\"a\": \"b\"}, [1, 2, 3], \"\\ud800\"]]]]",
        "{\"a\": {\"b\": {\"c\": 18446744073709551615, \"d\": 1e999}}}",
        "[{\"a\": 1}, {\"a\": 2}, {\"a\": 3}] x",
        "{\"k\": \"v\", \"k2\": \"v\\u0000\", \"k3\":",
    };
    for (const char *c : cases) expect_parse_error(c, QMP_EPROTO);
    std::string deep;
    for (int i = 0; i < 1100; i++) deep += "{\"a\": [\"s\", ";
    expect_parse_error(deep, QMP_ETOOBIG);
}

void test_parse_schema_equals_jansson(void **) {
    for (const char *f : {"query-qmp-schema.json", "pretty/query-qmp-schema.json", "query-commands.json",
                          "greeting.json", "pretty/greeting.json", "error.json", "event-stop.json"}) {
        std::string text = qemu_data::read(f);
        json_t *mine = parse_ok(text);
        json_error_t jerr;
        json_t *theirs = json_loadb(text.data(), text.size(), 0, &jerr);
        if (!theirs) fail_msg("jansson: %s", jerr.text);
        if (!json_equal(mine, theirs)) fail_msg("%s parses differently from jansson", f);
        // key order is the text's
        assert_string_equal(enc(mine).c_str(), [&] {
            char *s = json_dumps(theirs, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
            std::string r(s);
            free(s);
            return r;
        }().c_str());
        json_decref(mine);
        json_decref(theirs);
    }
}

void test_parse_schema_reencode_roundtrip(void **) {
    std::string text = qemu_data::read("query-qmp-schema.json");
    json_t *a = parse_ok(text);
    std::string once = enc(a);
    json_t *b = parse_ok(once);
    assert_true(json_equal(a, b));
    assert_string_equal(enc(b).c_str(), once.c_str());
    assert_true(once.size() < text.size());  // compact: no blanks
    json_decref(a);
    json_decref(b);
}

// ---------------------------------------------------------------- encode

void test_encode_compact_in_insertion_order(void **) {
    json_t *v = json_object();
    json_object_set_new(v, "zeta", json_integer(1));
    json_object_set_new(v, "alpha", json_pack("[b,b,n,s,f]", 1, 0, "x", 2.5));
    json_object_set_new(v, "mid", json_object());
    json_object_set_new(v, "arr", json_array());
    assert_string_equal(enc(v).c_str(), "{\"zeta\":1,\"alpha\":[true,false,null,\"x\",2.5],\"mid\":{},\"arr\":[]}");
    json_decref(v);
    assert_string_equal(reencode("{ \"b\" : 1 ,\n \"a\" : [ 2 , 3 ] }").c_str(), "{\"b\":1,\"a\":[2,3]}");
}

void test_encode_appends(void **) {
    std::string out = "prefix:";
    json_t *v = json_integer(7);
    assert_int_equal(encode(v, out).code, QMP_OK);
    assert_string_equal(out.c_str(), "prefix:7");
    json_decref(v);
}

void test_encode_integers(void **) {
    json_t *v = json_pack("[I,I,I,I]", (json_int_t)0, (json_int_t)-5, (json_int_t)INT64_MAX, (json_int_t)INT64_MIN);
    assert_string_equal(enc(v).c_str(), "[0,-5,9223372036854775807,-9223372036854775808]");
    json_decref(v);
}

void test_encode_reals(void **) {
    struct {
        double d;
        const char *want;
    } cases[] = {
        {1.5, "1.5"},      {0.1, "0.1"},         {1.0, "1.0"},       {100.0, "100.0"},    {-0.0, "-0.0"},
        {0.0, "0.0"},      {1e21, "1e+21"},      {1e-7, "1e-07"},    {DBL_MAX, "1.7976931348623157e+308"},
        {5e-324, "5e-324"}, {123456789.125, "123456789.125"}, {-2.5e-5, "-2.5e-05"},
    };
    for (auto &c : cases) {
        json_t *v = json_real(c.d);
        std::string s = enc(v);
        json_decref(v);
        // a real stays a real, and the same double, on the way back
        json_t *back = parse_ok(s);
        assert_true(json_is_real(back));
        assert_true(json_real_value(back) == c.d);
        assert_int_equal(std::signbit(json_real_value(back)), std::signbit(c.d));
        json_decref(back);
        if (strcmp(s.c_str(), c.want) != 0) fail_msg("%.17g encoded as %s, want %s", c.d, s.c_str(), c.want);
    }
}

void test_encode_reals_roundtrip_random(void **) {
    std::mt19937_64 rng(12345);
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = rng();
        double d;
        memcpy(&d, &bits, sizeof d);
        if (!std::isfinite(d)) continue;
        json_t *v = json_real(d);
        std::string s = enc(v);
        json_decref(v);
        json_t *back = parse_ok(s);
        assert_true(json_is_real(back));
        double r = json_real_value(back);
        assert_memory_equal(&r, &d, sizeof d);
        json_decref(back);
    }
}

void test_encode_non_finite_is_einval(void **) {
    // jansson refuses to make NaN/inf reals, so overwrite one's value in
    // place (json_real_t is {json_t, double}) to reach the encoder's check.
    for (double bad : {NAN, INFINITY, -INFINITY}) {
        json_t *v = json_pack("{s:[f]}", "x", 1.0);
        json_t *r = json_array_get(json_object_get(v, "x"), 0);
        double *slot = reinterpret_cast<double *>(reinterpret_cast<char *>(r) + sizeof(json_t));
        assert_true(*slot == 1.0);
        *slot = bad;
        std::string out = "keep";
        Error e = encode(v, out);
        assert_int_equal(e.code, QMP_EINVAL);
        assert_string_equal(out.c_str(), "keep");  // nothing half-written
        *slot = 1.0;
        json_decref(v);
    }
}

void test_encode_null_is_einval(void **) {
    std::string out;
    Error e = encode(nullptr, out);
    assert_int_equal(e.code, QMP_EINVAL);
    assert_true(out.empty());
}

void test_encode_string_escapes(void **) {
    std::string out;
    const char in[] = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f caf\xc3\xa9 \xf0\x9f\x98\x80";
    encode_string(in, sizeof in - 1, out);
    assert_string_equal(out.c_str(),
                        "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    out.clear();
    encode_string("a\0b", 3, out);
    assert_int_equal(out.size(), 10);
    assert_memory_equal(out.data(), "\"a\\u0000b\"", 10);
    out.clear();
    encode_string("", 0, out);
    assert_string_equal(out.c_str(), "\"\"");
    // every control character, back through the parser
    std::string all;
    for (int c = 0; c < 0x20; c++) all += static_cast<char>(c);
    out.clear();
    encode_string(all.data(), all.size(), out);
    json_t *v = parse_ok(out);
    assert_int_equal(json_string_length(v), 0x20);
    assert_memory_equal(json_string_value(v), all.data(), 0x20);
    json_decref(v);
}

void test_encode_escaped_keys(void **) {
    json_t *v = json_object();
    json_object_set_new(v, "a\"b\n", json_true());
    assert_string_equal(enc(v).c_str(), "{\"a\\\"b\\n\":true}");
    json_decref(v);
}

void test_roundtrip_texts(void **) {
    const char *texts[] = {
        "{\"execute\":\"qmp_capabilities\"}",
        "{\"execute\":\"query-status\",\"id\":1}",
        "{\"execute\":\"blockdev-add\",\"arguments\":{\"node-name\":\"n\",\"driver\":\"null-co\",\"size\":"
        "18446744073709551615,\"x\":-1.5e-10,\"y\":[true,false,null,{}]},\"id\":\"a\\\"b\"}",
        "[]",
        "\"\\u0000\\u001f\"",
        "-9223372036854775808",
    };
    for (const char *t : texts) assert_string_equal(reencode(t).c_str(), t);
}

}  // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_scalars),
        cmocka_unit_test(test_parse_containers),
        cmocka_unit_test(test_parse_duplicate_keys_last_wins),
        cmocka_unit_test(test_parse_integers),
        cmocka_unit_test(test_parse_big_uint64),
        cmocka_unit_test(test_encode_big_uint64_built),
        cmocka_unit_test(test_parse_integers_beyond_uint64_are_reals),
        cmocka_unit_test(test_parse_reals),
        cmocka_unit_test(test_parse_real_overflow),
        cmocka_unit_test(test_parse_real_underflow),
        cmocka_unit_test(test_parse_reals_without_newlocale),
        cmocka_unit_test(test_parse_strings_and_escapes),
        cmocka_unit_test(test_parse_nul_in_strings),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_bad_utf8),
        cmocka_unit_test(test_parse_depth),
        cmocka_unit_test(test_parse_errors_free_partial_trees),
        cmocka_unit_test(test_parse_schema_equals_jansson),
        cmocka_unit_test(test_parse_schema_reencode_roundtrip),
        cmocka_unit_test(test_encode_compact_in_insertion_order),
        cmocka_unit_test(test_encode_appends),
        cmocka_unit_test(test_encode_integers),
        cmocka_unit_test(test_encode_reals),
        cmocka_unit_test(test_encode_reals_roundtrip_random),
        cmocka_unit_test(test_encode_non_finite_is_einval),
        cmocka_unit_test(test_encode_null_is_einval),
        cmocka_unit_test(test_encode_string_escapes),
        cmocka_unit_test(test_encode_escaped_keys),
        cmocka_unit_test(test_roundtrip_texts),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
