/*
 * libqmp - a client library for the QEMU Machine Protocol.
 *
 * qmp-schema.h: what a QMP server supports, from its own introspection
 * (query-qmp-schema): ask it with query strings, list its commands and
 * events, and check commands against it before they are sent.
 *
 * A toolstack that must know whether this QEMU's blockdev-add accepts
 * aio=io_uring for the file driver asks:
 *
 *   if (qmp_client_schema_has(c, "blockdev-add/arg-type/+file/aio/^io_uring") == 1)
 *       ...
 *
 * and turns on checking of every command it sends with one call:
 *
 *   qmp_client_set_validation(c, QMP_VALIDATE);
 *
 * after which a mistake such as aio "io_urin" fails at once with QMP_EINVAL
 * and the message
 *   blockdev-add: arguments.aio: 'io_urin' is not one of threads, native, io_uring
 * instead of reaching QEMU.
 *
 * The client fetches the schema once per connection, on first need, and
 * keeps it until the connection closes.  A qmp_schema is immutable and
 * reference counted: it may be used from any number of threads at once.
 *
 * QUERY STRINGS (the form libvirt uses for its capability probing)
 *
 *   name/component/component/...
 *
 * name is a command, an event or a type of the schema (built-in types such
 * as "str" have their own names; the others have the opaque numeric names
 * QEMU gives them).  Each component moves from where the query stands to
 * something inside it:
 *
 *   arg-type    a command's or event's arguments (an object type)
 *   ret-type    a command's return type
 *   member      a member of the object reached (of its base, or of any
 *               variant already selected with +); the query then stands on
 *               the member's type
 *   *member     the same, and the member must be optional
 *   +variant    the branch of an object union whose tag has this value
 *               (e.g. +file for blockdev-add's driver); members are then
 *               looked up in that branch and in the union's base
 *   ^value      true when the enum reached has this value (last component,
 *               or followed by $feature to ask about the value's features)
 *   !type       true when the type reached is the built-in with this JSON
 *               type or name: string, int, number, boolean, null, value,
 *               str, bool, any (last component)
 *   $feature    true when the thing reached has this feature: the member
 *               just selected, or the type, command, event or enum value
 *               (last component).  E.g. "query-cpus-fast/$unstable" is false
 *               and "x-debug-query-block-graph/$unstable" is true on 7.2.
 *
 * Arrays are looked through (a member of type ['BlockdevRef'] is treated as
 * BlockdevRef), and for an alternate each of its types is tried in turn.  A
 * name that itself starts with one of the prefix characters (^ ! $ + *) or
 * a space is written after a single space, which is dropped.  An empty
 * component, or a boolean component (^ ! $) followed by more, is malformed.
 * A query is true when the whole path exists.
 *
 * STATUS
 *
 * Like every libqmp call: 0 or a negative qmp_status, with the details in
 * qmp_error_last().  The has-functions return 1 or 0, or a negative status
 * (a malformed query string is QMP_EINVAL, never "not found").
 */
#ifndef QMP_SCHEMA_H
#define QMP_SCHEMA_H

#include <stddef.h>

#include <jansson.h>

#include <qmp/qmp-common.h>
#include <qmp/qmp-client.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qmp_schema qmp_schema;

/* --- a schema ------------------------------------------------------------- */

/*
 * A schema from the "return" value of query-qmp-schema (an array of
 * SchemaInfo objects), e.g. one saved from a QEMU binary earlier.  The tree
 * is copied; the caller keeps its reference.  NULL with QMP_EINVAL (and a
 * message naming the offending entity) when it is not a valid schema: a
 * reference to a type that does not exist, an unknown meta-type, a missing
 * member.
 */
QMP_API qmp_schema *qmp_schema_new(const json_t *schema);
/* The same from JSON text: the return value, or a whole reply {"return": [...]}. */
QMP_API qmp_schema *qmp_schema_new_str(const char *json, size_t len);
/* Another reference; returns s. */
QMP_API qmp_schema *qmp_schema_ref(qmp_schema *s);
/* Drops a reference; the last frees the schema.  NULL is a no-op. */
QMP_API void qmp_schema_unref(qmp_schema *s);

/* 1 if the query (see QUERY STRINGS above) holds, 0 if not, QMP_EINVAL if it is malformed. */
QMP_API int qmp_schema_has(const qmp_schema *s, const char *query);

