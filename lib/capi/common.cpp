// The C boundary for qmp-common.h.
#include <cstdlib>

#include <qmp/qmp-common.h>

#include "common/error.h"

#define QMP_STR2(x) #x
#define QMP_STR(x) QMP_STR2(x)

extern "C" {

QMP_API const char *qmp_version_string(void) {
    return QMP_STR(QMP_VERSION_MAJOR) "." QMP_STR(QMP_VERSION_MINOR) "." QMP_STR(QMP_VERSION_MICRO);
}

QMP_API const qmp_error *qmp_error_last(void) { return qmp::last_error(); }

QMP_API const char *qmp_strerror(int code) {
    switch (code) {
    case QMP_OK: return "success";
    case QMP_EINVAL: return "invalid argument";
    case QMP_ENOMEM: return "out of memory";
    case QMP_EIO: return "input/output error";
    case QMP_ECLOSED: return "connection closed";
    case QMP_ETIMEDOUT: return "timed out";
    case QMP_EPROTO: return "protocol error: the peer did not speak QMP";
    case QMP_EHANDSHAKE: return "no or invalid QMP greeting";
    case QMP_ENEGOTIATION: return "capability negotiation refused";
    case QMP_ECOMMAND: return "the server returned an error";
    case QMP_ETOOBIG: return "message exceeds the size or nesting limit";
    case QMP_ECANCELLED: return "operation cancelled";
    case QMP_EDEADLK: return "the call would wait on itself";
    default: return "unknown status";
    }
}

QMP_API void qmp_free(void *p) { std::free(p); }

}  // extern "C"
