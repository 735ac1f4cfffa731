// Fuzz target: the wire layer fed as a server stream.
//
// Input: byte 0 seeds where the stream is cut into feeds, byte 1 picks the
// limits (size, nesting), the rest is the stream.  Checks that
//   - cutting the stream anywhere changes nothing: the chunked splitter and
//     one fed the whole stream at once emit the same messages, facts and
//     error;
//   - the splitter and the parser agree: every message the splitter emits
//     parses (wire::parse, same nesting limit), its recorded facts (kind,
//     id, data, event name...) are what the tree says, and a stream that is
//     exactly one JSON value parses if and only if the splitter cuts it as
//     one message;
//   - the encoder is exact: encode(parse(text)) parses back to an equal tree
//     and encoding that again gives the same text.
// A broken check aborts (a crash for libFuzzer, a failure for the replay).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <jansson.h>

#include "wire/codec.h"
#include "wire/message.h"
#include "wire/splitter.h"

namespace {

using qmp::Error;
using qmp::wire::Message;
using qmp::wire::Slice;
using qmp::wire::Splitter;


// By design the splitter accepts a number whose value overflows a double
// (1e999: the JSON grammar allows it, and the string API hands it out as
// sent), while the parser, which cannot put it in a jansson tree, rejects it
// with "number out of range" rather than change its value.
bool out_of_range(const Error &e) {
    return e.code == QMP_EPROTO && e.message.find("number out of range") != std::string::npos;
}

[[noreturn]] void fail(const char *what, const std::string &detail = std::string()) {
    std::fprintf(stderr, "fuzz-splitter: %s%s%s\n", what, detail.empty() ? "" : ": ", detail.c_str());
    std::abort();
}

#define CHECK(cond, ...)                  \
    do {                                  \
        if (!(cond)) fail(__VA_ARGS__);   \
    } while (0)

struct Limits {
    size_t max_message;
    size_t max_depth;
};

Limits pick_limits(uint8_t b) {
    static const size_t sizes[] = {qmp::wire::kDefaultMaxMessage, 4096, 64, 7};
    static const size_t depths[] = {qmp::wire::kDefaultMaxDepth, 16, 3, 1};
    return Limits{sizes[b & 3], depths[(b >> 2) & 3]};
}

// xorshift: the cut points, reproducible from the seed byte.
struct Rng {
    uint32_t s;
    explicit Rng(uint8_t seed) : s(0x9E3779B9u ^ (seed * 0x01000193u)) {}
    uint32_t next() {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        return s;
    }
};

struct Split {
    std::vector<Message> msgs;
    Error err;
    bool idle = false;
};

Split run_whole(const std::string &stream, const Limits &lim) {
    Split r;
    Splitter s(lim.max_message, lim.max_depth);
    r.err = s.feed(stream.data(), stream.size(), r.msgs);
    r.idle = s.idle();
    return r;
}

Split run_chunked(const std::string &stream, const Limits &lim, uint8_t seed) {
    Split r;
    Splitter s(lim.max_message, lim.max_depth);
    Rng rng(seed);
    // Seed's top two bits: mostly tiny cuts, mostly medium, or mixed.
    uint32_t span = (seed >> 6) == 0 ? 2 : (seed >> 6) == 1 ? 17 : (seed >> 6) == 2 ? 300 : 4096;
    size_t off = 0;
    while (off < stream.size()) {
        size_t n = rng.next() % span;  // 0: an empty feed, which must be harmless
        if (n > stream.size() - off) n = stream.size() - off;
        Error e = s.feed(stream.data() + off, n, r.msgs);
        off += n;
        if (e) {
            r.err = e;
            // Failed stays failed: a later feed reports the same error.
            std::vector<Message> more;
            Error again = s.feed("{}", 2, more);
            CHECK(again.code == e.code && more.empty(), "a failed splitter accepted more input");
            break;
        }
    }
    r.idle = s.idle();
    return r;
}

// json_equal, but keys compared with their length: jansson's json_equal
// looks keys up as C strings, so a key with an escaped U+0000 never equals.
bool deep_equal(json_t *a, json_t *b) {
    if (json_typeof(a) != json_typeof(b)) return false;
    switch (json_typeof(a)) {
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b)) return false;
        const char *k;
        size_t klen;
        json_t *v;
        json_object_keylen_foreach(a, k, klen, v) {
            json_t *w = json_object_getn(b, k, klen);
            if (!w || !deep_equal(v, w)) return false;
        }
        return true;
    }
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b)) return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!deep_equal(json_array_get(a, i), json_array_get(b, i))) return false;
        return true;
    default:
        return json_equal(a, b);
    }
}

bool same_slice(const Slice &a, const Slice &b) { return a.off == b.off && a.len == b.len; }

bool same_message(const Message &a, const Message &b) {
    return a.text == b.text && a.is_object == b.is_object && same_slice(a.qmp, b.qmp) &&
           same_slice(a.ret, b.ret) && same_slice(a.error, b.error) && same_slice(a.event, b.event) &&
           same_slice(a.id, b.id) && same_slice(a.data, b.data) && same_slice(a.timestamp, b.timestamp) &&
           a.event_name == b.event_name;
}

json_t *parse_ok(const std::string &text, size_t depth, const char *what) {
    json_t *v = nullptr;
    Error e = qmp::wire::parse(text.data(), text.size(), &v, depth);
    if (e || !v) fail(what, e.message + " in: " + text.substr(0, 200));
    return v;
}

