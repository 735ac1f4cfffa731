/*
 * qmp-client.h: a connection to a QMP server (QEMU, qemu-storage-daemon).
 *
 * Typical use:
 *
 *   qmp_client *c = qmp_client_new();
 *   if (qmp_client_connect_unix(c, "/run/vm1.qmp", 5000) < 0)
 *       fprintf(stderr, "%s\n", qmp_error_last()->message);
 *   json_t *ret;
 *   if (qmp_client_execute(c, qmp_command_new("query-status", NULL), &ret) == 0) {
 *       printf("%s\n", json_string_value(json_object_get(ret, "status")));
 *       json_decref(ret);
 *   }
 *   qmp_client_free(c);
 *
 * Timeouts: every timeout_ms argument is in milliseconds; -1 waits forever
 * and 0 means the client's default (qmp_client_set_timeout()).
 *
 * Threads: a client may be used from several threads at once.  The library
 * starts no thread and installs no signal handler.  When no thread drives
 * the connection, a synchronous call drives it itself; callbacks (events,
 * async replies, close) run in the thread that drives, one at a time, in the
 * order the server sent what they report, with no internal lock held, so
 * they may call back into the client, including synchronous calls (which
 * then drive the connection themselves: no call ever waits on itself; only
 * qmp_client_set_loop_callbacks() made from inside a loop callback is
 * refused with QMP_EDEADLK).
 */
#ifndef QMP_CLIENT_H
#define QMP_CLIENT_H

#include <jansson.h>
#include <qmp/qmp-common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qmp_client qmp_client;

/* A new, unconnected client, or NULL (QMP_ENOMEM). */
QMP_API qmp_client *qmp_client_new(void);

/*
 * Closes the connection and frees the client.  Pending operations end with
 * QMP_ECANCELLED; every destroy notifier runs exactly once.  NULL is a
 * no-op.  Safe from inside a callback of this client (the memory is released
 * when the callback returns).  Calls still running in other threads return
 * QMP_ECANCELLED; no new call may start after free.
 */
QMP_API void qmp_client_free(qmp_client *c);

/* --- settings (take effect for the next connection or call) ------------- */

/* Default timeout of synchronous calls and connecting; -1 = wait forever.  Default 30000. */
QMP_API int qmp_client_set_timeout(qmp_client *c, int timeout_ms);
/* Negotiate the "oob" capability when the server offers it.  Default off. */
QMP_API int qmp_client_set_oob(qmp_client *c, int enable);
/* Largest message accepted from the server; default 64 MiB, as QEMU.  Larger: QMP_ETOOBIG, connection closed. */
QMP_API int qmp_client_set_max_message_size(qmp_client *c, size_t bytes);
/* How many recent events the ring keeps for qmp_client_wait_event(); default 1024, at least 1. */
QMP_API int qmp_client_set_event_buffer(qmp_client *c, size_t max_events);

/* --- connecting ---------------------------------------------------------- */

/*
 * Each connect call reads the greeting and negotiates capabilities before it
 * returns.  A Unix path that does not exist yet or refuses connections is
 * retried until the timeout (QEMU may still be starting).
 *
 * Errors, each with a message that says which stage failed:
 *   QMP_ETIMEDOUT     the server was silent, or too slow, within the timeout
 *                     (connecting, waiting for the greeting, or for the
 *                     answer to qmp_capabilities);
 *   QMP_EHANDSHAKE    the first message is not a QMP greeting, is not JSON,
 *                     or the server closed before sending a whole greeting;
 *   QMP_ENEGOTIATION  qmp_capabilities was refused, answered with something
 *                     else, or the server closed before answering it;
 *   QMP_EIO           a system call failed (e.g. ECONNREFUSED for TCP);
 *   QMP_ETOOBIG       the greeting exceeded the message limit;
 *   QMP_ECLOSED,      the connection broke right after the handshake (the
 *   QMP_EPROTO        server closed it, or sent garbage behind its answer);
 *   QMP_EINVAL        already connected, or a bad argument.
 * On failure the client is left unconnected and may connect again.
 */
QMP_API int qmp_client_connect_unix(qmp_client *c, const char *path, int timeout_ms);
QMP_API int qmp_client_connect_tcp(qmp_client *c, const char *host, const char *port, int timeout_ms);
/* Adopts a connected stream socket (e.g. from socketpair()); takes the fd, also on failure. */
QMP_API int qmp_client_connect_fd(qmp_client *c, int fd, int timeout_ms);