enum {
    QMP_SCHEMA_COMMANDS = 1,
    QMP_SCHEMA_EVENTS   = 2
};
/* The names of the schema's commands or events, sorted: a new JSON array of strings. */
QMP_API json_t *qmp_schema_list(const qmp_schema *s, int what);

/*
 * The name of a command or event of s that name is most likely a mistyped
 * form of, for a "did you mean" (the suggestion qmp_schema_validate() makes
 * for an unknown command).  what: QMP_SCHEMA_COMMANDS, QMP_SCHEMA_EVENTS,
 * or both or'ed together.  Closeness is the number of edits from name:
 * inserting, deleting or replacing a letter, or swapping two neighbours
 * (optimal string alignment); at most a third of name's length, 1 to 3.
 * Of names as close, the one whose length is nearest name's is taken (so
 * "query-stauts" suggests "query-status", not "query-stats"), then the
 * first in sorted order.
 *
 * Returns 1 with *out a new string (free it with qmp_free()), 0 with *out
 * NULL when no name is close enough (also when name is itself one of the
 * names asked about: nothing is misspelt), or a
 * negative status: QMP_EINVAL for a NULL argument or a bad what,
 * QMP_ENOMEM.
 */
QMP_API int qmp_schema_suggest(const qmp_schema *s, const char *name, int what, char **out);

/*
 * The arguments of a command or event: a new JSON array with one object per
 * member, in the schema's order:
 *
 *   {"name": "aio", "type": "enum", "optional": true,
 *    "values": ["threads", "native", "io_uring"],      (enums only)
 *    "features": ["deprecated"],                        (only if any)
 *    "tag": "driver", "variant": "file"}                (union branches only)
 *
 * "type" is a readable rendering: a built-in name (str, int, number, bool,
 * null, any), "enum", "object", "[T]" for an array of T, "A|B" for an
 * alternate.  "values" is also given for an array of enums and for an
 * alternate that has an enum.  The members of a union's branches follow its
 * base members, each with the tag's name and value that selects it.  NULL
 * with QMP_EINVAL when name is neither a command nor an event.
 */
QMP_API json_t *qmp_schema_arguments(const qmp_schema *s, const char *name);

/*
 * A command, event or type with every type it refers to resolved, as a new
 * JSON object (what `qmpctl schema NAME` prints):
 *
 *   command:  {"name", "meta-type": "command", "arguments": T, "returns": T,
 *              "allow-oob": bool, "features": [...]}
 *   event:    {"name", "meta-type": "event", "arguments": T, "features": [...]}
 *   a type:   T, with "name" added
 *
 * where T is one of
 *   {"type": "str"}                                 (a built-in)
 *   {"type": "enum", "values": [...], "value-features": {"v": [...]}}
 *   {"type": "array", "element": T}
 *   {"type": "alternate", "alternatives": [T, ...]}
 *   {"type": "object", "members": [{"name", "optional", "type": T, "features"}],
 *    "tag": "driver", "variants": {"file": T, ...}, "features"}
 *                          (each branch is an object T of its own: its members,
 *                           its features, and its own tag and branches if any)
 *   {"type": "object", "recursive": true}           (an object already being
 *                                                    expanded above: a cycle)
 * Empty "features", "value-features", "tag" and "variants" are left out.
 * NULL with QMP_EINVAL when there is no such name.
 */
QMP_API json_t *qmp_schema_describe(const qmp_schema *s, const char *name);

/* --- validation ----------------------------------------------------------- */

/*
 * Flags for qmp_schema_validate(), qmp_client_set_validation() and
 * qmp_exec_options.validate.
 *
 * QMP_VALIDATE checks a command before it is sent: that the command exists
 * (with a "did you mean" suggestion), that "exec-oob" is used only for
 * commands that allow it, and its arguments, recursively: unknown members
 * (with a suggestion), missing required members, JSON types, enum values,
 * union tags and their branches, alternates.  The first mistake fails the
 * call with QMP_EINVAL and a message naming the command and the path:
 *
 *   blockdev-add: arguments.file.aio: 'io_urin' is not one of threads, native, io_uring
 *   blockdev-add: arguments: unknown member 'node-nam' (did you mean 'node-name'?)
 *   drive-mirror: arguments: missing required member 'sync'
 *
 * device_add is the exception QEMU makes: it takes the device's properties
 * as further members, which no schema describes, so its driver, bus and id
 * are checked and any other member is let through to QEMU.
 *
 * Use of something with the feature "deprecated" or "unstable" (a command,
 * a member, an enum value) is flagged: a warning such as
 *   drive-backup: command 'drive-backup' is deprecated
 * goes to the client's trace callback (qmp_client_set_log(), kind
 * QMP_LOG_WARNING) and to the warnings array of qmp_schema_validate().
 * With QMP_VALIDATE_DENY_DEPRECATED or QMP_VALIDATE_DENY_UNSTABLE it is a
 * QMP_EINVAL error instead (as QEMU's -compat deprecated-input=reject would
 * make it).
 */
