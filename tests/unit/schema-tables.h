/*
 * Readers for the two tables shared by tests/unit/test-schema.c (against
 * the captured schema) and tests/interop/test-schema.c (against a live
 * QEMU): tests/data/schema-queries.txt and tests/data/schema-verdicts.txt.
 * Their formats are described at the top of each file.  Header-only, for
 * CMocka tests (fails the test on a malformed table); static inline, so a
 * test that uses one table builds with -Werror=unused-function.
 */
#ifndef LIBQMP_TEST_SCHEMA_TABLES_H
#define LIBQMP_TEST_SCHEMA_TABLES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qmp/qmp.h>

#include "data-loader.h"

/*
 * The rows each table has: a loader fails when it finds fewer, so rows
 * cannot be lost unnoticed.  Raise these when adding rows.
 */
#define SCHEMA_QUERIES_ROWS 138
#define SCHEMA_VERDICTS_ROWS 86

/*
 * The next line of a table that is neither empty nor a comment ('#'), cut
 * out in place (NUL-terminated), or NULL at the end.  *cursor walks the
 * buffer; *lineno counts every line, for messages.
 */
static inline char *tables_next_line(char **cursor, int *lineno)
{
    while (*cursor && **cursor) {
        char *line = *cursor;
        char *nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
            *cursor = nl + 1;
        } else {
            *cursor = NULL;
        }
        ++*lineno;
        if (*line && *line != '#')
            return line;
    }
    return NULL;
}

/* ---- schema-queries.txt ---------------------------------------------------- */

typedef struct query_line {
    int line;           /* in the file */
    char verdict;       /* '1', '0' or 'E' */
    const char *query;  /* points into the file's buffer */
} query_line;

typedef struct query_table {
    char *buf;
    query_line *rows;
    size_t n;
} query_table;

static inline void query_table_load(query_table *t)
{
    t->buf = test_data_read("schema-queries.txt", NULL);
    t->rows = NULL;
    t->n = 0;
    size_t cap = 0;
    int lineno = 0;
    char *cursor = t->buf;
    for (char *p; (p = tables_next_line(&cursor, &lineno));) {
        if (!(p[0] == '1' || p[0] == '0' || p[0] == 'E') || p[1] != ' ')
            fail_msg("schema-queries.txt:%d: expected \"1 QUERY\", \"0 QUERY\" or \"E QUERY\": %s", lineno, p);
        if (t->n == cap) {
            cap = cap ? cap * 2 : 64;
            t->rows = realloc(t->rows, cap * sizeof *t->rows);
            assert_non_null(t->rows);
        }
        t->rows[t->n].line = lineno;
        t->rows[t->n].verdict = p[0];
        t->rows[t->n].query = p + 2;
        t->n++;
    }
    if (t->n < SCHEMA_QUERIES_ROWS)
        fail_msg("schema-queries.txt: %zu rows, fewer than the %d it has had", t->n, SCHEMA_QUERIES_ROWS);
}

static inline void query_table_free(query_table *t)
{
    free(t->rows);
    free(t->buf);
}

/* ---- schema-verdicts.txt ---------------------------------------------------- */

#define VERDICT_MAX_WARNINGS 8

typedef struct verdict_line {
    int line;
    int flags;                 /* QMP_VALIDATE | ... */
    const char *command;       /* JSON text */
    int ok;                    /* 1: valid; 0: QMP_EINVAL */
    const char *message;       /* !ok: the exact message */
    const char *warnings[VERDICT_MAX_WARNINGS];
    size_t nwarnings;
} verdict_line;

typedef struct verdict_table {
    char *buf;
    verdict_line *rows;
    size_t n;
} verdict_table;