/*
 * Connects to a QEMU Guest Agent (qemu-ga) instead of a QMP monitor: the host
 * end of the guest's virtio-serial channel (a Unix socket QEMU serves), or
 * qemu-ga's own "-m unix-listen" socket; a qemu-ga run on a host acts on that
 * host: start it with -b (--block-rpcs) listing every command that changes
 * the machine, as the tests do.  There is no greeting and no
 * negotiation: the client sends a 0xFF byte (it resets the agent's parser)
 * and guest-sync-delimited with a fresh random id, then drops every byte up
 * to the 0xFF sentinel in front of the matching answer and any answer that
 * carries another id (stale replies left in the channel by earlier clients).
 * A path that does not exist yet or refuses is retried until the timeout.
 *
 * Afterwards qmp_client_execute*() and qmp_client_execute_async() work as on
 * a monitor: ids, per-call timeouts, late replies dropped.  Before the first
 * command after a call that timed out, the channel is synchronised again.
 * guest-shutdown and guest-suspend-disk/-ram/-hybrid answer only when they
 * fail: they return QMP_OK once sent and not refused within half a second,
 * and the channel closing after them is their success, not QMP_ECLOSED.
 * What the agent does not have is refused with QMP_EINVAL: fds with a
 * command, exec-oob, schema queries and validation.  Traces redact the
 * "password" of guest-set-user-password and the "buf-b64" data of
 * guest-file-write and guest-file-read.
 *
 * Returns QMP_OK once in sync, or:
 *   QMP_ETIMEDOUT  the agent did not answer in time (no qemu-ga running in the
 *                  guest); also a missing socket at the deadline;
 *   QMP_ECLOSED    the channel closed while synchronising;
 *   QMP_EIO        a system call failed;
 *   QMP_EINVAL     already connected, or a bad argument.
 * Calls on the connection that the agent does not answer in time end with
 * QMP_ETIMEDOUT and a message naming the guest agent.
 */
QMP_API int qmp_client_connect_agent_unix(qmp_client *c, const char *path, int timeout_ms);
/* The same on a connected stream socket; takes the fd, also on failure. */
QMP_API int qmp_client_connect_agent_fd(qmp_client *c, int fd, int timeout_ms);
/* 1 while connected to a guest agent (qmp_client_connect_agent_*()), else 0. */
QMP_API int qmp_client_is_agent(qmp_client *c);

/*
 * Closes the connection.  Pending operations end with QMP_ECANCELLED and the
 * close callback runs with reason QMP_OK.  Handlers stay registered; the
 * client may connect again.  Closing an unconnected client is a no-op.
 */
QMP_API int qmp_client_close(qmp_client *c);
/* 1 when connected (greeting and negotiation done and not closed since), else 0. */
QMP_API int qmp_client_is_connected(qmp_client *c);

/*
 * The server's greeting {"QMP": {...}}: borrowed; NULL when not connected.
 * The tree stays valid until the calling thread calls qmp_client_greeting()
 * on this client again, or until the client is freed, even if another
 * thread closes or reconnects the client meanwhile.  The client keeps one
 * tree per thread that asked, so repeated calls and reconnects do not pile
 * them up.  (NULL is also returned, with QMP_ENOMEM as the last error, when
 * memory runs out.)
 */
QMP_API const json_t *qmp_client_greeting(qmp_client *c);
/* The QEMU version from the greeting. QMP_ECLOSED when not connected.  Any out pointer may be NULL. */
QMP_API int qmp_client_get_version(qmp_client *c, int *major, int *minor, int *micro);
/* 1 if the capability (e.g. "oob") was negotiated on this connection, 0 if not. */
QMP_API int qmp_client_has_capability(qmp_client *c, const char *capability);

/* --- synchronous execution ------------------------------------------------ */

/*
 * Version 2 (libqmp 0.2) added validate.  The library accepts every version
 * up to its own and reads only the members that version has, so a program
 * built against an older header keeps working.
 */
#define QMP_EXEC_OPTIONS_VERSION 2

