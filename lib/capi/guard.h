// Helpers shared by the extern "C" functions: no exception crosses the C
// boundary, and a client stays alive for the whole of a call into it (a
// callback may free it meanwhile).
#pragma once

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "common/error.h"

namespace qmp::capi {

template <typename F>
int guarded(F &&body) {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        return set_last_error(QMP_ENOMEM, "out of memory");
    } catch (...) {
        return set_last_error(QMP_EINVAL, "internal error: unexpected exception");
    }
}

// A malloc'ed copy for the caller to qmp_free(); NULL on ENOMEM.
inline char *dup_string(const std::string &s) {
    char *p = static_cast<char *>(std::malloc(s.size() + 1));
    if (!p) return nullptr;
    std::memcpy(p, s.data(), s.size());
    p[s.size()] = '\0';
    return p;
}

}  // namespace qmp::capi
