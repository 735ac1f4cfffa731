// The incremental splitter: boundaries by JSON structure on real QEMU 7.2
// output (compact and pretty=on), any chunking, grammar and UTF-8
// validation, the size and depth limits, and the top-level facts.
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <csetjmp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include <cmocka.h>
}

#include <jansson.h>

#include "qemu-data.h"

#include "wire/codec.h"
#include "wire/splitter.h"

using qmp::Error;
using qmp::wire::Message;
using qmp::wire::Slice;
using qmp::wire::Splitter;

namespace {

// ---------------------------------------------------------------- helpers


// Every file holds one message except session.raw (the whole stream).
const char *const kCorpus[] = {
    "greeting.json",   "qmp_capabilities.json", "query-version.json", "query-status.json",
    "query-commands.json", "query-qmp-schema.json", "error.json",     "error-arg.json",
    "stop.json",       "cont.json",             "event-stop.json",    "event-resume.json",
};

std::vector<std::string> all_corpus_files() {
    std::vector<std::string> v;
    for (const char *f : kCorpus) {
        v.push_back(f);
        v.push_back(std::string("pretty/") + f);
    }
    v.push_back("session.raw");
    v.push_back("pretty/session.raw");
    return v;
}

std::string rtrim(const std::string &s) {
    size_t n = s.size();
    while (n && strchr(" \t\r\n", s[n - 1])) n--;
    return s.substr(0, n);
}

// Feeds data in pieces of `chunk` bytes (0: all at once).
Error split(Splitter &sp, const std::string &data, size_t chunk, std::vector<Message> &out) {
    if (chunk == 0) chunk = data.size() ? data.size() : 1;
    for (size_t i = 0; i < data.size(); i += chunk) {
        size_t n = data.size() - i < chunk ? data.size() - i : chunk;
        Error e = sp.feed(data.data() + i, n, out);
        if (e) return e;
    }
    return Error();
}

std::vector<Message> split_ok(const std::string &data, size_t chunk = 0) {
    Splitter sp;
    std::vector<Message> out;
    Error e = split(sp, data, chunk, out);
    if (e) fail_msg("unexpected error %d: %s", e.code, e.message.c_str());
    assert_true(sp.idle());
    return out;
}

Message one(const std::string &data) {
    std::vector<Message> v = split_ok(data);
    assert_int_equal(v.size(), 1);
    return v[0];
}

void assert_slice_eq(const Slice &a, const Slice &b) {
    assert_int_equal(a.off, b.off);
    assert_int_equal(a.len, b.len);
}

void assert_same(const std::vector<Message> &a, const std::vector<Message> &b) {
    assert_int_equal(a.size(), b.size());
    for (size_t i = 0; i < a.size(); i++) {
        assert_true(a[i].text == b[i].text);
        assert_int_equal(a[i].is_object, b[i].is_object);
        assert_slice_eq(a[i].qmp, b[i].qmp);
        assert_slice_eq(a[i].ret, b[i].ret);
        assert_slice_eq(a[i].error, b[i].error);
        assert_slice_eq(a[i].event, b[i].event);
        assert_slice_eq(a[i].id, b[i].id);
        assert_slice_eq(a[i].data, b[i].data);
        assert_slice_eq(a[i].timestamp, b[i].timestamp);
        assert_string_equal(a[i].event_name.c_str(), b[i].event_name.c_str());
    }
}

// Feeds data in one piece and expects exactly this error.
void expect_error(const std::string &data, int code, const char *message, size_t messages_before = 0) {
    for (size_t chunk : {size_t(0), size_t(1)}) {
        Splitter sp;
        std::vector<Message> out;
        Error e = split(sp, data, chunk, out);
        if (e.code != code)
            fail_msg("input %s (chunk %zu): got %d (%s), want %d", data.c_str(), chunk, e.code, e.message.c_str(),
                     code);
        if (message) assert_string_equal(e.message.c_str(), message);
        assert_int_equal(out.size(), messages_before);
    }
}

void expect_proto(const std::string &data) { expect_error(data, QMP_EPROTO, nullptr); }

json_t *tree(const std::string &text) {
    json_t *v = nullptr;
    Error e = qmp::wire::parse(text.data(), text.size(), &v);
    if (e) fail_msg("parse: %s", e.message.c_str());
    return v;
}

// ---------------------------------------------------------------- corpus

void test_corpus_one_message_each(void **) {
    for (const std::string &f : all_corpus_files()) {
        if (f.find("session.raw") != std::string::npos) continue;
        std::string data = qemu_data::read(f);
        std::vector<Message> v = split_ok(data);
        assert_int_equal(v.size(), 1);
        assert_true(v[0].text == rtrim(data));  // the trailing CR LF is between messages
        assert_true(v[0].is_object);
    }
}

void test_corpus_sessions(void **) {
    for (const char *f : {"session.raw", "pretty/session.raw"}) {
        std::vector<Message> v = split_ok(qemu_data::read(f));
        // greeting, 9 replies, STOP, RESUME, SHUTDOWN, quit's reply
        assert_int_equal(v.size(), 14);
        assert_true(v[0].qmp.present());
        size_t replies = 0, events = 0;
        for (const Message &m : v) {
            replies += m.ret.present() || m.error.present();
            events += m.event.present();
        }
        assert_int_equal(replies, 10);
        assert_int_equal(events, 3);
        // quit: SHUTDOWN comes before the reply
        assert_string_equal(v[12].event_name.c_str(), "SHUTDOWN");
        assert_true(v[13].ret.present());
    }
}

void test_corpus_byte_by_byte(void **) {
    for (const std::string &f : all_corpus_files()) {
        std::string data = qemu_data::read(f);
        std::vector<Message> whole = split_ok(data);
        assert_same(whole, split_ok(data, 1));
    }
}

void test_corpus_odd_chunks(void **) {
    for (const std::string &f : all_corpus_files()) {
        std::string data = qemu_data::read(f);
        std::vector<Message> whole = split_ok(data);
        for (size_t chunk : {2, 3, 7, 64, 4095, 65536}) assert_same(whole, split_ok(data, chunk));
    }
}

void test_corpus_pretty_equals_compact(void **) {
    for (const char *f : kCorpus) {
        Message c = one(qemu_data::read(f));
        Message p = one(qemu_data::read(std::string("pretty/") + f));
        json_t *tc = tree(c.text), *tp = tree(p.text);
        // Events were captured in two runs: only their timestamps differ.
        json_object_del(tc, "timestamp");
        json_object_del(tp, "timestamp");
        if (!json_equal(tc, tp)) fail_msg("%s differs between compact and pretty", f);
        json_decref(tc);
        json_decref(tp);
        // The facts name the same values.
        assert_int_equal(c.qmp.present(), p.qmp.present());
        assert_int_equal(c.ret.present(), p.ret.present());
        assert_int_equal(c.error.present(), p.error.present());
        assert_int_equal(c.id.present(), p.id.present());
        assert_string_equal(c.event_name.c_str(), p.event_name.c_str());
        if (c.ret.present()) {
            json_t *rc = tree(c.slice(c.ret)), *rp = tree(p.slice(p.ret));
            assert_true(json_equal(rc, rp));
            json_decref(rc);
            json_decref(rp);
        }
    }
}

void test_corpus_facts(void **) {
    Message g = one(qemu_data::read("greeting.json"));
    assert_true(g.qmp.present());
    assert_true(g.slice(g.qmp).rfind("{\"version\": ", 0) == 0);
    assert_false(g.ret.present() || g.error.present() || g.event.present() || g.id.present());

    Message v = one(qemu_data::read("query-version.json"));
    assert_string_equal(v.slice(v.id).c_str(), "1");
    assert_true(v.slice(v.ret).rfind("{\"qemu\": {", 0) == 0);

    Message s = one(qemu_data::read("pretty/query-status.json"));
    assert_string_equal(s.slice(s.id).c_str(), "\"status\"");

    Message sc = one(qemu_data::read("query-qmp-schema.json"));
    assert_string_equal(sc.slice(sc.id).c_str(), "{\"nested\": [1, 2.5, null]}");
    assert_int_equal(sc.ret.off, strlen("{\"return\": "));
    assert_int_equal(sc.text[sc.ret.off], '[');
    assert_int_equal(sc.text[sc.ret.off + sc.ret.len - 1], ']');

    Message e = one(qemu_data::read("pretty/error.json"));
    assert_string_equal(e.slice(e.id).c_str(), "7");
    json_t *err = tree(e.slice(e.error));
    assert_string_equal(json_string_value(json_object_get(err, "class")), "CommandNotFound");
    json_decref(err);

    Message st = one(qemu_data::read("event-stop.json"));
    assert_string_equal(st.event_name.c_str(), "STOP");
    assert_string_equal(st.slice(st.event).c_str(), "\"STOP\"");
    assert_true(st.timestamp.present());
    assert_false(st.data.present());
    assert_true(st.slice(st.timestamp).rfind("{\"seconds\": ", 0) == 0);

    Message r = one(qemu_data::read("pretty/event-resume.json"));
    assert_string_equal(r.event_name.c_str(), "RESUME");
}

// ---------------------------------------------------------------- framing

void test_split_at_every_offset(void **) {
    std::string data = qemu_data::read("pretty/greeting.json") + qemu_data::read("query-version.json") +
                       qemu_data::read("pretty/event-stop.json") + qemu_data::read("error.json") + "\"str\\\"ing\" 42 [1,{\"id\":2}]";
    std::vector<Message> whole = split_ok(data);
    assert_int_equal(whole.size(), 7);
    for (size_t i = 0; i <= data.size(); i++) {
        Splitter sp;
        std::vector<Message> out;
        assert_int_equal(sp.feed(data.data(), i, out).code, QMP_OK);
        assert_int_equal(sp.feed(data.data() + i, data.size() - i, out).code, QMP_OK);
        // The trailing array is complete; the "42" before it ended at its space.
        assert_same(whole, out);
    }
}

void test_split_in_three_everywhere(void **) {
    std::string data = "{\"event\": \"A\\u00e9\\ud83d\\ude00\", \"id\": -1.5e+3, \"x\": [true, false, null]}\r\n"
                       "{\"return\": \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}";
    std::vector<Message> whole = split_ok(data);
    assert_int_equal(whole.size(), 2);
    assert_string_equal(whole[0].event_name.c_str(), "A\xc3\xa9\xf0\x9f\x98\x80");
    for (size_t i = 0; i <= data.size(); i++) {
        for (size_t j = i; j <= data.size(); j++) {
            Splitter sp;
            std::vector<Message> out;
            assert_int_equal(sp.feed(data.data(), i, out).code, QMP_OK);
            assert_int_equal(sp.feed(data.data() + i, j - i, out).code, QMP_OK);
            assert_int_equal(sp.feed(data.data() + j, data.size() - j, out).code, QMP_OK);
            assert_same(whole, out);
        }
    }
}

void test_several_messages_in_one_feed(void **) {
    std::string data = "{\"return\": {}}{\"return\": {}, \"id\": 2}\n{\"event\": \"X\"}";
    std::vector<Message> v = split_ok(data);
    assert_int_equal(v.size(), 3);
    assert_string_equal(v[0].text.c_str(), "{\"return\": {}}");
    assert_string_equal(v[1].slice(v[1].id).c_str(), "2");
    assert_string_equal(v[2].event_name.c_str(), "X");
}

void test_whitespace_between_messages(void **) {
    std::vector<Message> v = split_ok(" \t\r\n{}\r\n\r\n \t[ ]\n\t\r ");
    assert_int_equal(v.size(), 2);
    assert_string_equal(v[0].text.c_str(), "{}");
    assert_true(v[0].is_object);
    assert_string_equal(v[1].text.c_str(), "[ ]");
    assert_false(v[1].is_object);
    // Only the four JSON blanks are whitespace.
    expect_error("{}\v{}", QMP_EPROTO, "malformed JSON from the server: unexpected byte 0x0b at byte 0 of a message", 1);
    expect_error("\f", QMP_EPROTO, "malformed JSON from the server: unexpected byte 0x0c at byte 0 of a message");
}

void test_newlines_inside_values_are_not_ends(void **) {
    std::vector<Message> v = split_ok("{\n\"a\"\n:\n[\n1\n,\n2\n]\n}\n");
    assert_int_equal(v.size(), 1);
    assert_string_equal(v[0].text.c_str(), "{\n\"a\"\n:\n[\n1\n,\n2\n]\n}");
    // Brackets and quotes inside strings do not count.
    v = split_ok("{\"a\": \"}]{[\\\"\\\\\", \"b\": \"\\\\\"}");
    assert_int_equal(v.size(), 1);
}

void test_top_level_scalars(void **) {
    std::vector<Message> v = split_ok("\"abc\" 12 -3.5e+2 true false null [1,2] 0\n");
    assert_int_equal(v.size(), 8);
    const char *want[] = {"\"abc\"", "12", "-3.5e+2", "true", "false", "null", "[1,2]", "0"};
    for (size_t i = 0; i < 8; i++) {
        assert_string_equal(v[i].text.c_str(), want[i]);
        assert_false(v[i].is_object);
        assert_false(v[i].id.present());
    }
}

void test_top_level_number_needs_a_delimiter(void **) {
    Splitter sp;
    std::vector<Message> out;
    assert_int_equal(sp.feed("123", 3, out).code, QMP_OK);
    assert_int_equal(out.size(), 0);
    assert_false(sp.idle());
    assert_int_equal(sp.feed("4{}", 3, out).code, QMP_OK);
    assert_int_equal(out.size(), 2);
    assert_string_equal(out[0].text.c_str(), "1234");
    assert_string_equal(out[1].text.c_str(), "{}");
    assert_true(sp.idle());
}

void test_idle_and_reset(void **) {
    Splitter sp;
    std::vector<Message> out;
    assert_true(sp.idle());
    assert_int_equal(sp.feed("{\"a\": [1, \"x", 12, out).code, QMP_OK);
    assert_false(sp.idle());
    sp.reset();
    assert_true(sp.idle());
    assert_int_equal(sp.feed("{\"id\": 3}", 9, out).code, QMP_OK);
    assert_int_equal(out.size(), 1);
    assert_string_equal(out[0].text.c_str(), "{\"id\": 3}");
    assert_string_equal(out[0].slice(out[0].id).c_str(), "3");
    // A reset in the middle of a \u escape or a UTF-8 sequence starts clean.
    assert_int_equal(sp.feed("[\"\\ud800", 8, out).code, QMP_OK);
    sp.reset();
    assert_int_equal(sp.feed("[\"\xe2\x82", 4, out).code, QMP_OK);
    sp.reset();
    assert_int_equal(sp.feed("[\"\\u0041\"]", 10, out).code, QMP_OK);
    assert_int_equal(out.size(), 2);
}

void test_empty_feed(void **) {
    Splitter sp;
    std::vector<Message> out;
    assert_int_equal(sp.feed("", 0, out).code, QMP_OK);
    assert_int_equal(sp.feed("{", 1, out).code, QMP_OK);
    assert_int_equal(sp.feed("", 0, out).code, QMP_OK);
    assert_int_equal(sp.feed("}", 1, out).code, QMP_OK);
    assert_int_equal(out.size(), 1);
}

// ---------------------------------------------------------------- grammar

void test_garbage(void **) {
    expect_error("x", QMP_EPROTO, "malformed JSON from the server: unexpected 'x' at byte 0 of a message");
    expect_error("{\"a\": 1}\r\nGARBAGE", QMP_EPROTO,
                 "malformed JSON from the server: unexpected 'G' at byte 0 of a message", 1);
    expect_error("{\"a\": x}", QMP_EPROTO, "malformed JSON from the server: unexpected 'x' at byte 6 of a message");
    expect_error("{\"a\": 1,}", QMP_EPROTO, "malformed JSON from the server: unexpected '}' at byte 8 of a message");
    expect_error("\x01", QMP_EPROTO, "malformed JSON from the server: unexpected byte 0x01 at byte 0 of a message");
    expect_error("\xef\xbb\xbf{}", QMP_EPROTO,
                 "malformed JSON from the server: unexpected byte 0xef at byte 0 of a message");
    expect_error("}", QMP_EPROTO, "malformed JSON from the server: unexpected '}' at byte 0 of a message");
    expect_error(",", QMP_EPROTO, "malformed JSON from the server: unexpected ',' at byte 0 of a message");
}

void test_byte_offset_counts_across_feeds(void **) {
    Splitter sp;
    std::vector<Message> out;
    assert_int_equal(sp.feed("{}  {\"abc\"", 10, out).code, QMP_OK);
    Error e = sp.feed(": 1 2}", 6, out);
    assert_int_equal(e.code, QMP_EPROTO);
    assert_string_equal(e.message.c_str(), "malformed JSON from the server: unexpected '2' at byte 10 of a message");
    assert_int_equal(out.size(), 1);
}

void test_error_is_sticky_until_reset(void **) {
    Splitter sp;
    std::vector<Message> out;
    Error e = sp.feed("{\"ok\": 1} {\"a\": @} {\"b\": 2}", 27, out);
    assert_int_equal(e.code, QMP_EPROTO);
    assert_int_equal(out.size(), 1);  // the message before the error is still output
    assert_string_equal(out[0].text.c_str(), "{\"ok\": 1}");
    assert_false(sp.idle());
    Error again = sp.feed("{}", 2, out);
    assert_int_equal(again.code, QMP_EPROTO);
    assert_string_equal(again.message.c_str(), e.message.c_str());
    assert_int_equal(out.size(), 1);
    sp.reset();
    assert_int_equal(sp.feed("{}", 2, out).code, QMP_OK);
    assert_int_equal(out.size(), 2);
}

void test_bad_structure(void **) {
    for (const char *s : {"[1 2]", "{\"a\" 1}", "{1: 2}", "[1,]", "[}", "{]", "{\"a\":1]", "[1}", "{\"a\",1}",
                          "{\"a\"::1}", "[,1]", "{,}", "[:]", "{\"a\":}", "[\"a\":1]", "{{}}", "{[]}"}) {
        expect_proto(s);
    }
    // the third message's ']' is unexpected at top level
    expect_error("[]]", QMP_EPROTO, "malformed JSON from the server: unexpected ']' at byte 0 of a message", 1);
}

void test_bad_literals(void **) {
    for (const char *s : {"[tru]", "[nul]", "[True]", "[fals]", "[nulll]", "[t rue]", "[truefalse]", "[NaN]",
                          "[Infinity]", "[undefined]"}) {
        expect_proto(s);
    }
    expect_error("[nulx]", QMP_EPROTO, "malformed JSON from the server: unexpected 'x' at byte 4 of a message");
}

void test_numbers_valid(void **) {
    Message m = one("[0, -0, 1.5, -1.5e10, 1E+2, 1e-2, 0.0e0, 123456789012345678901234567890, 18446744073709551616]");
    assert_false(m.is_object);
}

void test_numbers_invalid(void **) {
    for (const char *s : {"[01]", "[-]", "[1.]", "[1e]", "[1e+]", "[.5]", "[+1]", "[-a]", "[1.e5]", "[0x10]",
                          "[1.5.5]", "[1e5e5]", "[--1]", "[-01]", "[00]", "[1 .5]"}) {
        expect_proto(s);
    }
    expect_error("[01]", QMP_EPROTO, "malformed JSON from the server: unexpected '1' at byte 2 of a message");
    expect_error("[1.x]", QMP_EPROTO, "malformed JSON from the server: unexpected 'x' at byte 3 of a message");
}

void test_escapes_valid(void **) {
    Message m = one("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\uFFFF\\ud83d\\ude00\\uDBFF\\uDFFF\\u0000\"]");
    assert_false(m.is_object);
}

void test_escapes_invalid(void **) {
    expect_error("[\"\\x\"]", QMP_EPROTO, "malformed JSON from the server: invalid escape in a string at byte 3 of a message");
    expect_error("[\"\\u12G4\"]", QMP_EPROTO,
                 "malformed JSON from the server: invalid \\u escape in a string at byte 6 of a message");
    expect_error("[\"\\ud800\"]", QMP_EPROTO,
                 "malformed JSON from the server: unpaired surrogate escape in a string at byte 8 of a message");
    expect_error("[\"\\ud800\\u0041\"]", QMP_EPROTO,
                 "malformed JSON from the server: unpaired surrogate escape in a string at byte 13 of a message");
    expect_error("[\"\\udc00\"]", QMP_EPROTO,
                 "malformed JSON from the server: unpaired surrogate escape in a string at byte 7 of a message");
    expect_error("[\"\\ud800\\n\"]", QMP_EPROTO,
                 "malformed JSON from the server: unpaired surrogate escape in a string at byte 9 of a message");
    expect_error("[\"\\ud800\\ud800\"]", QMP_EPROTO,
                 "malformed JSON from the server: unpaired surrogate escape in a string at byte 13 of a message");
    for (const char *s : {"[\"\\U0041\"]", "[\"\\u041\"]", "[\"\\'\"]", "[\"\\ \"]", "[\"\\0\"]"}) expect_proto(s);
}

void test_utf8_valid(void **) {
    // boundaries of each length: U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF
    std::string s = "[\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\x7f\"]";
    assert_same(split_ok(s), split_ok(s, 1));
    assert_int_equal(split_ok(s).size(), 1);
}

void test_utf8_invalid(void **) {
    struct Case {
        const char *bytes;
        size_t bad_at;  // offset of the offending byte inside the string body
    } cases[] = {
        {"\x80", 0},              // lone continuation
        {"\xbf", 0},
        {"\xc0\x80", 0},          // overlong NUL
        {"\xc1\xbf", 0},          // overlong
        {"\xe0\x80\x80", 1},      // overlong 3-byte
        {"\xe0\x9f\xbf", 1},
        {"\xf0\x80\x80\x80", 1},  // overlong 4-byte
        {"\xf0\x8f\xbf\xbf", 1},
        {"\xed\xa0\x80", 1},      // UTF-16 surrogate U+D800
        {"\xed\xbf\xbf", 1},      // U+DFFF
        {"\xf4\x90\x80\x80", 1},  // U+110000
        {"\xf5\x80\x80\x80", 0},
        {"\xf8\x88\x80\x80\x80", 0},
        {"\xfe", 0},
        {"\xff", 0},
        {"\xc3", 1},              // truncated by the closing quote
        {"\xe2\x82", 2},
        {"\xf0\x9f\x98", 3},
        {"\xc3\x41", 1},          // continuation missing
        {"\xe2\x28\xa1", 1},
    };
    for (const Case &c : cases) {
        std::string data = std::string("{\"k\": \"") + c.bytes + "\"}";
        char want[160];
        snprintf(want, sizeof want, "malformed JSON from the server: invalid UTF-8 in a string at byte %zu of a message",
                 7 + c.bad_at);
        expect_error(data, QMP_EPROTO, want);
        // also in keys
        expect_proto(std::string("{\"") + c.bytes + "\": 1}");
    }
}

void test_control_characters_in_strings(void **) {
    for (int c = 0; c < 0x20; c++) {
        std::string data = std::string("[\"a") + static_cast<char>(c) + "\"]";
        expect_error(data, QMP_EPROTO,
                     "malformed JSON from the server: control character in a string at byte 3 of a message");
    }
    // DEL is allowed
    assert_int_equal(split_ok("[\"\x7f\"]").size(), 1);
}

// ---------------------------------------------------------------- limits

std::string message_of_size(size_t n) {
    // {"return": "xxx"} of exactly n bytes
    std::string s = "{\"return\": \"";
    s.append(n - s.size() - 2, 'x');
    s += "\"}";
    return s;
}

void test_size_exactly_at_limit(void **) {
    std::string m = message_of_size(100);
    for (size_t chunk : {size_t(0), size_t(1), size_t(7)}) {
        Splitter sp(100);
        std::vector<Message> out;
        assert_int_equal(split(sp, m + "\r\n" + m, chunk, out).code, QMP_OK);
        assert_int_equal(out.size(), 2);
        assert_int_equal(out[1].text.size(), 100);
    }
}

void test_size_one_over_limit(void **) {
    std::string m = message_of_size(101);
    for (size_t chunk : {size_t(0), size_t(1), size_t(7)}) {
        Splitter sp(100);
        std::vector<Message> out;
        std::string data = message_of_size(100) + m;
        Error e = split(sp, data, chunk, out);
        assert_int_equal(e.code, QMP_ETOOBIG);
        assert_string_equal(e.message.c_str(), "message larger than 100 bytes");
        assert_int_equal(out.size(), 1);
        // sticky
        assert_int_equal(sp.feed("{}", 2, out).code, QMP_ETOOBIG);
        sp.reset();
        assert_int_equal(sp.feed("{}", 2, out).code, QMP_OK);
        assert_int_equal(out.size(), 2);
    }
}

void test_size_top_level_number_at_limit(void **) {
    Splitter sp(5);
    std::vector<Message> out;
    assert_int_equal(sp.feed("12345 ", 6, out).code, QMP_OK);
    assert_int_equal(sp.feed("12345", 5, out).code, QMP_OK);
    assert_int_equal(sp.feed("[", 1, out).code, QMP_OK);  // the delimiter is not part of the number
    assert_int_equal(out.size(), 2);
    assert_string_equal(out[1].text.c_str(), "12345");
    sp.reset();
    Error e = sp.feed("123456 ", 7, out);
    assert_int_equal(e.code, QMP_ETOOBIG);
}

void test_size_detected_as_soon_as_crossed(void **) {
    // The error comes on the byte that crosses the limit, not at the end.
    Splitter sp(1000);
    std::vector<Message> out;
    std::string head = "{\"return\": \"";
    std::string body(1000 - head.size(), 'a');
    assert_int_equal(sp.feed(head.data(), head.size(), out).code, QMP_OK);
    assert_int_equal(sp.feed(body.data(), body.size(), out).code, QMP_OK);  // exactly 1000 bytes, unfinished
    assert_int_equal(sp.feed("a", 1, out).code, QMP_ETOOBIG);
}

void test_endless_stream_errors_at_limit(void **) {
    // "1 GiB" with no message end: the error comes once 1 MiB is crossed,
    // however many chunks were fed.
    const size_t limit = 1 << 20, chunk = 64 << 10, gib = size_t(1) << 30;
    Splitter sp(limit);
    std::vector<Message> out;
    std::string block(chunk, 'a');
    assert_int_equal(sp.feed("{\"return\": \"", 12, out).code, QMP_OK);
    size_t fed = 12;
    Error e;
    while (fed < gib) {
        e = sp.feed(block.data(), block.size(), out);
        fed += block.size();
        if (e) break;
    }
    assert_int_equal(e.code, QMP_ETOOBIG);
    assert_true(fed > limit);
    assert_true(fed <= limit + chunk + 12);
    assert_int_equal(out.size(), 0);
}

void test_endless_stream_default_limit(void **) {
    // A few MiB in one feed stays buffered under the default limit...
    std::string big = "[\"" + std::string(5u << 20, 'b');
    Splitter sp;
    std::vector<Message> out;
    assert_int_equal(sp.feed(big.data(), big.size(), out).code, QMP_OK);
    assert_false(sp.idle());
    assert_int_equal(sp.feed("\"]", 2, out).code, QMP_OK);
    assert_int_equal(out.size(), 1);
    assert_int_equal(out[0].text.size(), big.size() + 2);
}

void test_big_message_in_one_feed_over_limit(void **) {
    // ...and one feed far above a limit errors without buffering it.
    std::string big = "[\"" + std::string(3u << 20, 'b') + "\"]";
    Splitter sp(1 << 20);
    std::vector<Message> out;
    Error e = sp.feed(big.data(), big.size(), out);
    assert_int_equal(e.code, QMP_ETOOBIG);
    assert_string_equal(e.message.c_str(), "message larger than 1048576 bytes");
}

void test_depth_at_limit(void **) {
    std::string s = std::string(1024, '[') + std::string(1024, ']');
    assert_int_equal(split_ok(s).size(), 1);
    assert_int_equal(split_ok(s, 1).size(), 1);
    std::string o;
    for (int i = 0; i < 1023; i++) o += "{\"a\":";
    o += "{}";
    for (int i = 0; i < 1023; i++) o += "}";
    assert_int_equal(split_ok(o).size(), 1);
}

void test_depth_over_limit(void **) {
    std::string s = std::string(1025, '[') + std::string(1025, ']');
    expect_error(s, QMP_ETOOBIG, "nesting deeper than 1024");
    std::string o;
    for (int i = 0; i < 1024; i++) o += "{\"a\":";
    o += "{}";
    for (int i = 0; i < 1024; i++) o += "}";
    expect_error(o, QMP_ETOOBIG, "nesting deeper than 1024");
}

void test_depth_100000_brackets(void **) {
    std::string s(100000, '[');
    expect_error(s, QMP_ETOOBIG, "nesting deeper than 1024");
}

void test_set_limits(void **) {
    Splitter sp;
    sp.set_limits(10, 2);
    std::vector<Message> out;
    assert_int_equal(sp.feed("[[1]]", 5, out).code, QMP_OK);
    Error e = sp.feed("[[[1]]]", 7, out);
    assert_int_equal(e.code, QMP_ETOOBIG);
    assert_string_equal(e.message.c_str(), "nesting deeper than 2");
    sp.reset();
    e = sp.feed("\"0123456789\"", 12, out);
    assert_int_equal(e.code, QMP_ETOOBIG);
    assert_string_equal(e.message.c_str(), "message larger than 10 bytes");
    sp.reset();
    sp.set_limits(12, 2);
    assert_int_equal(sp.feed("\"0123456789\"", 12, out).code, QMP_OK);
    assert_int_equal(out.size(), 2);
}

// ---------------------------------------------------------------- facts

void test_facts_reply(void **) {
    Message m = one("{\"return\": {\"a\": [1, 2]}, \"id\": \"x-1\"}");
    assert_true(m.is_object);
    assert_string_equal(m.slice(m.ret).c_str(), "{\"a\": [1, 2]}");
    assert_string_equal(m.slice(m.id).c_str(), "\"x-1\"");
    assert_false(m.error.present() || m.event.present() || m.qmp.present() || m.data.present() ||
                 m.timestamp.present());
    assert_string_equal(m.event_name.c_str(), "");
}

void test_facts_error(void **) {
    Message m = one("{\"id\": 5, \"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}}");
    assert_string_equal(m.slice(m.error).c_str(), "{\"class\": \"GenericError\", \"desc\": \"no\"}");
    assert_string_equal(m.slice(m.id).c_str(), "5");
    assert_false(m.ret.present());
}

void test_facts_event(void **) {
    Message m = one("{\"event\": \"BLOCK_JOB_COMPLETED\", \"data\": {\"id\": \"j\", \"event\": \"no\"}, "
                    "\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}");
    assert_string_equal(m.event_name.c_str(), "BLOCK_JOB_COMPLETED");
    assert_string_equal(m.slice(m.data).c_str(), "{\"id\": \"j\", \"event\": \"no\"}");
    assert_string_equal(m.slice(m.timestamp).c_str(), "{\"seconds\": 1, \"microseconds\": 2}");
    assert_false(m.id.present());  // the nested "id" is not top-level
}

void test_facts_greeting(void **) {
    Message m = one("{\"QMP\": {\"version\": {}, \"capabilities\": [\"oob\"]}}");
    assert_string_equal(m.slice(m.qmp).c_str(), "{\"version\": {}, \"capabilities\": [\"oob\"]}");
    // case matters
    Message n = one("{\"qmp\": {}, \"Return\": 1, \"ID\": 2}");
    assert_false(n.qmp.present() || n.ret.present() || n.id.present());
}

void test_facts_id_of_every_type(void **) {
    const char *ids[] = {"\"s\"", "\"\"", "0", "-17", "18446744073709551615", "1.5e-3", "true", "false",
                         "null", "{}", "{\"a\": [1, {\"b\": null}]}", "[]", "[1, \"two\", [3]]",
                         "\"a\\\"b\\\\c\\u0000\""};
    for (const char *id : ids) {
        for (bool last : {false, true}) {
            std::string text = last ? std::string("{\"return\": {}, \"id\": ") + id + "}"
                                    : std::string("{\"id\": ") + id + ", \"return\": {}}";
            for (size_t chunk : {size_t(0), size_t(1)}) {
                std::vector<Message> v = split_ok(text, chunk);
                assert_int_equal(v.size(), 1);
                assert_string_equal(v[0].slice(v[0].id).c_str(), id);
                assert_string_equal(v[0].slice(v[0].ret).c_str(), "{}");
            }
        }
    }
    // blanks around the value are not part of it
    Message m = one("{ \"id\" :\n  42\n ,\"return\"  :  [ ]  }");
    assert_string_equal(m.slice(m.id).c_str(), "42");
    assert_string_equal(m.slice(m.ret).c_str(), "[ ]");
}

void test_facts_escaped_keys(void **) {
    Message m = one("{\"\\u0069d\": 1, \"r\\u0065turn\": 2, \"\\u0065vent\": \"\\u0041B\\n\", \"\\/x\": 3}");
    assert_string_equal(m.slice(m.id).c_str(), "1");
    assert_string_equal(m.slice(m.ret).c_str(), "2");
    assert_string_equal(m.event_name.c_str(), "AB\n");
    // a key that merely contains a known one, or has a NUL, is not it
    Message n = one("{\"id\\u0000\": 1, \"xid\": 2, \"i\\\"d\": 3}");
    assert_false(n.id.present());
}

void test_facts_escaped_keys_split(void **) {
    std::string text = "{\"data\": 0, \"\\u0064ata\": {\"k\": \"v\"}, \"ev\\u0065nt\": \"X\\u00e9\"}";
    std::vector<Message> whole = split_ok(text);
    assert_same(whole, split_ok(text, 1));
    assert_same(whole, split_ok(text, 3));
    assert_string_equal(whole[0].slice(whole[0].data).c_str(), "{\"k\": \"v\"}");
    assert_string_equal(whole[0].event_name.c_str(), "X\xc3\xa9");
}

void test_facts_duplicate_keys_last_wins(void **) {
    Message m = one("{\"id\": 1, \"return\": 2, \"id\": \"second\", \"event\": \"A\", \"event\": \"B\"}");
    assert_string_equal(m.slice(m.id).c_str(), "\"second\"");
    assert_string_equal(m.event_name.c_str(), "B");
    Message n = one("{\"event\": \"A\", \"event\": 5}");
    assert_string_equal(n.slice(n.event).c_str(), "5");
    assert_string_equal(n.event_name.c_str(), "");  // not a string
}

void test_facts_not_an_object(void **) {
    Message m = one("[{\"id\": 1, \"return\": 2}]");
    assert_false(m.is_object);
    assert_false(m.id.present() || m.ret.present());
    Message s = one("\"id\"");
    assert_false(s.is_object);
    assert_false(s.id.present());
}

void test_facts_fresh_per_message(void **) {
    std::vector<Message> v = split_ok("{\"event\": \"A\", \"id\": 1}{\"return\": 1}");
    assert_int_equal(v.size(), 2);
    assert_false(v[1].event.present() || v[1].id.present());
    assert_string_equal(v[1].event_name.c_str(), "");
}

// ---------------------------------------------------------------- differential

void test_agrees_with_parser_on_mutations(void **) {
    // The splitter accepts exactly one message iff the parser accepts the
    // text, over random byte edits of real and tricky messages.
    const std::string seeds[] = {
        qemu_data::read("greeting.json"),
        qemu_data::read("pretty/error.json"),
        qemu_data::read("event-stop.json"),
        "{\"id\": [1, -2.5e+3, true, null, \"\\u00e9\\ud83d\\ude00\"], \"return\": {\"a\\\"\": \"caf\xc3\xa9\"}}",
        "[0, 1.5, \"\\/\\b\", {}, [], \"\xf0\x9f\x98\x80\"]",
    };
    const char interesting[] = "{}[]\":,\\u0123456789.eE+-tfnlrsa \n\x7f\x80\xbf\xc0\xc3\xe0\xed\xf0\xf4\xff\x01";
    std::mt19937 rng(4242);
    int accepted = 0, rejected = 0;
    for (int round = 0; round < 20000; round++) {
        std::string t = rtrim(seeds[rng() % 5]);
        int edits = 1 + rng() % 3;
        for (int k = 0; k < edits && !t.empty(); k++) {
            size_t at = rng() % t.size();
            char ch = interesting[rng() % (sizeof interesting - 1)];
            switch (rng() % 3) {
            case 0: t[at] = ch; break;
            case 1: t.insert(at, 1, ch); break;
            default: t.erase(at, 1); break;
            }
        }
        json_t *v = nullptr;
        Error pe = qmp::wire::parse(t.data(), t.size(), &v);
        json_decref(v);
        std::string fed = t + "\n";
        Splitter sp;
        std::vector<Message> out;
        Error se = split(sp, fed, rng() % 2 ? 0 : 1 + rng() % 8, out);
        std::string core = rtrim(t);
        core.erase(0, core.find_first_not_of(" \t\r\n") == std::string::npos ? core.size()
                                                                             : core.find_first_not_of(" \t\r\n"));
        bool split_one = !se && sp.idle() && out.size() == 1 && out[0].text == core;
        // A real beyond double range is a parser-only error, and it hides
        // any syntax error after it.
        if (pe.message.find("number out of range") != std::string::npos) continue;
        if (split_one != !pe)
            fail_msg("disagreement on '%s': parser %d (%s), splitter %d (%s), %zu messages", t.c_str(), pe.code,
                     pe.message.c_str(), se.code, se.message.c_str(), out.size());
        if (pe)
            rejected++;
        else
            accepted++;
    }
    assert_true(accepted > 1000);
    assert_true(rejected > 1000);
}

// ---------------------------------------------------------------- speed

void test_schema_split_time(void **) {
    std::string data = qemu_data::read("query-qmp-schema.json");
    const char *vg = getenv("LIBQMP_TEST_VALGRIND");
    int rounds = vg && *vg ? 2 : 200;
    double best = 1e9;
    for (int i = 0; i < rounds; i++) {
        Splitter sp;
        std::vector<Message> out;
        auto t0 = std::chrono::steady_clock::now();
        Error e = sp.feed(data.data(), data.size(), out);
        auto t1 = std::chrono::steady_clock::now();
        assert_int_equal(e.code, QMP_OK);
        assert_int_equal(out.size(), 1);
        double us = std::chrono::duration<double, std::micro>(t1 - t0).count();
        if (us < best) best = us;
    }
    printf("# split %zu bytes of query-qmp-schema: best %.1f us (%.0f MB/s)\n", data.size(), best,
           data.size() / best);
    std::string pretty = qemu_data::read("pretty/query-qmp-schema.json");
    double best_pretty = 1e9;
    for (int i = 0; i < rounds; i++) {
        Splitter sp;
        std::vector<Message> out;
        auto t0 = std::chrono::steady_clock::now();
        assert_int_equal(sp.feed(pretty.data(), pretty.size(), out).code, QMP_OK);
        auto t1 = std::chrono::steady_clock::now();
        double us = std::chrono::duration<double, std::micro>(t1 - t0).count();
        if (us < best_pretty) best_pretty = us;
    }
    printf("# split %zu bytes of pretty query-qmp-schema: best %.1f us\n", pretty.size(), best_pretty);
    // Only catches gross regressions (e.g. quadratic work): machines and
    // valgrind vary too much for a tight bound.
    assert_true(best < 50000);
}

}  // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_one_message_each),
        cmocka_unit_test(test_corpus_sessions),
        cmocka_unit_test(test_corpus_byte_by_byte),
        cmocka_unit_test(test_corpus_odd_chunks),
        cmocka_unit_test(test_corpus_pretty_equals_compact),
        cmocka_unit_test(test_corpus_facts),
        cmocka_unit_test(test_split_at_every_offset),
        cmocka_unit_test(test_split_in_three_everywhere),
        cmocka_unit_test(test_several_messages_in_one_feed),
        cmocka_unit_test(test_whitespace_between_messages),
        cmocka_unit_test(test_newlines_inside_values_are_not_ends),
        cmocka_unit_test(test_top_level_scalars),
        cmocka_unit_test(test_top_level_number_needs_a_delimiter),
        cmocka_unit_test(test_idle_and_reset),
        cmocka_unit_test(test_empty_feed),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_byte_offset_counts_across_feeds),
        cmocka_unit_test(test_error_is_sticky_until_reset),
        cmocka_unit_test(test_bad_structure),
        cmocka_unit_test(test_bad_literals),
        cmocka_unit_test(test_numbers_valid),
        cmocka_unit_test(test_numbers_invalid),
        cmocka_unit_test(test_escapes_valid),
        cmocka_unit_test(test_escapes_invalid),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_utf8_invalid),
        cmocka_unit_test(test_control_characters_in_strings),
        cmocka_unit_test(test_size_exactly_at_limit),
        cmocka_unit_test(test_size_one_over_limit),
        cmocka_unit_test(test_size_top_level_number_at_limit),
        cmocka_unit_test(test_size_detected_as_soon_as_crossed),
        cmocka_unit_test(test_endless_stream_errors_at_limit),
        cmocka_unit_test(test_endless_stream_default_limit),
        cmocka_unit_test(test_big_message_in_one_feed_over_limit),
        cmocka_unit_test(test_depth_at_limit),
        cmocka_unit_test(test_depth_over_limit),
        cmocka_unit_test(test_depth_100000_brackets),
        cmocka_unit_test(test_set_limits),
        cmocka_unit_test(test_facts_reply),
        cmocka_unit_test(test_facts_error),
        cmocka_unit_test(test_facts_event),
        cmocka_unit_test(test_facts_greeting),
        cmocka_unit_test(test_facts_id_of_every_type),
        cmocka_unit_test(test_facts_escaped_keys),
        cmocka_unit_test(test_facts_escaped_keys_split),
        cmocka_unit_test(test_facts_duplicate_keys_last_wins),
        cmocka_unit_test(test_facts_not_an_object),
        cmocka_unit_test(test_facts_fresh_per_message),
        cmocka_unit_test(test_agrees_with_parser_on_mutations),
        cmocka_unit_test(test_schema_split_time),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
