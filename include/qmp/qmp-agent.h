/*
 * qmp-agent.h: helpers for a guest agent connection
 * (qmp_client_connect_agent_unix() / _fd()), for what a toolstack would
 * otherwise write by hand over guest-exec, guest-file-* and guest-info.
 *
 *   qmp_agent_exec_result r;
 *   const char *argv[] = {"/bin/echo", "hello", NULL};
 *   if (qmp_agent_exec(c, argv, NULL, NULL, 0, 10000, &r) == QMP_OK)
 *       printf("exit %d: %.*s", r.exit_code, (int)r.out_len, (const char *)r.out);
 *   qmp_agent_exec_result_clear(&r);
 *
 * On a connection that is not a guest agent they return QMP_EINVAL.
 */
#ifndef QMP_AGENT_H
#define QMP_AGENT_H

#include <stddef.h>

#include <qmp/qmp-client.h>
#include <qmp/qmp-common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Pings the agent (guest-ping) with its own timeout (0: one second, short
 * because an absent agent never answers).  QMP_OK when it answered;
 * QMP_ETIMEDOUT, naming the guest agent, when it did not.
 */
QMP_API int qmp_agent_ping(qmp_client *c, int timeout_ms);

/*
 * The names of the commands the agent has enabled (guest-info's
 * supported_commands with "enabled": true; commands blocked with qemu-ga -b
 * are left out), as a NULL-terminated array in *names; free it with
 * qmp_agent_strv_free().  *version (may be NULL) receives the agent's
 * version string (qmp_free() it).
 */
QMP_API int qmp_agent_commands(qmp_client *c, char ***names, char **version);
/* Frees an array from qmp_agent_commands(); NULL is a no-op. */
QMP_API void qmp_agent_strv_free(char **names);

/* What a program run by qmp_agent_exec() came to. */
typedef struct qmp_agent_exec_result {
    long long pid;            /* its pid in the guest */
    int exit_code;            /* its exit status; -1 when a signal ended it */
    int signal;               /* the signal that ended it, else 0 */
    unsigned char *out;       /* stdout, decoded from base64; NUL-terminated for convenience */
    size_t out_len;
    int out_truncated;        /* 1: the agent kept only the start of stdout */
    unsigned char *err;       /* stderr, the same way */
    size_t err_len;
    int err_truncated;
} qmp_agent_exec_result;

/*
 * Runs argv[0] (a path in the guest) with argv[1..] (NULL-terminated), env
 * (NULL-terminated "NAME=value" strings, or NULL for the agent's default),
 * and input_len bytes of input on its stdin (input may be NULL), capturing
 * stdout and stderr: guest-exec, then guest-exec-status until it exits.
 * timeout_ms: how long to wait for it to exit (0: the client's default; -1:
 * forever).  Returns QMP_OK when it exited, whatever its status (read
 * res->exit_code and res->signal), or:
 *   QMP_ECOMMAND   the agent refused (e.g. the program does not exist);
 *   QMP_ETIMEDOUT  it had not exited within timeout_ms (it keeps running in
 *                  the guest: the agent has no command to stop it; res->pid
 *                  says which one);
 *   QMP_EPROTO     the agent's answer was malformed (e.g. bad base64);
 *   QMP_EINVAL     bad arguments or not a guest agent connection.
 * res is always initialised; free its buffers with qmp_agent_exec_result_clear().
 */
QMP_API int qmp_agent_exec(qmp_client *c, const char *const *argv, const char *const *env, const void *input,
                           size_t input_len, int timeout_ms, qmp_agent_exec_result *res);
/* Frees the buffers of res and zeroes it; NULL is a no-op. */
QMP_API void qmp_agent_exec_result_clear(qmp_agent_exec_result *res);

/*
 * Reads a whole guest file: guest-file-open (mode "r"), guest-file-read in
 * chunks of 64 KiB until the end, guest-file-close (also on every error
 * path, so no handle is left open in the agent).  *data (qmp_free() it;
 * NUL-terminated for convenience) and *len receive the contents.
 * max_bytes: fail with QMP_ETOOBIG beyond this size (0: 64 MiB).
 * QMP_ECOMMAND when the agent refused (a missing file, no permission).
 */
QMP_API int qmp_agent_file_read(qmp_client *c, const char *path, size_t max_bytes, void **data, size_t *len);

/*
 * Writes len bytes to a guest file, creating or truncating it:
 * guest-file-open (mode "w"), guest-file-write in chunks of 48 KiB (base64),
 * guest-file-close, also on every error path.  QMP_ECOMMAND when the agent
 * refused (e.g. a path that cannot be written); QMP_EIO when it wrote less
 * than asked.
 */
QMP_API int qmp_agent_file_write(qmp_client *c, const char *path, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* QMP_AGENT_H */
