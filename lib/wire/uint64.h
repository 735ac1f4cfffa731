// Integers above INT64_MAX in a jansson tree.
//
// jansson's json_int_t is signed 64-bit.  An unsigned value above INT64_MAX
// is stored as a jansson integer holding the same 64 bits (so it reads as
// negative) and is registered here as unsigned.  The registry holds a
// reference to every such value, so an address it names can never be reused
// by another value while registered; entries whose only reference is the
// registry's are pruned as the registry grows.  The registry itself is
// never destroyed (values may outlive static destructors), so what is
// registered at exit stays allocated.
#pragma once

#include <jansson.h>

namespace qmp::wire {

// A new jansson integer for v (registered when v > INT64_MAX).  NULL on ENOMEM.
json_t *uint64_new(unsigned long long v);

// True when value is an integer registered as unsigned (v > INT64_MAX).
bool is_big_uint64(const json_t *value);

// Reads value exactly as an unsigned 64-bit number; false if it is not an
// integer or is a (genuinely) negative one.
bool get_uint64(const json_t *value, unsigned long long *out);

}  // namespace qmp::wire
