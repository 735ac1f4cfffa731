/*
 * qmp-json.h: JSON helpers for what jansson cannot say by itself.
 *
 * QEMU sends uint64 counters and sizes that may exceed INT64_MAX, which
 * jansson's json_int_t cannot hold.  libqmp decodes such an integer into a
 * jansson integer holding the same 64 bits (so json_integer_value() shows it
 * as negative) and remembers that it is unsigned: qmp_json_get_uint64() reads
 * it back exactly, and libqmp's own encoder (used for every command it sends
 * and by qmp_json_dumps()) writes it back exactly.
 */
#ifndef QMP_JSON_H
#define QMP_JSON_H

#include <jansson.h>
#include <qmp/qmp-common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Reads an integer as unsigned 64 bits, exactly: a non-negative integer, or
 * one above INT64_MAX that libqmp decoded or built (qmp_json_uint64()).
 * QMP_EINVAL for anything else (not an integer, or a negative number).
 */
QMP_API int qmp_json_get_uint64(const json_t *value, unsigned long long *out);

/* A new integer that reaches the wire as this exact unsigned value. */
QMP_API json_t *qmp_json_uint64(unsigned long long value);

/*
 * Parses JSON text the way libqmp parses what the server sends (exact
 * uint64, UTF-8 checked, nesting limited to 1024).  Returns a new reference,
 * or NULL with QMP_EINVAL and the position of the error in qmp_error_last().
 */
QMP_API json_t *qmp_json_parse(const char *text, size_t length);

/* Compact JSON text of value, with exact uint64; qmp_free() it.  NULL on error. */
QMP_API char *qmp_json_dumps(const json_t *value);

#ifdef __cplusplus
}
#endif

#endif /* QMP_JSON_H */
