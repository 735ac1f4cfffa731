/* The costs of schema intelligence (qmp-schema.h): what validation adds to
 * each command, and what loading the schema costs once per connection.
 * Written only against the public API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qmp/qmp.h>

#include "bench.h"

/* blockdev-add of a qcow2 node over a file node, as a toolstack sends it:
 * a union, its branch, a nested union (the file), enums and booleans. */
static json_t *blockdev_add(long i) {
    char name[32];
    snprintf(name, sizeof name, "fmt%ld", i);
    json_t *file = qmp_args_new("s:driver", "file", "s:filename", "/var/lib/images/disk0.qcow2",
                                "s:aio", "io_uring", "b:read-only", 0, "s:discard", "unmap", NULL);
    json_t *cache = qmp_args_new("b:direct", 1, "b:no-flush", 0, NULL);
    return qmp_command_new("blockdev-add", "s:driver", "qcow2", "s:node-name", name,
                           "a:file", &file, "a:cache", &cache, "b:read-only", 0, "s:discard", "unmap",
                           "s:detect-zeroes", "unmap", "b:lazy-refcounts", 1,
                           "Y:cache-size", 33554432LL, NULL);
}

/* libvirt's drive-mirror call (qemuMonitorJSONDriveMirror's codes). */
static json_t *drive_mirror(long i) {
    char dev[32];
    snprintf(dev, sizeof dev, "drive-virtio-disk%ld", i % 8);
    return qmp_command_new("drive-mirror", "s:device", dev, "s:target", "/tmp/mirror.qcow2",
                           "Y:speed", 1048576LL, "z:granularity", 65536, "P:buf-size", 8388608ULL,
                           "s:sync", "full", "s:mode", "existing", "S:format", "qcow2", NULL);
}

/* Two clients on the mock, one validating, measured in alternating batches so
 * that both see the same machine: s->value is the round trip without
 * validation, s->extra with it. */
void lib_validated_round_trip(const char *sock, long count, sample_t *s) {
    qmp_client *c[2] = {NULL, NULL};
    double spent[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        c[k] = lib_open(sock, s);
        if (!c[k])
            goto out;
    }
    /* The schema is loaded before the clock starts: its cost is the load row's. */
    if (qmp_client_set_validation(c[1], QMP_VALIDATE) < 0) {
        sample_fail(s, "set_validation: %s", qmp_error_last()->message);
        goto out;
    }
    for (long i = 0; i < 10 && i < count; i++) {
        qmp_client_execute(c[0], blockdev_add(i), NULL);
        qmp_client_execute(c[1], blockdev_add(i), NULL);
    }
    const long batch = 100;
    for (long done = 0; done < count; done += batch) {
        for (int k = 0; k < 2; k++) {
            double t0 = now_s();
            for (long i = done; i < done + batch && i < count; i++) {
                if (qmp_client_execute(c[k], blockdev_add(i), NULL) < 0) {
                    sample_fail(s, "blockdev-add: %s", qmp_error_last()->message);
                    goto out;
                }
            }
            spent[k] += now_s() - t0;
        }
    }
    s->value = spent[0] * 1e6 / (double)count;
    s->extra = spent[1] * 1e6 / (double)count;
out:
    qmp_client_free(c[0]);
    qmp_client_free(c[1]);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

void lib_validate_only(const char *schema_path, long count, int which, int validate, sample_t *s) {
    size_t len = 0;
    char *text = read_file(schema_path, &len);
    qmp_schema *schema = text ? qmp_schema_new_str(text, len) : NULL;
    free(text);
    if (!schema) {
        sample_fail(s, "cannot load %s: %s", schema_path, text ? qmp_error_last()->message : "unreadable");
        return;
    }
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        json_t *cmd = which ? drive_mirror(i) : blockdev_add(i);
        if (!cmd || (validate && qmp_schema_validate(schema, cmd, 0, NULL) < 0)) {
            sample_fail(s, "validate: %s", qmp_error_last()->message);
            json_decref(cmd);
            break;
        }
        json_decref(cmd);
    }
    s->value = (now_s() - t0) * 1e6 / (double)count;
    qmp_schema_unref(schema);
}

void lib_schema_load(const char *sock, long count, sample_t *s) {
    qmp_client *c = lib_open(sock, s);
    if (!c)
        return;
    /* What qmp_client_get_schema() does on a connection's first call. */
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        char *reply = NULL;
        qmp_schema *schema = NULL;
        if (qmp_client_execute_str(c, "{\"execute\":\"query-qmp-schema\"}", &reply) < 0 ||
            !(schema = qmp_schema_new_str(reply, strlen(reply)))) {
            sample_fail(s, "query-qmp-schema: %s", qmp_error_last()->message);
            qmp_free(reply);
            break;
        }
        qmp_schema_unref(schema);
        qmp_free(reply);
    }
    s->value = (now_s() - t0) * 1e3 / (double)count;
    qmp_client_free(c);
}
