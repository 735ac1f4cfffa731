// A first-in first-out queue that allocates nothing until its first push.
// std::deque (libstdc++) allocates its map and a 512-byte block when it is
// constructed; a session has four queues, which made them a third of an idle
// client (~2.4 KB of ~7 KB; docs/performance.md, "Many monitors in one
// process").  Items live in one vector from head_ on; a popped item is reset
// at once (its memory goes), the vector is emptied when the queue drains and
// compacted when the popped part is the larger half, so a queue that keeps
// flowing (the event ring) stays within twice its length.  Unlike a deque,
// a push may move the items: hold no reference to an item across a push.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace qmp {

template <class T>
class Fifo {
public:
    using iterator = typename std::vector<T>::iterator;
    using const_iterator = typename std::vector<T>::const_iterator;

    bool empty() const { return head_ == items_.size(); }
    size_t size() const { return items_.size() - head_; }
    T &front() { return items_[head_]; }
    const T &front() const { return items_[head_]; }
    T &back() { return items_.back(); }
    const T &back() const { return items_.back(); }

    void push_back(T &&v) { items_.push_back(std::move(v)); }  // throws std::bad_alloc
    void push_back(const T &v) { items_.push_back(v); }         // throws std::bad_alloc
    void pop_back() {
        items_.pop_back();
        if (empty()) clear();
    }
    void pop_front() {
        items_[head_++] = T();
        if (empty()) clear();
        else if (head_ >= kCompactAt && head_ * 2 >= items_.size()) compact();
    }
    void clear() {
        items_.clear();
        head_ = 0;
    }

    iterator begin() { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
    iterator end() { return items_.end(); }
    const_iterator begin() const { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
    const_iterator end() const { return items_.end(); }
    iterator erase(iterator it) {
        iterator next = items_.erase(it);
        if (empty()) {
            clear();
            return end();
        }
        return next;
    }

private:
    static constexpr size_t kCompactAt = 32;

    void compact() {
        items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
    }

    std::vector<T> items_;
    size_t head_ = 0;
};

}  // namespace qmp
