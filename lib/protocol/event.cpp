#include "protocol/event.h"

#include <cstring>
#include <new>

#include "wire/codec.h"
#include "wire/text.h"

namespace qmp::protocol {

namespace {

// The tree of a range of text the splitter has checked already: only memory
// can fail, which throws std::bad_alloc.
json_t *parse_checked(const std::string &text, const wire::Slice &s, bool *malformed) {
    json_t *t = nullptr;
    Error e = wire::parse(text.data() + s.off, s.len, &t);
    if (e.code == QMP_ENOMEM) throw std::bad_alloc();
    *malformed = static_cast<bool>(e);
    return t;
}

// The common form of a timestamp, {"seconds": S, "microseconds": U} with
// plain keys and integers of at most 18 digits, read in place; false for any
// other form (read_timestamp then asks jansson), so an event costs no tree.
bool read_plain_timestamp(const char *p, const char *end, long long *sec, long long *usec) {
    auto ws = [&] {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    };
    bool have_sec = false, have_usec = false;
    ws();
    if (p == end || *p++ != '{') return false;
    for (;;) {
        ws();
        if (p == end || *p++ != '"') return false;
        const char *key = p;
        while (p < end && *p != '"' && *p != '\\') p++;
        if (p == end || *p != '"') return false;
        size_t klen = static_cast<size_t>(p++ - key);
        ws();
        if (p == end || *p++ != ':') return false;
        ws();
        bool neg = p < end && *p == '-';
        if (neg) p++;
        const char *digits = p;
        long long v = 0;
        while (p < end && wire::is_digit(*p) && p - digits < 18) v = v * 10 + (*p++ - '0');
        if (p == digits || (p < end && (wire::is_digit(*p) || *p == '.' || *p == 'e' || *p == 'E')))
            return false;
        if (neg) v = -v;
        if (klen == 7 && std::memcmp(key, "seconds", 7) == 0 && !have_sec) {
            *sec = v;
            have_sec = true;
        } else if (klen == 12 && std::memcmp(key, "microseconds", 12) == 0 && !have_usec) {
            *usec = v;
            have_usec = true;
        } else {
            return false;
        }
        ws();
        if (p == end) return false;
        if (*p == '}') {
            p++;
            ws();
            return have_sec && have_usec && p == end;
        }
        if (*p++ != ',') return false;
    }
}

// A timestamp member {"seconds": S, "microseconds": U}; -1/-1 when absent or malformed.
void read_timestamp(const wire::Message &m, long long *sec, long long *usec) {
    if (!m.timestamp.present()) return;
    const char *p = m.text.data() + m.timestamp.off;
    long long s = -1, u = -1;
    if (read_plain_timestamp(p, p + m.timestamp.len, &s, &u)) {
        *sec = s;
        *usec = u;
        return;
    }
    bool malformed = false;
    json_t *ts = parse_checked(m.text, m.timestamp, &malformed);
    if (malformed) return;
    json_t *js = json_object_get(ts, "seconds");
    json_t *ju = json_object_get(ts, "microseconds");
    if (json_is_integer(js) && json_is_integer(ju)) {
        *sec = json_integer_value(js);
        *usec = json_integer_value(ju);
    }
    json_decref(ts);
}

}  // namespace

Event::Event(wire::Message &&m, uint64_t seq)
    : name_(std::move(m.event_name)), data_(m.data), seq_(seq) {
    read_timestamp(m, &seconds_, &micros_);
    text_ = std::move(m.text);
}

Event::~Event() {
    json_decref(data_tree_);
    json_decref(whole_tree_);
}

json_t *Event::parse_data() const {
    if (!data_.present()) return nullptr;
    bool malformed = false;
    json_t *t = parse_checked(text_, data_, &malformed);
    return malformed ? nullptr : t;
}

const json_t *Event::data() const {
    // A callable that throws leaves the once flag unset: the next call tries again.
    std::call_once(data_once_, [this] { data_tree_ = parse_data(); });
    return data_tree_;
}

const json_t *Event::whole() const {
    std::call_once(whole_once_, [this] {
        wire::Slice all;
        all.len = text_.size();
        bool malformed = false;
        json_t *t = parse_checked(text_, all, &malformed);
        if (!malformed) whole_tree_ = t;
    });
    return whole_tree_;
}

Delivery::~Delivery() { json_decref(tree_); }

const json_t *Delivery::data() const {
    if (!built_) {
        tree_ = ev_.parse_data();  // throws before built_ is set: the next call tries again
        built_ = true;
    }
    return tree_;
}

}  // namespace qmp::protocol
