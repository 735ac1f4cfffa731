#include "common/error.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace qmp {

namespace {

std::string vformat(const char *fmt, va_list ap) {
    char buf[512];
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(buf, sizeof buf, fmt, copy);
    va_end(copy);
    if (n < 0) return std::string(fmt);
    if (static_cast<size_t>(n) < sizeof buf) return std::string(buf, n);
    std::string s(static_cast<size_t>(n), '\0');
    vsnprintf(&s[0], s.size() + 1, fmt, ap);
    return s;
}

// The public view points into the stored record, so both live together.
struct LastError {
    Error record;
    qmp_error view{QMP_OK, 0, "success", nullptr, nullptr};

    void store(const Error &e) {
        record = e;
        if (record.message.empty()) record.message = qmp_strerror(record.code);
        view.code = record.code;
        view.sys_errno = record.sys_errno;
        view.message = record.message.c_str();
        bool cmd = record.code == QMP_ECOMMAND;
        view.qmp_class = cmd ? record.qmp_class.c_str() : nullptr;
        view.qmp_desc = cmd ? record.qmp_desc.c_str() : nullptr;
    }
};

thread_local LastError tls_last;

Error vmake(int code, const char *fmt, va_list ap) {
    Error e;
    e.code = code;
    e.message = vformat(fmt, ap);
    return e;
}

}  // namespace

Error Error::make(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    Error e = vmake(code, fmt, ap);
    va_end(ap);
    return e;
}

Error Error::sys(int err, const char *fmt, ...) {
    Error e;
    e.code = QMP_EIO;
    e.sys_errno = err;
    va_list ap;
    va_start(ap, fmt);
    e.message = vformat(fmt, ap);
    va_end(ap);
    e.message += ": ";
    e.message += strerror(err);
    return e;
}

Error Error::command(const std::string &cls, const std::string &desc) {
    Error e;
    e.code = QMP_ECOMMAND;
    e.qmp_class = cls;
    e.qmp_desc = desc;
    e.message = cls + ": " + desc;
    return e;
}

int set_last_error(const Error &e) {
    tls_last.store(e);
    return e.code;
}

int set_last_error(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    Error e = vmake(code, fmt, ap);
    va_end(ap);
    return set_last_error(e);
}

const qmp_error *last_error() { return &tls_last.view; }

Error last_error_copy() { return tls_last.record; }

}  // namespace qmp
