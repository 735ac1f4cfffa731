#include "common/error.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <new>

#include <pthread.h>

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

    // All or nothing: the copy is made before anything changes.
    void store(const Error &e) {
        Error copy = e;
        if (copy.message.empty()) copy.message = qmp_strerror(copy.code);
        record = std::move(copy);
        view.code = record.code;
        view.sys_errno = record.sys_errno;
        view.message = record.message.c_str();
        bool cmd = record.code == QMP_ECOMMAND;
        view.qmp_class = cmd ? record.qmp_class.c_str() : nullptr;
        view.qmp_desc = cmd ? record.qmp_desc.c_str() : nullptr;
    }
};

// The per-thread state is trivially destructible: a thread_local with a
// destructor is registered with the C library at its first use in a thread,
// and glibc aborts the process when that registration cannot allocate.  The
// record is heap-allocated and freed at thread exit through a pthread key
// (whose registration allocates nothing).  When the record cannot be had,
// the thread's error becomes QMP_ENOMEM, kept in `fallback`.
thread_local LastError *tls_record = nullptr;
thread_local bool tls_use_fallback = false;
thread_local qmp_error tls_fallback = {QMP_OK, 0, "success", nullptr, nullptr};

pthread_key_t record_key;
bool record_key_ok = false;
pthread_once_t record_key_once = PTHREAD_ONCE_INIT;

void free_record(void *p) {
    delete static_cast<LastError *>(p);
    tls_record = nullptr;
}

void make_record_key() { record_key_ok = pthread_key_create(&record_key, free_record) == 0; }

LastError *thread_record() noexcept {
    if (tls_record) return tls_record;
    pthread_once(&record_key_once, make_record_key);
    if (!record_key_ok) return nullptr;
    auto *r = new (std::nothrow) LastError;
    if (!r) return nullptr;
    if (pthread_setspecific(record_key, r) != 0) {
        delete r;
        return nullptr;
    }
    tls_record = r;
    return r;
}

// The error could not be stored: memory ran out, which is what the thread's
// error then says (with a static message), and what the call returns.
int store_fallback() noexcept {
    tls_fallback = {QMP_ENOMEM, 0, qmp_strerror(QMP_ENOMEM), nullptr, nullptr};
    tls_use_fallback = true;
    return QMP_ENOMEM;
}

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

int set_last_error(const Error &e) noexcept {
    LastError *r = thread_record();
    if (!r) return store_fallback();
    try {
        r->store(e);
    } catch (...) {
        return store_fallback();
    }
    tls_use_fallback = false;
    return e.code;
}

int set_last_error(int code, const char *fmt, ...) noexcept {
    va_list ap;
    va_start(ap, fmt);
    try {
        Error e = vmake(code, fmt, ap);
        va_end(ap);
        return set_last_error(e);
    } catch (...) {
        va_end(ap);
        return store_fallback();
    }
}

const qmp_error *last_error() noexcept {
    if (tls_use_fallback || !tls_record) return &tls_fallback;
    return &tls_record->view;
}

Error last_error_copy() {
    const qmp_error *v = last_error();
    Error e;
    e.code = v->code;
    e.sys_errno = v->sys_errno;
    e.message = v->message;
    if (v->qmp_class) e.qmp_class = v->qmp_class;
    if (v->qmp_desc) e.qmp_desc = v->qmp_desc;
    return e;
}

}  // namespace qmp
