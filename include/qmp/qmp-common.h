/*
 * libqmp - a client library for the QEMU Machine Protocol.
 *
 * qmp-common.h: version, status codes, the per-thread last error.
 *
 * Every call returns 0 (QMP_OK) or a negative qmp_status, or NULL for calls
 * that return a pointer.  On failure the details are in qmp_error_last().
 * Nothing is ever printed to stdout or stderr unless the user asks for it.
 */
#ifndef QMP_COMMON_H
#define QMP_COMMON_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define QMP_API __attribute__((visibility("default")))
#else
#define QMP_API
#endif

#include <qmp/qmp-version.h>

/* The version of the library at run time, e.g. "0.1.0". */
QMP_API const char *qmp_version_string(void);

/*
 * The status codes.  QMP_EDEADLK is for a call that could only wait on
 * itself.  One call returns it: qmp_client_set_loop_callbacks() made from
 * inside one of the loop callbacks (which would have to wait for the
 * callback it runs in to return).  No other call does, because none ever
 * waits on itself: a synchronous call made in the thread that drives the
 * connection (inside a callback, say, or in the thread that runs the
 * GMainContext it is attached to) drives the connection itself instead of
 * waiting for it.
 */
typedef enum {
    QMP_OK           =   0,
    QMP_EINVAL       =  -1, /* bad argument, malformed builder format, misuse */
    QMP_ENOMEM       =  -2,
    QMP_EIO          =  -3, /* a system call failed; errno in qmp_error_last()->sys_errno */
    QMP_ECLOSED      =  -4, /* not connected, or the peer closed the connection */
    QMP_ETIMEDOUT    =  -5,
    QMP_EPROTO       =  -6, /* the peer sent something that is not QMP */
    QMP_EHANDSHAKE   =  -7, /* no or invalid greeting */
    QMP_ENEGOTIATION =  -8, /* qmp_capabilities was refused */
    QMP_ECOMMAND     =  -9, /* the server answered {"error": ...} */
    QMP_ETOOBIG      = -10, /* a message exceeded the size or nesting limit */
    QMP_ECANCELLED   = -11, /* a pending operation was dropped: client closed or freed */
    QMP_EDEADLK      = -12  /* the call would wait on itself (see above) */
} qmp_status;

typedef struct qmp_error {
    int         code;       /* qmp_status */
    int         sys_errno;  /* errno for QMP_EIO, else 0 */
    const char *message;    /* human readable, never NULL */
    const char *qmp_class;  /* QMP_ECOMMAND: the error class, e.g. "CommandNotFound"; else NULL */
    const char *qmp_desc;   /* QMP_ECOMMAND: the server's desc; else NULL */
} qmp_error;

/*
 * The last error of the calling thread.  Never NULL: before any failure it
 * describes QMP_OK.  The pointer and its strings stay valid until this
 * thread's next libqmp call that fails (qmp_error_last() itself never
 * changes it).  Inside a reply callback it describes that callback's status.
 */
QMP_API const qmp_error *qmp_error_last(void);

/* A static, English description of a qmp_status ("unknown status" for others). */
QMP_API const char *qmp_strerror(int code);

/* Frees every char * the library hands out.  NULL is a no-op. */
QMP_API void qmp_free(void *p);

#ifdef __cplusplus
}
#endif

#endif /* QMP_COMMON_H */