typedef struct qmp_exec_options {
    unsigned int version;        /* QMP_EXEC_OPTIONS_VERSION */
    int          timeout_ms;     /* 0 = the client's default; -1 = forever */
    const int   *fds;            /* passed with SCM_RIGHTS with the command; stay the caller's */
    size_t       nfds;           /* at most QMP_MAX_FDS */
    int          oob;            /* send as exec-oob (needs the "oob" capability) */
    int          validate;       /* version 2: 0 = the client's setting (qmp_client_set_validation());
                                    QMP_VALIDATE_OFF = not this call; else QMP_VALIDATE flags
                                    (qmp-schema.h) */
} qmp_exec_options;
#define QMP_EXEC_OPTIONS_INIT { QMP_EXEC_OPTIONS_VERSION, 0, NULL, 0, 0, 0 }

/* Most fds one command may carry (QEMU's own limit per message is 16 too). */
#define QMP_MAX_FDS 16

/*
 * Sends command ({"execute": ...} or {"exec-oob": ...}, without "id": the
 * library assigns ids) and waits for its reply.  The command is stolen, also
 * on failure; a NULL command (a builder that failed) returns QMP_EINVAL and
 * keeps the builder's error message, or QMP_ENOMEM when the builder ran out
 * of memory.
 *
 * result may be NULL.  Otherwise, on success *result is a new reference to
 * the "return" value; on QMP_ECOMMAND it is a new reference to the server's
 * error object {"class": ..., "desc": ...} (class and desc are also in
 * qmp_error_last()); on other errors it is NULL.
 *
 * Events that arrive while waiting are dispatched to the handlers and kept
 * in the ring.  On QMP_ETIMEDOUT the client stays usable and the late reply
 * is dropped when it comes.  Errors: QMP_ECOMMAND, QMP_ETIMEDOUT,
 * QMP_ECLOSED (not connected, or the peer closed: every waiting call gets
 * it), QMP_EPROTO (the peer answered with something that is not a reply, or
 * an error without an id), QMP_ETOOBIG, QMP_EIO, QMP_ECANCELLED (closed or
 * freed by another thread), QMP_EINVAL.
 */
QMP_API int qmp_client_execute(qmp_client *c, json_t *command, json_t **result);
QMP_API int qmp_client_execute_full(qmp_client *c, json_t *command,
                                    const qmp_exec_options *opts, json_t **result);

/*
 * The same with JSON text: command_json is {"execute": ...}; *result_json
 * receives the text of the "return" value (or of the error object on
 * QMP_ECOMMAND), exactly as the server sent it, to be freed with qmp_free().
 * result_json may be NULL.  (A number no double can hold, such as 1e999, is
 * valid JSON and comes through here as sent; qmp_client_execute() cannot put
 * it in a jansson tree and returns QMP_EPROTO "number out of range".)
 */
QMP_API int qmp_client_execute_str(qmp_client *c, const char *command_json, char **result_json);
QMP_API int qmp_client_execute_str_full(qmp_client *c, const char *command_json,
                                        const qmp_exec_options *opts, char **result_json);

/* --- helpers --------------------------------------------------------------- */

/* human-monitor-command: runs an HMP command line; *output (qmp_free()) is what HMP printed. */
QMP_API int qmp_client_hmp(qmp_client *c, const char *command_line, char **output);
/* getfd: passes fd (which stays the caller's) and names it fdname in QEMU. */
QMP_API int qmp_client_getfd(qmp_client *c, int fd, const char *fdname);
/* closefd: closes QEMU's copy of a named fd. */
QMP_API int qmp_client_closefd(qmp_client *c, const char *fdname);
/*
 * add-fd: passes fd (which stays the caller's) into fd set fdset_id (< 0: a
 * new set), with an optional opaque string.  The set's id and QEMU's number
 * of the fd come back in the out pointers, which may be NULL.
 */
QMP_API int qmp_client_add_fd(qmp_client *c, int fd, long long fdset_id, const char *opaque,
                              long long *out_fdset_id, long long *out_fd);

/* --- asynchronous execution ---------------------------------------------- */

typedef void (*qmp_destroy_fn)(void *user_data);

/*
 * status: QMP_OK with result the "return" value; QMP_ECOMMAND with result
 * the error object; other errors with result NULL.  result is borrowed for
 * the duration of the callback (json_incref() it to keep it).  During the
 * callback qmp_error_last() describes status.
 */
typedef void (*qmp_reply_fn)(qmp_client *c, int status, const json_t *result, void *user_data);

