/*
 * qmp-command.h: building QMP commands with a printf-like key list, the way
 * libvirt's qemuMonitorJSONMakeCommand does.
 *
 *   json_t *cmd = qmp_command_new("drive-mirror",
 *                                 "s:device", dev,
 *                                 "Y:speed", speed,
 *                                 "S:format", fmt,      // omitted when NULL
 *                                 NULL);
 *
 * Each key is "<code>:<member name>" followed by its C argument (none for
 * 'n'); the list ends with NULL.
 *
 *   code      C argument            rule
 *   s / S     const char *          s: NULL is an error; S: NULL omits the member
 *   i j k z y int                   i: any; j: error if negative; k: omitted if
 *                                   negative; z: omitted if zero; y: omitted if
 *                                   zero, error if negative
 *   I J K Z Y long long             the same five rules
 *   u / p     unsigned int          p: omitted if zero
 *   U / P     unsigned long long    P: omitted if zero; values above INT64_MAX
 *                                   reach the wire exactly (see qmp-json.h)
 *   b / B     int (bool)            B: omitted if false
 *   T         int (tristate)        QMP_TRISTATE_ABSENT omitted, _YES true, _NO false
 *   d         double                NaN and infinities are an error
 *   n         (none)                JSON null
 *   a / A     json_t **             the value is stolen and *ptr set to NULL;
 *                                   a: NULL is an error; A: NULL omits
 *
 * Errors: a malformed key (no code, unknown code, no colon, empty name), a
 * duplicate member or a broken value rule fails with QMP_EINVAL and a message
 * in qmp_error_last() that names the key.
 *
 * Ownership of 'a'/'A' values: a value is stolen exactly when the builder
 * sets *ptr to NULL.  On failure the values taken before the failing key are
 * freed with the partly built object (their pointers are already NULL); the
 * values at and after the failing key are not touched and stay the caller's
 * (their pointers are unchanged).  So after any call, the caller frees every
 * pointer that is still non-NULL, and nothing leaks either way.
 */
#ifndef QMP_COMMAND_H
#define QMP_COMMAND_H

#include <stdarg.h>
#include <jansson.h>
#include <qmp/qmp-common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Values of the 'T' code. */
enum {
    QMP_TRISTATE_ABSENT = 0,
    QMP_TRISTATE_YES    = 1,
    QMP_TRISTATE_NO     = 2
};

/*
 * {"execute": name, "arguments": {...}}; with no pairs there is no
 * "arguments" member.  Returns a new reference, or NULL with
 * qmp_error_last() set (QMP_EINVAL, QMP_ENOMEM).
 */
QMP_API json_t *qmp_command_new(const char *name, ...);
QMP_API json_t *qmp_command_newv(const char *name, va_list ap);

/* A bare arguments object {...} (first_key may be NULL: an empty object). */
QMP_API json_t *qmp_args_new(const char *first_key, ...);

/*
 * Adds the pairs to an existing object (an arguments object, or a command,
 * whose "arguments" member is then created or extended).  All or nothing:
 * on failure the object is unchanged.  A key already present is a duplicate.
 */
QMP_API int qmp_args_add(json_t *object, ...);
QMP_API int qmp_args_addv(json_t *object, va_list ap);

/* {"type": type, "data": {...}}: one action of a "transaction" command. */
QMP_API json_t *qmp_transaction_action_new(const char *type, ...);

/*
 * {"execute": "transaction", "arguments": {"actions": actions,
 * "properties": {"completion-mode": completion_mode}}}.  Steals actions
 * (a JSON array), also on failure.  completion_mode may be NULL: no
 * "properties" member.
 */
QMP_API json_t *qmp_transaction_new(json_t *actions, const char *completion_mode);

/*
 * Turns {"execute": ...} into {"exec-oob": ...}, for a command to run out of
 * band (the client must have negotiated "oob", see qmp_client_set_oob()).
 * Alternatively set qmp_exec_options.oob.
 */
QMP_API int qmp_command_set_oob(json_t *command);

#ifdef __cplusplus
}
#endif

#endif /* QMP_COMMAND_H */
