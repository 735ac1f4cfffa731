// The C boundary for qmp-json.h.
#include <string>

#include <qmp/qmp-json.h>

#include "capi/guard.h"
#include "wire/codec.h"
#include "wire/uint64.h"

using qmp::Error;
using qmp::set_last_error;
using qmp::capi::dup_string;
using qmp::capi::guarded;

namespace {

// The codec's own statuses for bad text (QMP_EPROTO, QMP_ETOOBIG) are about
// a peer; for a caller's text they are a bad argument.  The message is the
// codec's ("malformed JSON: unexpected '}' at byte 4"): an application may
// show it as it is, so it names no function.
Error as_argument_error(Error e) {
    if (e.code != QMP_ENOMEM) e.code = QMP_EINVAL;
    return e;
}

}  // namespace

extern "C" {

QMP_API int qmp_json_get_uint64(const json_t *value, unsigned long long *out) {
    return guarded([&]() -> int {
        if (!value) return set_last_error(QMP_EINVAL, "the value is NULL");
        if (!out) return set_last_error(QMP_EINVAL, "out is NULL");
        if (!json_is_integer(value))
            return set_last_error(QMP_EINVAL, "the value is not an integer");
        if (!qmp::wire::get_uint64(value, out))
            return set_last_error(QMP_EINVAL, "the value %lld is negative",
                                  static_cast<long long>(json_integer_value(value)));
        return QMP_OK;
    });
}

QMP_API json_t *qmp_json_uint64(unsigned long long value) {
    json_t *out = nullptr;
    guarded([&]() -> int {
        out = qmp::wire::uint64_new(value);
        return out ? QMP_OK : set_last_error(QMP_ENOMEM, "out of memory");
    });
    return out;
}

QMP_API json_t *qmp_json_parse(const char *text, size_t length) {
    json_t *out = nullptr;
    guarded([&]() -> int {
        if (!text) return set_last_error(QMP_EINVAL, "the text is NULL");
        Error e = qmp::wire::parse(text, length, &out);
        if (!e) return QMP_OK;
        out = nullptr;
        return set_last_error(as_argument_error(e));
    });
    return out;
}

QMP_API char *qmp_json_dumps(const json_t *value) {
    char *out = nullptr;
    guarded([&]() -> int {
        if (!value) return set_last_error(QMP_EINVAL, "the value is NULL");
        std::string text;
        if (Error e = qmp::wire::encode(value, text)) {
            e.message = "" + e.message;
            return set_last_error(e);
        }
        out = dup_string(text);
        return out ? QMP_OK : set_last_error(QMP_ENOMEM, "out of memory");
    });
    return out;
}

}  // extern "C"