/*
 * Queues command and returns at once; the reply arrives through cb, which
 * runs exactly once (with the result, an error, QMP_ETIMEDOUT after
 * opts->timeout_ms if that is > 0, QMP_ECLOSED, or QMP_ECANCELLED when the
 * client is closed or freed first), and destroy runs exactly once after it.
 * If the call itself fails (negative return), cb never runs and destroy
 * runs before the call returns.  opts may be NULL; a timeout_ms of 0 means
 * no timeout for async calls.  The command is stolen, also on failure.
 * Many commands may be in flight, and they are all sent at once, except
 * when "oob" is negotiated (qmp_client_set_oob()): then at most 7 in-band
 * commands are unanswered at a time, so that QEMU, whose in-band queue
 * holds 8, never stops reading and an out-of-band command always reaches
 * it; the client holds the rest back and sends them as replies come.
 *
 * Something must drive the connection for cb to run: a synchronous call,
 * qmp_client_process() from the application's event loop, or a GMainContext
 * (qmp-glib.h).
 */
QMP_API int qmp_client_execute_async(qmp_client *c, json_t *command, const qmp_exec_options *opts,
                                     qmp_reply_fn cb, void *user_data, qmp_destroy_fn destroy);

/* --- events ---------------------------------------------------------------- */

/* A read-only view of one event, valid during the callback that receives it
 * (read it from the callback's thread; to keep the event, copy it:
 * qmp_event_to_json(), or json_deep_copy() of its data). */
typedef struct qmp_event qmp_event;
QMP_API const char   *qmp_event_name(const qmp_event *ev);
/* The "data" member, borrowed; NULL when the event has none, or when the
 * memory to decode it ran out (then qmp_error_last() says QMP_ENOMEM, and a
 * later call tries again). */
QMP_API const json_t *qmp_event_data(const qmp_event *ev);
/* The server's timestamp; -1 when the event carried none or a malformed one. */
QMP_API long long     qmp_event_seconds(const qmp_event *ev);
QMP_API long long     qmp_event_microseconds(const qmp_event *ev);
/* The event's sequence number on this client: 1, 2, 3... in arrival order. */
QMP_API unsigned long long qmp_event_seq(const qmp_event *ev);
/* The whole event as JSON text, as the server sent it; qmp_free() it. */
QMP_API char         *qmp_event_to_json(const qmp_event *ev);

typedef void (*qmp_event_fn)(qmp_client *c, const qmp_event *ev, void *user_data);

/*
 * Calls cb for every event named name (NULL: every event), in arrival order.
 * *out_handler_id (may be NULL) receives an id for qmp_client_off_event().
 * destroy runs exactly once: when the handler is removed, when the client is
 * freed, or at once if registering fails.
 */
QMP_API int qmp_client_on_event(qmp_client *c, const char *name, qmp_event_fn cb,
                                void *user_data, qmp_destroy_fn destroy,
                                unsigned int *out_handler_id);
/* Removes a handler; its destroy runs after any call of it in progress. QMP_EINVAL for an unknown id. */
QMP_API int qmp_client_off_event(qmp_client *c, unsigned int handler_id);

/* Sequence number of the newest event seen (0 before the first). */
QMP_API unsigned long long qmp_client_event_seq(qmp_client *c);

/*
 * Waits for the first event with seq > after_seq whose name is name (NULL:
 * any) and whose data contains every member of match, recursively (NULL: no
 * filter).  Events already in the ring count, so take the sequence number
 * before sending the command whose event you expect, and nothing is missed:
 *
 *   unsigned long long seq = qmp_client_event_seq(c);
 *   qmp_client_execute(c, qmp_command_new("stop", NULL), NULL);
 *   qmp_client_wait_event(c, "STOP", NULL, seq, 5000, &ev);
 *
 * *event (may be NULL) receives a new reference to the whole event object.
 * QMP_ETIMEDOUT when none came in time.
 */
QMP_API int qmp_client_wait_event(qmp_client *c, const char *name, const json_t *match,
                                  unsigned long long after_seq, int timeout_ms, json_t **event);
QMP_API int qmp_client_wait_event_str(qmp_client *c, const char *name, const char *match_json,
                                      unsigned long long after_seq, int timeout_ms, char **event_json);
/*
 * The same, and *seq (may be NULL) receives the sequence number of the event
 * found (0 on failure), to wait for the next one after it without missing
 * any:  while (qmp_client_wait_event_full(c, "BLOCK_JOB_READY", NULL, seq, 5000, &ev, &seq) == 0) ...
 * (libqmp 0.2)
 */