// The encoder round trip: text -> tree -> text2 -> tree2 == tree, encode(tree2) == text2.
void check_encode(json_t *tree, size_t depth) {
    std::string text2;
    Error e = qmp::wire::encode(tree, text2);
    CHECK(!e, "encode failed on a parsed tree", e.message);
    json_t *tree2 = parse_ok(text2, depth + 1, "the encoder's output does not parse");
    CHECK(deep_equal(tree, tree2), "encode/parse round trip changed the value", text2.substr(0, 200));
    std::string text3;
    e = qmp::wire::encode(tree2, text3);
    CHECK(!e && text3 == text2, "encoding is not a fixed point", text2.substr(0, 200));
    json_decref(tree2);
}

// A recorded fact against the tree: present exactly when the member is, and
// its slice parses to the member's value.
void check_fact(const Message &m, json_t *tree, const Slice &s, const char *key, size_t depth) {
    json_t *member = json_is_object(tree) ? json_object_get(tree, key) : nullptr;
    if (!s.present()) {
        CHECK(member == nullptr, "splitter missed a top-level member", key);
        return;
    }
    CHECK(member != nullptr, "splitter recorded a member the tree lacks", key);
    CHECK(s.off + s.len <= m.text.size(), "fact slice out of range", key);
    json_t *v = parse_ok(m.slice(s), depth, "a fact slice does not parse");
    CHECK(deep_equal(v, member), "a fact slice differs from the tree's member", key);
    json_decref(v);
}

void check_message(const Message &m, const Limits &lim) {
    CHECK(m.text.size() <= lim.max_message, "message longer than the limit");
    {
        json_t *v = nullptr;
        Error e = qmp::wire::parse(m.text.data(), m.text.size(), &v, lim.max_depth);
        json_decref(v);
        if (out_of_range(e)) return;
    }
    json_t *tree = parse_ok(m.text, lim.max_depth, "splitter emitted a message the parser rejects");
    CHECK(m.is_object == (json_is_object(tree) != 0), "is_object disagrees with the parser");
    check_fact(m, tree, m.qmp, "QMP", lim.max_depth);
    check_fact(m, tree, m.ret, "return", lim.max_depth);
    check_fact(m, tree, m.error, "error", lim.max_depth);
    check_fact(m, tree, m.event, "event", lim.max_depth);
    check_fact(m, tree, m.id, "id", lim.max_depth);
    check_fact(m, tree, m.data, "data", lim.max_depth);
    check_fact(m, tree, m.timestamp, "timestamp", lim.max_depth);
    json_t *ev = json_is_object(tree) ? json_object_get(tree, "event") : nullptr;
    if (json_is_string(ev))
        CHECK(m.event_name == std::string(json_string_value(ev), json_string_length(ev)),
              "event_name differs from the tree's event");
    else
        CHECK(m.event_name.empty(), "event_name set for a non-string event");
    check_encode(tree, lim.max_depth);
    json_decref(tree);
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// The stream as a single value: the parser and the splitter must agree.
void check_single_value(const std::string &stream, const Limits &lim) {
    size_t b = 0, e = stream.size();
    while (b < e && is_blank(stream[b])) b++;
    while (e > b && is_blank(stream[e - 1])) e--;
    std::string trimmed = stream.substr(b, e - b);
    if (trimmed.empty() || trimmed.size() > lim.max_message) return;

    json_t *v = nullptr;
    Error pe = qmp::wire::parse(stream.data(), stream.size(), &v, lim.max_depth);
    // A blank after the value: a top-level number needs one to end.
    Split s = run_whole(stream + " ", lim);
    bool one = !s.err && s.idle && s.msgs.size() == 1 && s.msgs[0].text == trimmed;
    if (!pe) {
        CHECK(v != nullptr, "parse succeeded without a value");
        CHECK(one, "the parser accepts one value the splitter does not cut as one message",
              trimmed.substr(0, 200) + (s.err ? " (splitter: " + s.err.message + ")" : std::string()));
        json_decref(v);
    } else if (pe.code == QMP_ETOOBIG) {
        CHECK(s.err.code == QMP_ETOOBIG || s.msgs.size() != 1,
              "the parser finds the nesting too deep, the splitter does not", trimmed.substr(0, 200));
    } else if (!out_of_range(pe)) {
        CHECK(pe.code == QMP_EPROTO, "parse failed with an unexpected code", pe.message);
        CHECK(!one, "the splitter accepts one message the parser rejects",
              trimmed.substr(0, 200) + " (parser: " + pe.message + ")");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    uint8_t seed = data[0];
    Limits lim = pick_limits(data[1]);
    std::string stream(reinterpret_cast<const char *>(data) + 2, size - 2);

    Split whole = run_whole(stream, lim);
    Split chunked = run_chunked(stream, lim, seed);

    CHECK(whole.err.code == chunked.err.code, "chunking changed the error",
          whole.err.message + " vs " + chunked.err.message);
    CHECK(whole.err.message == chunked.err.message, "chunking changed the error message",
          whole.err.message + " vs " + chunked.err.message);
    CHECK(whole.msgs.size() == chunked.msgs.size(), "chunking changed the number of messages");
    for (size_t i = 0; i < whole.msgs.size(); i++)
        CHECK(same_message(whole.msgs[i], chunked.msgs[i]), "chunking changed a message",
              whole.msgs[i].text.substr(0, 200));
    CHECK(whole.idle == chunked.idle, "chunking changed idle()");
    if (whole.err)
        CHECK(whole.err.code == QMP_EPROTO || whole.err.code == QMP_ETOOBIG, "unexpected splitter error code",
              whole.err.message);

    for (const Message &m : whole.msgs) check_message(m, lim);
    check_single_value(stream, lim);
    return 0;
}
