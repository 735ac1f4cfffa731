#include "protocol/match.h"

namespace qmp::protocol {

bool json_contains(const json_t *data, const json_t *pattern) {
    if (!pattern) return true;
    if (!data) return false;
    if (json_is_object(pattern)) {
        if (!json_is_object(data)) return false;
        const char *key;
        json_t *want;
        json_object_foreach(const_cast<json_t *>(pattern), key, want) {
            if (!json_contains(json_object_get(data, key), want)) return false;
        }
        return true;
    }
    return json_equal(const_cast<json_t *>(data), const_cast<json_t *>(pattern));
}

}  // namespace qmp::protocol
