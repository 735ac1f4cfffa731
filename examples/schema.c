/*
 * schema: ask the server what it supports, then let libqmp check commands
 * against the server's own schema before they are sent.
 *
 *   schema /path/to/qmp.sock
 */
#include <stdio.h>

#include <qmp/qmp.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s QMP_SOCKET\n", argv[0]);
        return 2;
    }
    qmp_client *c = qmp_client_new();
    if (qmp_client_connect_unix(c, argv[1], 5000) < 0) {
        fprintf(stderr, "connect: %s\n", qmp_error_last()->message);
        qmp_client_free(c);
        return 1;
    }

    /* Capability probing: 1 yes, 0 no, negative on error. */
    const char *queries[] = {
        "blockdev-add/arg-type/+file/aio/^io_uring",   /* may the file driver use io_uring? */
        "blockdev-add/arg-type/+file/drop-cache",      /* does it know drop-cache? */
        "blockdev-add/arg-type/+qcow2/drop-cache",     /* not a qcow2 option */
        "query-status/ret-type/status/^running",
    };
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        int has = qmp_client_schema_has(c, queries[i]);
        if (has < 0) {
            fprintf(stderr, "%s: %s\n", queries[i], qmp_error_last()->message);
            qmp_client_free(c);
            return 1;
        }
        printf("%-45s %s\n", queries[i], has ? "yes" : "no");
    }

    /* One call turns validation on for every command from now on. */
    if (qmp_client_set_validation(c, QMP_VALIDATE) < 0) {
        fprintf(stderr, "validation: %s\n", qmp_error_last()->message);
        qmp_client_free(c);
        return 1;
    }
    json_t *cmd = qmp_command_new("blockdev-add", "s:driver", "file", "s:node-name", "f0",
                                  "s:filename", "/nonexistent.img", "s:aio", "io_urin", NULL);
    if (qmp_client_execute(c, cmd, NULL) == QMP_EINVAL)
        printf("refused before sending: %s\n", qmp_error_last()->message);

    /* A command's arguments, from the same schema. */
    qmp_schema *s = qmp_client_get_schema(c, 0);
    json_t *args = s ? qmp_schema_arguments(s, "query-command-line-options") : NULL;
    size_t i;
    json_t *a;
    json_array_foreach(args, i, a)
        printf("query-command-line-options %s: %s%s\n", json_string_value(json_object_get(a, "name")),
               json_string_value(json_object_get(a, "type")),
               json_is_true(json_object_get(a, "optional")) ? " (optional)" : "");
    json_decref(args);
    qmp_schema_unref(s);

    qmp_client_free(c);
    return 0;
}
