// JSON text <-> jansson trees, exactly: integers above INT64_MAX survive
// both ways (wire/uint64.h), strings are checked UTF-8, nesting is limited.
#pragma once

#include <cstddef>
#include <string>

#include <jansson.h>

#include "common/error.h"

namespace qmp::wire {

// Parses one JSON value (surrounding whitespace allowed, nothing else) into
// a new jansson reference.  Integers that fit int64 become json_integer,
// those in (INT64_MAX, UINT64_MAX] become registered unsigned integers,
// larger ones and numbers with a fraction or exponent become json_real.
// Duplicate object keys: the last wins.  Errors: QMP_EPROTO with the byte
// offset, QMP_ETOOBIG beyond max_depth, QMP_ENOMEM.
Error parse(const char *text, size_t len, json_t **out, size_t max_depth = 1024);

// Appends the compact JSON text of v to out (no spaces, like
// JSON_COMPACT), keys in insertion order, non-ASCII kept as UTF-8, registered
// unsigned integers written as unsigned, reals written so they read back as
// the same double.  QMP_EINVAL for NaN/infinite reals or a NULL value.
Error encode(const json_t *v, std::string &out);

// Appends s as a JSON string literal (with quotes and escapes).
void encode_string(const char *s, size_t len, std::string &out);

}  // namespace qmp::wire
