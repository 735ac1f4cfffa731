#include "protocol/event.h"

#include "wire/codec.h"

namespace qmp::protocol {

namespace {

// A timestamp member {"seconds": S, "microseconds": U}; -1/-1 when absent or malformed.
void read_timestamp(const wire::Message &m, long long *sec, long long *usec) {
    if (!m.timestamp.present()) return;
    json_t *ts = nullptr;
    if (wire::parse(m.text.data() + m.timestamp.off, m.timestamp.len, &ts)) return;
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
    std::call_once(data_once_, [this] {
        if (!data_.present()) return;
        json_t *t = nullptr;
        if (!wire::parse(text_.data() + data_.off, data_.len, &t)) data_tree_ = t;
    });
    return data_tree_;
}

const json_t *Event::whole() const {
    std::call_once(whole_once_, [this] {
        json_t *t = nullptr;
        if (!wire::parse(text_.data(), text_.size(), &t)) whole_tree_ = t;
    });
    return whole_tree_;
}

}  // namespace qmp::protocol
