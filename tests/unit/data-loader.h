/*
 * The test data (tests/data/, found through $LIBQMP_TEST_DATA) for the
 * public-API unit tests and the tables of schema-tables.h: a file read
 * whole, and QEMU 7.2's captured schema loaded by the library.
 * Header-only, for CMocka tests (a missing file fails the test); static
 * inline, so a test that uses one of them builds with
 * -Werror=unused-function.
 */
#ifndef LIBQMP_TEST_DATA_H
#define LIBQMP_TEST_DATA_H

#include <stdio.h>
#include <stdlib.h>

#include <qmp/qmp.h>

/* QEMU 7.2's schema (the "return" of query-qmp-schema), under the data. */
#define QEMU72_SCHEMA_FILE "qemu-7.2/query-qmp-schema.json"

/* A whole file of $LIBQMP_TEST_DATA (malloc'd, NUL-terminated); *len its size. */
static inline char *test_data_read(const char *name, size_t *len)
{
    const char *dir = getenv("LIBQMP_TEST_DATA");
    if (!dir)
        fail_msg("LIBQMP_TEST_DATA is not set");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/*
 * The schema in text (len bytes) loaded by the library, or NULL with the
 * library's message on stderr: for a group set-up, which cannot fail the
 * test itself.
 */
static inline qmp_schema *test_schema_new(const char *text, size_t len)
{
    qmp_schema *s = qmp_schema_new_str(text, len);
    if (!s)
        fprintf(stderr, "qmp_schema_new_str: %s\n", qmp_error_last()->message);
    return s;
}

#endif
