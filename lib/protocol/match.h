// The subset match of qmp_client_wait_event(): data contains every member
// of pattern, recursively for objects; other values must be equal.
#pragma once

#include <jansson.h>

namespace qmp::protocol {

bool json_contains(const json_t *data, const json_t *pattern);

}  // namespace qmp::protocol
