/*
 * qmp-call.h: blocking calls that another thread can cancel, and whose
 * outcome stays with them.
 *
 * A qmp_call is a handle for the blocking calls of one client (executing a
 * command, waiting for an event) that
 *
 *   - any thread may cancel at any moment (qmp_call_cancel()): the call
 *     returns QMP_ECANCELLED at once, not at its timeout;
 *   - keeps what the call came to (status, error, the value as JSON text,
 *     an event's sequence number) until the next call on it, readable from
 *     any thread: a language runtime that moves a caller between OS threads
 *     (Go) or that unblocks a call from another thread (Ruby's interrupts,
 *     a watchdog, an asyncio executor) needs no per-thread qmp_error_last().
 *
 *   qmp_call *call = qmp_call_new(c);
 *   // another thread, any time: qmp_call_cancel(call);
 *   if (qmp_call_execute_str(call, "{\"execute\": \"query-status\"}", NULL) == QMP_OK)
 *       printf("%s\n", qmp_call_result(call));
 *   else
 *       fprintf(stderr, "%s\n", qmp_call_error(call)->message);
 *   qmp_call_free(call);
 *
 * Cancelling: a cancelled call stays cancelled; every later call on it
 * returns QMP_ECANCELLED without doing anything, so a cancel that comes
 * before the call starts is not lost.  Use one handle per operation you may
 * want to cancel.  A command not yet sent is not sent; a command sent has
 * its reply dropped when it comes (as after a timeout; a guest agent
 * channel is synchronised again before the next command).  The client
 * stays usable, and other threads' calls are not affected.
 *
 * Threads: the calls on one handle run one at a time; qmp_call_cancel() may
 * run in any thread at any moment until qmp_call_free().  Several handles
 * may be used on one client by several threads at once, as the client's
 * own synchronous calls may.
 */
#ifndef QMP_CALL_H
#define QMP_CALL_H

#include <qmp/qmp-common.h>
#include <qmp/qmp-client.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qmp_call qmp_call;

/*
 * A new handle for calls on c, or NULL (QMP_EINVAL for a NULL client,
 * QMP_ENOMEM).  It keeps c's memory alive until qmp_call_free(); a client
 * freed meanwhile makes its calls return QMP_ECANCELLED.
 */
QMP_API qmp_call *qmp_call_new(qmp_client *c);

/* Frees the handle (no call on it may be running).  NULL is a no-op. */
QMP_API void qmp_call_free(qmp_call *call);

/*
 * Cancels the call running on the handle, and every later one: it returns
 * QMP_ECANCELLED at once (at most 10 ms later: the slice of the one
 * blocking read an uncontended call makes), whichever thread is driving
 * the connection.  Any thread; async-signal-unsafe (it takes the client's lock).
 * Cancelling twice is harmless.  NULL is a no-op.
 */
QMP_API void qmp_call_cancel(qmp_call *call);

/* 1 once qmp_call_cancel() was called on the handle, else 0 (NULL: 0). */
QMP_API int qmp_call_is_cancelled(const qmp_call *call);

/*
 * qmp_client_execute_str_full() on the handle's client: command_json is
 * {"execute": ..., "arguments": ...} without "id"; opts as there (NULL:
 * defaults; fds stay the caller's).  The value (the server's "return", or
 * its "error" object with QMP_ECOMMAND) is qmp_call_result().
 * QMP_ECANCELLED: cancelled, before or after sending.
 */
QMP_API int qmp_call_execute_str(qmp_call *call, const char *command_json, const qmp_exec_options *opts);

/*
 * qmp_client_wait_event_str_full() on the handle's client: the first event
 * with a sequence number above after_seq, named name (NULL: any), whose
 * data contains match_json (an object as text; NULL: any).  The event is
 * qmp_call_result() (the whole event as text) and its number
 * qmp_call_seq().  With name and match_json NULL this is the pull-style
 * "next event": pass the last event's number as after_seq to take every
 * event in order; a number above after_seq + 1 says that the ones between
 * left the client's ring (qmp_client_set_event_buffer()) unread.
 * QMP_ECANCELLED: cancelled.
 */
QMP_API int qmp_call_wait_event_str(qmp_call *call, const char *name, const char *match_json,
                                    unsigned long long after_seq, int timeout_ms);

/*
 * A blocking operation of your own, made of libqmp calls on the handle's
 * client, run as a call on the handle: fn(client, arg) runs in the calling
 * thread, and every wait it makes on that client (connecting, a command's
 * reply, an event, the schema fetch, each command of a qmp_agent_*()
 * helper) ends with QMP_ECANCELLED once the handle is cancelled.  So any
 * blocking call becomes cancellable:
 *
 *   static int dial(qmp_client *c, void *path)
 *   { return qmp_client_connect_unix(c, path, 0); }
 *   ...
 *   if (qmp_call_run(call, dial, "/run/vm1.qmp") < 0)
 *       fprintf(stderr, "%s\n", qmp_call_error(call)->message);
 *
 * A connect that is cancelled closes what it opened (a missing Unix
 * socket's retries and a TCP connect see the cancel within 20 ms); a guest
 * agent helper that has opened a file still closes it.  Waits on other
 * clients inside fn are not affected.
 *
 * Returns what fn returned (QMP_ECANCELLED without calling it when the
 * handle was already cancelled; QMP_EINVAL for a NULL fn).  When that is
 * negative, the thread's qmp_error_last() becomes qmp_call_error();
 * qmp_call_result() is NULL: fn hands its results back through arg.
 */
typedef int (*qmp_call_fn)(qmp_client *c, void *arg);
QMP_API int qmp_call_run(qmp_call *call, qmp_call_fn fn, void *arg);

/* The status of the last call on the handle (QMP_OK before any). */
QMP_API int qmp_call_status(const qmp_call *call);

/*
 * The error of the last call on the handle, as qmp_error_last() gave it
 * right after that call: never NULL (code QMP_OK after a success), valid
 * until the next call on the handle or qmp_call_free().
 */
QMP_API const qmp_error *qmp_call_error(const qmp_call *call);

/*
 * The value of the last call as JSON text (borrowed, valid as
 * qmp_call_error()): the command's "return" value, its "error" object with
 * QMP_ECOMMAND, or the event; NULL when there is none.
 */
QMP_API const char *qmp_call_result(const qmp_call *call);

/* The sequence number of the event qmp_call_wait_event_str() returned; else 0. */
QMP_API unsigned long long qmp_call_seq(const qmp_call *call);

#ifdef __cplusplus
}
#endif

#endif /* QMP_CALL_H */
