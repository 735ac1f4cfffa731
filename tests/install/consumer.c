/*
 * A program outside the tree, built from the installed files with nothing
 * but `pkg-config --cflags --libs libqmp`: the headers compile as C99
 * -pedantic, and the library links and runs.
 */
#include <stdio.h>
#include <string.h>

#include <qmp/qmp.h>

int main(void)
{
    char expected[64];
    snprintf(expected, sizeof expected, "%d.%d.%d",
             QMP_VERSION_MAJOR, QMP_VERSION_MINOR, QMP_VERSION_MICRO);
    const char *version = qmp_version_string();
    printf("libqmp %s (headers %s)\n", version, expected);
    if (strcmp(version, expected) != 0) {
        fprintf(stderr, "consumer: library %s, headers %s\n", version, expected);
        return 1;
    }

    json_t *cmd = qmp_command_new("block-set-write-threshold",
                                  "s:node-name", "disk0",
                                  "U:write-threshold", 18446744073709551615ULL,
                                  NULL);
    if (!cmd) {
        fprintf(stderr, "consumer: qmp_command_new: %s\n", qmp_error_last()->message);
        return 1;
    }
    char *text = qmp_json_dumps(cmd);
    if (!text) {
        fprintf(stderr, "consumer: qmp_json_dumps: %s\n", qmp_error_last()->message);
        return 1;
    }
    printf("%s\n", text);
    int ok = strstr(text, "\"execute\":\"block-set-write-threshold\"") != NULL &&
             strstr(text, "18446744073709551615") != NULL;
    qmp_free(text);
    json_decref(cmd);

    if (!ok)
        fprintf(stderr, "consumer: unexpected qmp_json_dumps() text\n");

    /* A client that connects nowhere: calls fail with "not connected". */
    qmp_client *c = qmp_client_new();
    if (!c) {
        fprintf(stderr, "consumer: qmp_client_new: %s\n", qmp_error_last()->message);
        return 1;
    }
    if (qmp_client_is_connected(c) != 0) {
        fprintf(stderr, "consumer: a new client says it is connected\n");
        ok = 0;
    }
    int rc = qmp_client_execute(c, qmp_command_new("query-status", NULL), NULL);
    if (rc != QMP_ECLOSED) {
        fprintf(stderr, "consumer: execute on an unconnected client: %d (%s), expected %d\n",
                rc, qmp_error_last()->message, QMP_ECLOSED);
        ok = 0;
    }
    qmp_client_free(c);

    if (!ok)
        return 1;
    printf("%s\n", qmp_strerror(QMP_ECLOSED));
    return 0;
}
