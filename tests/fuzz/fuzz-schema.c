/*
 * Fuzz target: qmp-schema.h, public API only, fed by a caller libqmp
 * cannot trust.
 *
 * Input: byte 0 picks what the rest is:
 *   0 mod 3  a query string (up to the first NUL) for qmp_schema_has(), and
 *            a name for qmp_schema_arguments() and qmp_schema_describe(),
 *            against QEMU 7.2's schema (tests/data/qemu-7.2/)
 *   1 mod 3  a command (JSON text) for qmp_schema_validate() against the
 *            same schema, with the flags (byte 0 / 3) & 7
 *   2 mod 3  a schema (JSON text) for qmp_schema_new_str(); when it is
 *            accepted, every command and event of it is described,
 *            summarised and validated with no arguments, and a few queries
 *            are asked
 *
 * Checked (a broken check aborts): every status is one the header
 * documents (has: 1, 0 or QMP_EINVAL; validate: 0 or QMP_EINVAL; the
 * others a value or NULL with QMP_EINVAL), every failure has a message,
 * out pointers follow the ownership rules (warnings: an array of strings on
 * success, NULL on error), a validation error names the command first, and
 * (with the sanitizers) no memory error or leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qmp/qmp.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef FUZZ_SCHEMA_FILE
#error "FUZZ_SCHEMA_FILE: the path of query-qmp-schema.json (tests/fuzz/meson.build sets it)"
#endif

#define CHECK(cond)                                                                                  \
    do {                                                                                             \
        if (!(cond)) {                                                                               \
            fprintf(stderr, "fuzz-schema: check failed at line %d: %s (last error %d: %s)\n",       \
                    __LINE__, #cond, qmp_error_last()->code, qmp_error_last()->message);             \
            abort();                                                                                 \
        }                                                                                            \
    } while (0)

static qmp_schema *g_schema;

static void load_schema(void)
{
    FILE *f = fopen(FUZZ_SCHEMA_FILE, "rb");
    if (!f) {
        perror(FUZZ_SCHEMA_FILE);
        abort();
    }
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    g_schema = qmp_schema_new_str(buf, n);
    if (!g_schema) {
        fprintf(stderr, "fuzz-schema: %s: %s\n", FUZZ_SCHEMA_FILE, qmp_error_last()->message);
        abort();
    }
}

static void failed_einval(void)
{
    CHECK(qmp_error_last()->code == QMP_EINVAL);
    CHECK(qmp_error_last()->message && qmp_error_last()->message[0]);
}

static void check_has(const qmp_schema *s, const char *q)
{
    int rc = qmp_schema_has(s, q);
    CHECK(rc == 1 || rc == 0 || rc == QMP_EINVAL);
    if (rc == QMP_EINVAL)
        failed_einval();
}

static void check_name(const qmp_schema *s, const char *name)
{
    json_t *a = qmp_schema_arguments(s, name);
    if (a) {
        CHECK(json_is_array(a));
        size_t i;
        json_t *m;
        json_array_foreach(a, i, m) {
            CHECK(json_is_string(json_object_get(m, "name")));
            CHECK(json_is_string(json_object_get(m, "type")));
            CHECK(json_is_boolean(json_object_get(m, "optional")));
        }
        json_decref(a);
    } else {
        failed_einval();
    }
    json_t *d = qmp_schema_describe(s, name);
    if (d) {
        CHECK(json_is_object(d));
        CHECK(json_is_string(json_object_get(d, "type")) || json_is_string(json_object_get(d, "meta-type")));
        json_decref(d);
    } else {
        failed_einval();
    }
}

static void check_validate(const qmp_schema *s, const json_t *cmd, int flags)
{
    json_t *w = (json_t *)(uintptr_t)1;
    int rc = qmp_schema_validate(s, cmd, flags, &w);
    CHECK(rc == 0 || rc == QMP_EINVAL);
    if (rc == 0) {
        CHECK(json_is_array(w));
        size_t i;
        json_t *x;
        json_array_foreach(w, i, x) CHECK(json_is_string(x));
        json_decref(w);
        return;
    }
    CHECK(w == NULL);
    failed_einval();
    /* A command with a name: the message starts with it. */
    const json_t *n = json_object_get(cmd, "execute");
    if (!n)
        n = json_object_get(cmd, "exec-oob");
    if (json_is_string(n) && flags >= 0 && !(flags & ~7)) {
        const char *name = json_string_value(n);
        size_t len = strlen(name);
        if (len == json_string_length(n)) /* no NUL inside */
            CHECK(strncmp(qmp_error_last()->message, name, len) == 0 && qmp_error_last()->message[len] == ':');
    }
}

static void fuzz_query(const uint8_t *data, size_t size)
{
    char *q = malloc(size + 1);
    if (!q)
        return;
    memcpy(q, data, size);
    q[size] = '\0';
    check_has(g_schema, q);
    check_name(g_schema, q);
    free(q);
}

static void fuzz_command(const uint8_t *data, size_t size, int flags)
{
    json_t *cmd = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!cmd)
        return;
    check_validate(g_schema, cmd, flags);
    json_decref(cmd);
}

static void fuzz_schema_text(const uint8_t *data, size_t size)
{
    qmp_schema *s = qmp_schema_new_str((const char *)data, size);
    if (!s) {
        failed_einval();
        return;
    }
    static const int whats[] = { QMP_SCHEMA_COMMANDS, QMP_SCHEMA_EVENTS };
    for (size_t k = 0; k < 2; k++) {
        json_t *l = qmp_schema_list(s, whats[k]);
        CHECK(json_is_array(l));
        size_t i;
        json_t *n;
        json_array_foreach(l, i, n) {
            const char *name = json_string_value(n);
            CHECK(name);
            check_name(s, name);
            char q[512];
            static const char *const tails[] = { "arg-type", "ret-type", "arg-type/x", "$deprecated",
                                                 "arg-type/+a/b", "ret-type/!str", "arg-type/x/^y/$z" };
            for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
                snprintf(q, sizeof q, "%s/%s", name, tails[t]);
                check_has(s, q);
            }
            if (whats[k] == QMP_SCHEMA_COMMANDS) {
                json_t *cmd = json_pack("{s:s}", "execute", name);
                CHECK(cmd);
                check_validate(s, cmd, QMP_VALIDATE);
                json_decref(cmd);
            }
        }
        json_decref(l);
    }
    qmp_schema_unref(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_schema)
        load_schema();
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_query(data + 1, size - 1);
        break;
    case 1:
        fuzz_command(data + 1, size - 1, (data[0] / 3) & 7);
        break;
    default:
        fuzz_schema_text(data + 1, size - 1);
        break;
    }
    return 0;
}