static inline void verdict_table_load(verdict_table *t)
{
    t->buf = test_data_read("schema-verdicts.txt", NULL);
    t->rows = NULL;
    t->n = 0;
    size_t cap = 0;
    int lineno = 0;
    char *cursor = t->buf;
    for (char *p; (p = tables_next_line(&cursor, &lineno));) {
        char *fields[3 + VERDICT_MAX_WARNINGS];
        size_t nf = 0;
        for (char *f = p;;) {
            if (nf == sizeof fields / sizeof fields[0])
                fail_msg("schema-verdicts.txt:%d: too many fields", lineno);
            fields[nf++] = f;
            char *tab = strchr(f, '\t');
            if (!tab)
                break;
            *tab = '\0';
            f = tab + 1;
        }
        if (nf < 3)
            fail_msg("schema-verdicts.txt:%d: expected FLAGS<TAB>COMMAND<TAB>RESULT", lineno);
        verdict_line v;
        memset(&v, 0, sizeof v);
        v.line = lineno;
        v.flags = QMP_VALIDATE;
        if (strcmp(fields[0], "-") != 0) {
            for (const char *c = fields[0]; *c; c++) {
                if (*c == 'D')
                    v.flags |= QMP_VALIDATE_DENY_DEPRECATED;
                else if (*c == 'U')
                    v.flags |= QMP_VALIDATE_DENY_UNSTABLE;
                else
                    fail_msg("schema-verdicts.txt:%d: bad FLAGS '%s'", lineno, fields[0]);
            }
        }
        v.command = fields[1];
        if (strcmp(fields[2], "ok") == 0) {
            v.ok = 1;
            for (size_t i = 3; i < nf; i++)
                v.warnings[v.nwarnings++] = fields[i];
        } else if (strcmp(fields[2], "EINVAL") == 0) {
            if (nf != 4)
                fail_msg("schema-verdicts.txt:%d: EINVAL takes exactly one MESSAGE", lineno);
            v.message = fields[3];
        } else {
            fail_msg("schema-verdicts.txt:%d: RESULT must be ok or EINVAL, not '%s'", lineno, fields[2]);
        }
        if (t->n == cap) {
            cap = cap ? cap * 2 : 64;
            t->rows = realloc(t->rows, cap * sizeof *t->rows);
            assert_non_null(t->rows);
        }
        t->rows[t->n++] = v;
    }
    if (t->n < SCHEMA_VERDICTS_ROWS)
        fail_msg("schema-verdicts.txt: %zu rows, fewer than the %d it has had", t->n, SCHEMA_VERDICTS_ROWS);
}

static inline void verdict_table_free(verdict_table *t)
{
    free(t->rows);
    free(t->buf);
}

/* The name a verdict's command executes ("execute" or "exec-oob"): a pointer into cmd. */
static inline const char *verdict_command_name(const json_t *cmd)
{
    const json_t *n = json_object_get(cmd, "execute");
    if (!n)
        n = json_object_get(cmd, "exec-oob");
    return json_string_value(n);
}

/*
 * Checks one validation outcome against the table: rc and qmp_error_last()
 * right after the call, and the warnings array it gave (NULL allowed only
 * on error).  Returns 1 when it matches; otherwise prints why and returns 0.
 */
static inline int verdict_matches(const verdict_line *v, int rc, const json_t *warnings, const char *where)
{
    if (!v->ok) {
        if (rc != QMP_EINVAL) {
            print_error("schema-verdicts.txt:%d (%s): %s\n  expected QMP_EINVAL \"%s\"\n  got %d \"%s\"\n", v->line,
                        where, v->command, v->message, rc, qmp_error_last()->message);
            return 0;
        }
        if (strcmp(qmp_error_last()->message, v->message) != 0) {
            print_error("schema-verdicts.txt:%d (%s): %s\n  expected \"%s\"\n  got      \"%s\"\n", v->line, where,
                        v->command, v->message, qmp_error_last()->message);
            return 0;
        }
        return 1;
    }
    if (rc != 0) {
        print_error("schema-verdicts.txt:%d (%s): %s\n  expected ok, got %d \"%s\"\n", v->line, where, v->command,
                    rc, qmp_error_last()->message);
        return 0;
    }
    if (!json_is_array(warnings)) {
        print_error("schema-verdicts.txt:%d (%s): no warnings array\n", v->line, where);
        return 0;
    }
    int same = json_array_size(warnings) == v->nwarnings;
    for (size_t i = 0; same && i < v->nwarnings; i++) {
        const char *w = json_string_value(json_array_get(warnings, i));
        same = w && strcmp(w, v->warnings[i]) == 0;
    }
    if (!same) {
        char *got = json_dumps(warnings, JSON_COMPACT);
        print_error("schema-verdicts.txt:%d (%s): %s\n  expected %zu warning(s)%s%s\n  got %s\n", v->line, where,
                    v->command, v->nwarnings, v->nwarnings ? ", first: " : "", v->nwarnings ? v->warnings[0] : "",
                    got ? got : "?");
        free(got);
        return 0;
    }
    return 1;
}

#endif /* LIBQMP_TEST_SCHEMA_TABLES_H */
