// The error record every layer reports failures with, and the per-thread
// "last error" that the C API exposes as qmp_error_last().
#pragma once

#include <string>

#include <qmp/qmp-common.h>

namespace qmp {

struct Error {
    int code = QMP_OK;
    int sys_errno = 0;
    std::string message;
    std::string qmp_class;  // only for QMP_ECOMMAND
    std::string qmp_desc;

    explicit operator bool() const { return code != QMP_OK; }

    static Error ok() { return Error(); }
    static Error make(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    // QMP_EIO with errno, message "<what>: strerror(errno)".
    static Error sys(int sys_errno, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    // QMP_ECOMMAND from the server's error object members.
    static Error command(const std::string &cls, const std::string &desc);
};

// Stores e as the calling thread's last error and returns e.code.  Never
// throws: when e cannot be stored for want of memory, the thread's error
// becomes QMP_ENOMEM (with a static message), which is returned instead.
int set_last_error(const Error &e) noexcept;
int set_last_error(int code, const char *fmt, ...) noexcept __attribute__((format(printf, 2, 3)));
const qmp_error *last_error() noexcept;
// The thread's last error as an Error (a copy), e.g. to carry it elsewhere.
Error last_error_copy();

}  // namespace qmp
