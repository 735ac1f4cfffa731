/*
 * unplug: hot-unplug a disk and wait until QEMU reports it gone, with the
 * function of unplug-disk.h (which tests/mock/test-unplug.c tests against
 * the test server, without QEMU).
 *
 *   unplug /path/to/qmp.sock [DEVICE_ID]
 */
#include <stdio.h>

#include <qmp/qmp.h>

#include "unplug-disk.h"

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s QMP_SOCKET [DEVICE_ID]\n", argv[0]);
        return 2;
    }
    const char *id = argc == 3 ? argv[2] : "disk0";
    qmp_client *c = qmp_client_new();
    if (qmp_client_connect_unix(c, argv[1], 5000) < 0) {
        fprintf(stderr, "connect: %s\n", qmp_error_last()->message);
        qmp_client_free(c);
        return 1;
    }
    int rc = unplug_disk(c, id, 5000);
    if (rc == 0)
        printf("unplug %s: done\n", id);
    else if (rc == QMP_ECOMMAND)
        printf("unplug %s: refused: %s: %s\n", id, qmp_error_last()->qmp_class, qmp_error_last()->qmp_desc);
    else
        printf("unplug %s: %s\n", id, qmp_error_last()->message);
    qmp_client_free(c);
    return 0;
}
