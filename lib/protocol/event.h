// One event from the server, shared by the ring, the handlers and waiters.
// The jansson trees of Event are built on first use, once, from any thread;
// a handler reads the event through a Delivery, whose tree is its own.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <jansson.h>

#include "wire/message.h"

namespace qmp::protocol {

class Event {
public:
    Event(wire::Message &&m, uint64_t seq);
    ~Event();
    Event(const Event &) = delete;
    Event &operator=(const Event &) = delete;

    const std::string &name() const { return name_; }
    const std::string &text() const { return text_; }
    uint64_t seq() const { return seq_; }
    long long seconds() const { return seconds_; }
    long long microseconds() const { return micros_; }
    bool has_data() const { return data_.present(); }

    // Borrowed; NULL when the event has no data (or it cannot be decoded).
    // The trees are built on first use: std::bad_alloc when memory runs out
    // (a later call tries again).
    const json_t *data() const;
    // The whole event object, borrowed.
    const json_t *whole() const;
    // A new tree of the data (the caller owns it); NULL when the event has
    // none (or it cannot be decoded); std::bad_alloc when memory runs out.
    json_t *parse_data() const;

private:
    std::string text_;
    std::string name_;
    wire::Slice data_;
    uint64_t seq_;
    long long seconds_ = -1;
    long long micros_ = -1;
    mutable std::once_flag data_once_;
    mutable json_t *data_tree_ = nullptr;
    mutable std::once_flag whole_once_;
    mutable json_t *whole_tree_ = nullptr;
};

using EventPtr = std::shared_ptr<const Event>;

// What the handlers of one dispatch are given (qmp_event): the event, and a
// data tree built for them on first use and freed when they have all
// returned.  So the ring keeps each event's text, not a tree per event: a
// thousand clients' rings of events that handlers have read would otherwise
// hold ~1 KiB more per event (bench/scale.c).  One thread only.
class Delivery {
public:
    explicit Delivery(const Event &ev) : ev_(ev) {}
    ~Delivery();
    Delivery(const Delivery &) = delete;
    Delivery &operator=(const Delivery &) = delete;

    const Event &event() const { return ev_; }
    // Borrowed, valid until the Delivery ends; as Event::data().
    const json_t *data() const;

private:
    const Event &ev_;
    mutable json_t *tree_ = nullptr;
    mutable bool built_ = false;
};

}  // namespace qmp::protocol
