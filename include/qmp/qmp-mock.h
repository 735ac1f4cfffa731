/*
 * libqmp - a client library for the QEMU Machine Protocol.
 *
 * qmp-mock.h: a scripted QMP server, for the tests of programs that speak
 * QMP, so that a toolstack's QMP code is tested without starting QEMU.
 *
 * A test scripts what the program under test must send and what the
 * server answers, hands the program a connection, runs it, and asks the
 * server whether everything went as scripted:
 *
 *   qmp_mock *m = qmp_mock_new();
 *   qmp_mock_expect_str(m, "stop", NULL, "{\"return\": {}}");
 *   qmp_mock_event_str(m, "{\"event\": \"STOP\"}");
 *   qmp_client *c = qmp_client_new();
 *   qmp_client_connect_fd(c, qmp_mock_socketpair(m), 1000);
 *   pause_vm(c);                                  (the code under test)
 *   assert(qmp_mock_verify(m, 1000) == 0);
 *   qmp_client_free(c);
 *   qmp_mock_free(m);
 *
 * The server serves one connection, in a thread of its own.  It sends the
 * greeting, answers the client's qmp_capabilities (the negotiation), and
 * then takes the script in order:
 *
 *   an expectation  the next command must have this name (and, if given,
 *                   these arguments); it is answered with the scripted
 *                   response, which gets the command's own id;
 *   an event        sent as soon as the response to the expectation before
 *                   it has been sent (or right after the negotiation when it
 *                   comes first); events added while the server runs, after
 *                   that response went out, are sent at once.
 *
 * A command that does not match the script (another name, other arguments,
 * a command the script does not hold any more, a schema violation) is
 * answered
 *
 *   {"error": {"class": "GenericError", "desc": "qmp_mock: expected command 'stop', got 'cont'"}}
 *
 * so the program under test fails where it went wrong; the mismatch is
 * recorded, qmp_mock_verify() reports the first one, and the expectation
 * stays where it was (a later command may still meet it).  A message that is
 * not JSON is answered with such an error without an id, as QEMU does, and
 * recorded too.  The client's qmp_capabilities is answered {"return": {}}
 * unless the script begins with an expectation of qmp_capabilities, which
 * the negotiation then meets (arguments and response as scripted).
 *
 * getfd and add-fd are matched like any other command; the fds that arrive
 * with a command are closed by the server once it has answered the command
 * (script add-fd's answer as QEMU gives it, e.g.
 * {"return": {"fdset-id": 1, "fd": 42}}).
 *
 * Numbers pass through exactly: an integer above INT64_MAX in a scripted
 * response reaches the client as written.
 *
 * Script items may be added before or while the server runs, from any
 * thread.  A script item that is not what it claims (text that is not
 * JSON, a response that is neither {"return": ...} nor {"error": {...}}, an
 * event without a name) is refused by the call that adds it, with
 * QMP_EINVAL and a message that says what is wrong; nothing is added then.
 *
 * STATUS
 *
 * Like every libqmp call: 0 or a negative qmp_status, with the details in
 * qmp_error_last() (qmp_mock_socketpair() returns an fd instead of 0).
 */
#ifndef QMP_MOCK_H
#define QMP_MOCK_H

#include <jansson.h>

#include <qmp/qmp-common.h>
#include <qmp/qmp-schema.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qmp_mock qmp_mock;

/* A new test server with an empty script; NULL with QMP_ENOMEM. */
QMP_API qmp_mock *qmp_mock_new(void);
/*
 * Stops the server (whatever the client is doing), waits for its thread,
 * closes its end of the connection (and the listening socket, whose path
 * it removes) and frees it.  The client's end of a socketpair stays the
 * caller's.  NULL is a no-op.
 */
QMP_API void qmp_mock_free(qmp_mock *m);

/*
 * The greeting the server sends, as JSON text: an object with a "QMP"
 * object.  The default is QEMU 7.2's, with capabilities ["oob"].  Only
 * before qmp_mock_socketpair() or qmp_mock_listen_unix().
 */