QMP_API int qmp_client_wait_event_full(qmp_client *c, const char *name, const json_t *match,
                                       unsigned long long after_seq, int timeout_ms, json_t **event,
                                       unsigned long long *seq);
QMP_API int qmp_client_wait_event_str_full(qmp_client *c, const char *name, const char *match_json,
                                           unsigned long long after_seq, int timeout_ms, char **event_json,
                                           unsigned long long *seq);

/*
 * reason: QMP_OK when the application closed the connection (qmp_client_close()
 * or qmp_client_free()), QMP_ECLOSED when the peer hung up, the error that
 * ended it (QMP_EPROTO, QMP_ETOOBIG, QMP_EIO), or, for a connection whose
 * handshake did not finish, QMP_ETIMEDOUT (the connect's deadline passed) or
 * QMP_ECANCELLED (the connect was cancelled: qmp_call_run()).  Replaces an earlier close
 * callback (whose destroy then runs).  destroy runs once, when replaced or
 * when the client is freed.
 */
typedef void (*qmp_close_fn)(qmp_client *c, int reason, void *user_data);
QMP_API int qmp_client_on_close(qmp_client *c, qmp_close_fn cb, void *user_data, qmp_destroy_fn destroy);

/* --- wire trace ------------------------------------------------------------ */

/*
 * A trace of what goes over the wire, for debugging: every command sent
 * (QMP_LOG_SEND), every message received (QMP_LOG_RECEIVE), what the
 * client dropped or ignored, with why (QMP_LOG_INFO), and what validation
 * flagged (QMP_LOG_WARNING).  Secrets never reach
 * it: the values of secret members (see qmp_add_secret_member()) are
 * replaced by "<redacted>".  The callback runs with the client's internal
 * lock held, in whatever thread does the I/O: it must return quickly and
 * must not call into this client.  Replaces an earlier callback (whose
 * destroy then runs); fn NULL turns the trace off.  destroy runs once, when
 * replaced or when the client is freed (or at once if the call fails).
 *
 * Without a callback, setting the environment variable LIBQMP_DEBUG=1 before
 * qmp_client_new() writes the same trace to stderr.
 */
enum {
    QMP_LOG_SEND    = 1,
    QMP_LOG_RECEIVE = 2,
    QMP_LOG_INFO    = 3,
    QMP_LOG_WARNING = 4   /* validation flagged a deprecated or unstable use (qmp-schema.h) */
};
typedef void (*qmp_log_fn)(qmp_client *c, int kind, const char *text, void *user_data);
QMP_API int qmp_client_set_log(qmp_client *c, qmp_log_fn fn, void *user_data, qmp_destroy_fn destroy);

/*
 * Adds a member name to the process-wide list of members whose values are
 * secrets.  Built in: password, passwd, secret, new-secret, key-secret,
 * password-secret, passphrase, keyfile-passphrase, token, buf-b64 (guest agent file data); any name ending in
 * "-secret", "-password" or "-passphrase"; and the "data" of an object of a
 * qom-type starting with "secret" (object-add of a secret).
 */
QMP_API int qmp_add_secret_member(const char *name);

/* --- event-loop integration (poll, epoll, libev, a toolstack's own) ------- */

#define QMP_POLL_IN  1
#define QMP_POLL_OUT 4

/*
 * Connecting without blocking.  These return at once: 0 when connecting has
 * begun (cb will run exactly once, from qmp_client_process() or the
 * GMainContext, with QMP_OK when the greeting and negotiation are done, or
 * the error the blocking connect calls would return), or a negative status
 * when it cannot begin (then cb never runs).  destroy runs exactly once, after
 * cb or on failure.  While connecting, the fd may change (a Unix socket that
 * is missing or refusing is retried every 20 ms until the timeout, with
 * qmp_client_get_fd() returning -1 in between): ask qmp_client_get_fd(),
 * _get_events() and _get_timeout_ms() again after every call.
 */
typedef void (*qmp_connect_fn)(qmp_client *c, int status, void *user_data);
QMP_API int qmp_client_connect_unix_async(qmp_client *c, const char *path, int timeout_ms,
                                          qmp_connect_fn cb, void *user_data, qmp_destroy_fn destroy);
/* Takes fd, also on failure. */
QMP_API int qmp_client_connect_fd_async(qmp_client *c, int fd, int timeout_ms,
                                        qmp_connect_fn cb, void *user_data, qmp_destroy_fn destroy);

