// One event from the server, shared by the ring, the handlers and waiters.
// The jansson trees are built on first use, once, from any thread.
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

}  // namespace qmp::protocol