QMP_API int qmp_mock_set_greeting_str(qmp_mock *m, const char *greeting_json);
/* The same from a jansson value (not stolen). */
QMP_API int qmp_mock_set_greeting(qmp_mock *m, const json_t *greeting);

/*
 * Appends an expectation: the next command must be `command`.
 * arguments_json NULL accepts any arguments, else they must be equal as
 * JSON (member order ignored; a command without "arguments" has {}).
 * response_json is {"return": ...} or {"error": {"class": ..., "desc": ...}};
 * the server adds the command's id.  With a schema (qmp_mock_set_schema())
 * the command must exist, the arguments must be valid for it and a
 * "return" valid for its ret-type.
 */
QMP_API int qmp_mock_expect_str(qmp_mock *m, const char *command, const char *arguments_json,
                                const char *response_json);
/* The same from jansson values (arguments may be NULL; neither is stolen). */
QMP_API int qmp_mock_expect(qmp_mock *m, const char *command, const json_t *arguments, const json_t *response);

/*
 * Appends an event: an object with an "event" name and, optionally, a
 * "data" object; "timestamp" is added when it is sent, if absent.  With a
 * schema, the event must exist and its data be valid for its arg-type.
 */
QMP_API int qmp_mock_event_str(qmp_mock *m, const char *event_json);
/* The same from a jansson value (not stolen). */
QMP_API int qmp_mock_event(qmp_mock *m, const json_t *event);

/*
 * Appends the commands and responses of a libvirt .replies file: JSON
 * values separated by blank lines (usually pretty-printed), each command
 * followed by its response, events where they came (each is sent after the
 * response before it).  A command's recorded "arguments" must be sent
 * exactly; the recorded ids (libvirt's "libvirt-N") are replaced by the
 * client's own.  A leading qmp_capabilities and its response are skipped:
 * the negotiation answers it.  A file that is not JSON, is cut off, has a
 * command without a response or a response without a command is refused
 * with QMP_EINVAL and a message "PATH:LINE: ..." naming the line; nothing
 * is appended then.  QMP_EIO when the file cannot be read.
 */
QMP_API int qmp_mock_load_replies(qmp_mock *m, const char *path);

/*
 * Checks the conversation against a schema (a new reference is taken; NULL
 * turns checking off): every command received is validated as
 * qmp_schema_validate() does (a violation is a mismatch, answered with the
 * validation's message), every scripted "return" against the command's
 * ret-type and every event's data against its arg-type.  The script already
 * added is checked now: QMP_EINVAL naming the first item that fails, and
 * the schema is not set.
 */
QMP_API int qmp_mock_set_schema(qmp_mock *m, const qmp_schema *s);

/*
 * Starts the server on a new socketpair and returns the client's end
 * (close-on-exec, non-blocking), which is the caller's: adopt it with
 * qmp_client_connect_fd().  A negative status on error.  A server starts
 * once: QMP_EINVAL the second time.
 */
QMP_API int qmp_mock_socketpair(qmp_mock *m);
/*
 * Starts the server listening on a Unix socket at path (which must not
 * exist); it accepts one connection there.  The path is removed by
 * qmp_mock_free().
 */
QMP_API int qmp_mock_listen_unix(qmp_mock *m, const char *path);

/*
 * Waits up to timeout_ms (-1: for ever) until the script is used up.  0
 * when every expectation was met in order, every event was sent and
 * nothing else arrived; QMP_EPROTO with a message naming the first
 * mismatch: an unexpected command, wrong arguments, a schema violation, a
 * message that is not JSON, a client that closed the connection before the
 * end of the script, or (when the time is up) the expectations never
 * reached.  It may be called more than once; a command arriving after a
 * call that returned 0 makes the next call fail.
 */
QMP_API int qmp_mock_verify(qmp_mock *m, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* QMP_MOCK_H */