/* The socket to watch, or -1 when there is none.  Stays the same while connected. */
QMP_API int qmp_client_get_fd(qmp_client *c);
/* QMP_POLL_IN and/or QMP_POLL_OUT: what to wait for now.  Ask again after every libqmp call. */
QMP_API int qmp_client_get_events(qmp_client *c);
/* Milliseconds until the nearest deadline (an async call's timeout, a connect retry); 0 when
   callbacks are due; -1 when there is none. */
QMP_API int qmp_client_get_timeout_ms(qmp_client *c);
/*
 * Does whatever I/O is possible now without blocking (revents: what poll()
 * reported, QMP_POLL_IN/QMP_POLL_OUT; 0 when only a timeout expired), expires
 * due deadlines and runs due callbacks.  Never blocks.  Returns 0, or
 * QMP_ECLOSED when the connection is (now) closed.
 */
QMP_API int qmp_client_process(qmp_client *c, int revents);

/* --- loops that are told, not asked ------------------------------------------ */

/*
 * get_fd/get_events/get_timeout_ms suit a loop in one thread that asks after
 * every call.  A loop that sleeps while other threads submit commands, or one
 * driven by registrations (libxl's osevent hooks, libvirt's event handles,
 * libuv, libevent), is told instead, in one of two ways.
 *
 * The wakeup fd: an eventfd (close-on-exec) that becomes readable whenever a
 * call, from any thread, has changed what the loop must do: the fd or the
 * events to watch, the nearest deadline, or callbacks now due.
 * qmp_client_process() drains it.  Watch it for reading beside
 * qmp_client_get_fd(), and after each wakeup call qmp_client_process(c, 0)
 * and ask get_fd/get_events/get_timeout_ms again.  It is made on the first
 * call and stays the same for the client's life (across close and
 * reconnect); the client closes it when freed.  Returns -1 on failure.
 * Such a loop asks for the socket every round, so when another thread closes
 * the connection while the loop sleeps, the loop may still be polling the old
 * socket once (poll() then reports at most a spurious wakeup); a loop that
 * must never see a closed fd uses the callbacks below.
 */
QMP_API int qmp_client_get_wakeup_fd(qmp_client *c);

/*
 * The loop callbacks.  watch: start, change or (events 0) stop watching fd
 * for QMP_POLL_* events; call qmp_client_process() with what was seen.
 * timer: the nearest deadline is now timeout_ms from now (-1: none; 0:
 * callbacks are due, process now); it replaces the timer told before, and
 * when it fires the loop calls qmp_client_process(c, 0), after which the
 * timer is told again.
 *
 * Threading rules.  The callbacks run at the end of the libqmp call that
 * changed the watched set or the deadline, in the thread that made that call
 * (a submitting thread, a thread calling qmp_client_close(), the loop's own
 * qmp_client_process()), with no lock of the client held: they may call
 * back into the client (submit, process, get_*), but they must not block,
 * and they must not make synchronous calls (qmp_client_execute() and
 * friends) or replace the callbacks (QMP_EDEADLK).  The callbacks of one
 * client never run in two threads at once: a thread whose call changed the
 * state while they run in another waits for them, then tells its change;
 * a change made from inside a callback is told when it returns.  A loop
 * that runs in its own thread must therefore accept registrations from other
 * threads (libuv: uv_async_send; libevent: evthread_use_pthreads).
 *
 * When the connection closes, for whatever reason and in whatever thread,
 * watch(fd, 0) is called before the socket is closed, so the loop never
 * polls a closed or reused fd.  A reconnect announces the new fd.
 *
 * Setting callbacks calls watch (when there is a socket) and timer once with
 * the current state.  Both watch and timer are needed; NULL for both removes
 * them (the socket they watched is unwatched first).  destroy(user_data)
 * runs exactly once, unlocked: when the callbacks are replaced or removed
 * and no callback is running, at qmp_client_free(), or at once if this call
 * fails.  Returns 0 or a negative qmp_status.
 */
typedef void (*qmp_watch_fn)(qmp_client *c, int fd, int events, void *user_data);
typedef void (*qmp_timer_fn)(qmp_client *c, int timeout_ms, void *user_data);
QMP_API int qmp_client_set_loop_callbacks(qmp_client *c, qmp_watch_fn watch, qmp_timer_fn timer,
                                          void *user_data, qmp_destroy_fn destroy);

#ifdef __cplusplus
}
#endif

#endif /* QMP_CLIENT_H */
