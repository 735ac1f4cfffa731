/*
 * connect-and-query: the smallest useful libqmp program.
 *
 *   connect-and-query /path/to/qmp.sock
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

    int major, minor, micro;
    qmp_client_get_version(c, &major, &minor, &micro);
    printf("QEMU %d.%d.%d\n", major, minor, micro);

    json_t *status = NULL;
    if (qmp_client_execute(c, qmp_command_new("query-status", NULL), &status) < 0) {
        fprintf(stderr, "query-status: %s\n", qmp_error_last()->message);
        qmp_client_free(c);
        return 1;
    }
    printf("status: %s\n", json_string_value(json_object_get(status, "status")));
    json_decref(status);

    /* A QMP error keeps its class. */
    if (qmp_client_execute(c, qmp_command_new("no-such-command", NULL), NULL) == QMP_ECOMMAND)
        printf("error class: %s (%s)\n", qmp_error_last()->qmp_class, qmp_error_last()->qmp_desc);

    qmp_client_free(c);
    return 0;
}
