#include "wire/uint64.h"

#include <mutex>
#include <unordered_set>

namespace qmp::wire {

namespace {

// How many references value has.  Other threads take and drop references
// to registered values while the registry looks (json_incref/json_decref,
// inline in jansson.h, change the count with atomic builtins), so it is
// read the same way, never plainly.  Acquire: when the registry sees that
// only its own reference is left, whatever the thread that dropped the
// last other one did to the value happens before the registry frees it.
size_t reference_count(const json_t *value) { return __atomic_load_n(&value->refcount, __ATOMIC_ACQUIRE); }

class Registry {
public:
    ~Registry() {
        for (json_t *v : values_) json_decref(v);
    }

    bool add(json_t *v) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (values_.size() >= prune_at_) prune();
        try {
            values_.insert(json_incref(v));
        } catch (...) {
            json_decref(v);
            return false;
        }
        return true;
    }

    bool contains(const json_t *v) {
        std::lock_guard<std::mutex> lock(mutex_);
        return values_.count(const_cast<json_t *>(v)) != 0;
    }

private:
    // Drops values nobody but the registry references any more; prunes
    // again when the set has doubled, so the cost is amortised O(1).
    void prune() {
        for (auto it = values_.begin(); it != values_.end();) {
            if (reference_count(*it) == 1) {
                json_decref(*it);
                it = values_.erase(it);
            } else {
                ++it;
            }
        }
        prune_at_ = values_.size() * 2 < 64 ? 64 : values_.size() * 2;
    }

    std::mutex mutex_;
    std::unordered_set<json_t *> values_;
    size_t prune_at_ = 64;
};

Registry &registry() {
    static Registry *r = new Registry();  // never destroyed: values may outlive static destructors
    return *r;
}

}  // namespace

json_t *uint64_new(unsigned long long v) {
    json_t *j = json_integer(static_cast<json_int_t>(v));
    if (!j || v <= static_cast<unsigned long long>(INT64_MAX)) return j;
    if (!registry().add(j)) {
        json_decref(j);
        return nullptr;
    }
    return j;
}

bool is_big_uint64(const json_t *value) {
    if (!json_is_integer(value) || json_integer_value(value) >= 0) return false;
    return registry().contains(value);
}

bool get_uint64(const json_t *value, unsigned long long *out) {
    if (!json_is_integer(value)) return false;
    json_int_t i = json_integer_value(value);
    if (i < 0 && !registry().contains(value)) return false;
    *out = static_cast<unsigned long long>(i);
    return true;
}

}  // namespace qmp::wire
