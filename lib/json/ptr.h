// An owned reference to a jansson value: json_decref() when it goes.
#pragma once

#include <memory>

#include <jansson.h>

namespace qmp::json {

struct JsonDecref {
    void operator()(json_t *j) const { json_decref(j); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDecref>;

}  // namespace qmp::json
