#include "protocol/event.h"

#include <new>

#include "wire/codec.h"

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

// A timestamp member {"seconds": S, "microseconds": U}; -1/-1 when absent or malformed.
void read_timestamp(const wire::Message &m, long long *sec, long long *usec) {
    if (!m.timestamp.present()) return;
    bool malformed = false;
    json_t *ts = parse_checked(m.text, m.timestamp, &malformed);
    if (malformed) return;
    json_t *s = json_object_get(ts, "seconds");
    json_t *u = json_object_get(ts, "microseconds");
    if (json_is_integer(s) && json_is_integer(u)) {
        *sec = json_integer_value(s);
        *usec = json_integer_value(u);
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

const json_t *Event::data() const {
    // A callable that throws leaves the once flag unset: the next call tries again.
    std::call_once(data_once_, [this] {
        if (!data_.present()) return;
        bool malformed = false;
        json_t *t = parse_checked(text_, data_, &malformed);
        if (!malformed) data_tree_ = t;
    });
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

}  // namespace qmp::protocol
