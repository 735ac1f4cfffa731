// A point in time a wait must end by; "never" for waits without a limit.
#pragma once

#include <chrono>
#include <climits>

namespace qmp {

using Clock = std::chrono::steady_clock;

class Deadline {
public:
    static Deadline never() { return Deadline(); }
    // timeout_ms < 0: never.
    static Deadline in_ms(int timeout_ms) {
        Deadline d;
        if (timeout_ms >= 0) {
            d.infinite_ = false;
            d.at_ = Clock::now() + std::chrono::milliseconds(timeout_ms);
        }
        return d;
    }
    static Deadline at(Clock::time_point t) {
        Deadline d;
        d.infinite_ = false;
        d.at_ = t;
        return d;
    }

    bool infinite() const { return infinite_; }
    Clock::time_point when() const { return at_; }
    bool expired() const { return !infinite_ && Clock::now() >= at_; }

    // Milliseconds left, rounded up so a poll() never wakes just before it; -1 when infinite.
    int remaining_ms() const {
        if (infinite_) return -1;
        auto left = at_ - Clock::now();
        if (left <= Clock::duration::zero()) return 0;
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(left).count();
        long long ms = (us + 999) / 1000;
        return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
    }

    Deadline earlier(const Deadline &o) const {
        if (infinite_) return o;
        if (o.infinite_) return *this;
        return at_ <= o.at_ ? *this : o;
    }

private:
    bool infinite_ = true;
    Clock::time_point at_{};
};

}  // namespace qmp