enum {
    QMP_VALIDATE                 = 1,
    QMP_VALIDATE_DENY_DEPRECATED = 2,
    QMP_VALIDATE_DENY_UNSTABLE   = 4
};
/* For qmp_exec_options.validate: do not validate this call, whatever the client's setting. */
#define QMP_VALIDATE_OFF (-1)

/*
 * Checks command ({"execute": NAME, "arguments": {...}} or "exec-oob")
 * against the schema with flags (QMP_VALIDATE is implied).  0 when it is
 * valid, QMP_EINVAL with the message described above when not.  warnings
 * may be NULL; otherwise *warnings receives a new JSON array of the
 * warnings' texts (empty when there are none), or NULL on error.
 */
QMP_API int qmp_schema_validate(const qmp_schema *s, const json_t *command, int flags, json_t **warnings);

/*
 * Checks a JSON value against a type of the schema: the type the query
 * names (see QUERY STRINGS), such as a command's reply
 * ("query-status/ret-type"), a command's arguments ("blockdev-add/arg-type"),
 * an event's data ("BLOCK_JOB_COMPLETED/arg-type"), a member's type
 * ("query-block/ret-type/inserted": arrays are looked through) or a type by
 * name ("str").  The query must lead to one type: the boolean components
 * (^ ! $), +variant, a member looked up inside an alternate, or a query that
 * stops at a command or event are QMP_EINVAL, and so is a name the schema
 * does not have.  The checks and flags are those of qmp_schema_validate();
 * messages begin with the query and give the path from the value, called
 * "return" for a ret-type, "arguments" for a command's arg-type, "data" for
 * an event's and "value" otherwise:
 *
 *   query-status/ret-type: return.status: 'runnin' is not one of debug, inmigrate, ...
 *   STOP/arg-type: data: unknown member 'reason'
 *
 * 0 when the value is valid.  warnings as for qmp_schema_validate().
 */
QMP_API int qmp_schema_validate_value(const qmp_schema *s, const char *query, const json_t *value, int flags,
                                      json_t **warnings);
/*
 * The same for a value given as JSON text (len bytes; integers above
 * INT64_MAX kept exact); the warnings, if asked for, come back as the JSON
 * text of an array, to be freed with qmp_free().  Text that is not JSON is
 * QMP_EINVAL.
 */
QMP_API int qmp_schema_validate_value_str(const qmp_schema *s, const char *query, const char *json, size_t len,
                                          int flags, char **warnings);

/* --- the schema of a connection ------------------------------------------- */

/*
 * The schema of the server the client is connected to: fetched with
 * query-qmp-schema on the first call on a connection (waiting up to
 * timeout_ms, 0: the client's default), then kept until the connection
 * closes.  Returns a new reference (qmp_schema_unref() it), or NULL with
 * the status of the failed fetch (QMP_ECLOSED when not connected).
 */
QMP_API qmp_schema *qmp_client_get_schema(qmp_client *c, int timeout_ms);

/* qmp_schema_has() on the connection's schema (fetched if need be): 1, 0 or a negative status. */
QMP_API int qmp_client_schema_has(qmp_client *c, const char *query);

/*
 * Validates every command this client sends from now on (flags as above;
 * 0 turns validation off).  Applies to qmp_client_execute*() and
 * qmp_client_execute_async(), and to the helpers built on them; a call's
 * qmp_exec_options.validate overrides it.  When the client is connected,
 * the schema is fetched now (with the client's default timeout), so that
 * asynchronous calls never wait for it; an error fetching it is returned
 * and validation stays as it was.  Otherwise the first validated call of a
 * connection fetches it, synchronously, also when that call is
 * qmp_client_execute_async() (after a reconnect, call qmp_client_get_schema()
 * first if the loop must never wait).  A validated call that cannot get the
 * schema fails with the fetch's status and is not sent.
 */
QMP_API int qmp_client_set_validation(qmp_client *c, int flags);
/* The client's validation flags (0: off). */
QMP_API int qmp_client_get_validation(qmp_client *c);

#ifdef __cplusplus
}
#endif

#endif /* QMP_SCHEMA_H */
