/*
 * fd-passing: hand QEMU one end of a pipe with getfd, migrate the (empty)
 * VM into it with "fd:NAME", and read the migration stream back from the
 * other end.  Also shows add-fd and query-fdsets.
 *
 *   fd-passing /path/to/qmp.sock
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
    int rc = 1;
    int p[2] = {-1, -1};
    if (pipe2(p, O_CLOEXEC) < 0) {
        perror("pipe2");
        goto out;
    }

    /* add-fd: the fd joins an fd set; QEMU reports its own number for it. */
    long long set_id, qemu_fd;
    if (qmp_client_add_fd(c, p[0], -1, "example", &set_id, &qemu_fd) < 0) {
        fprintf(stderr, "add-fd: %s\n", qmp_error_last()->message);
        goto out;
    }
    char *fdsets = NULL;
    qmp_client_execute_str(c, "{\"execute\": \"query-fdsets\"}", &fdsets);
    printf("fd set %lld holds QEMU fd %lld: %s\n", set_id, qemu_fd, fdsets);
    qmp_free(fdsets);

    /* getfd + migrate "fd:": QEMU writes into our pipe. */
    if (qmp_client_getfd(c, p[1], "migout") < 0) {
        fprintf(stderr, "getfd: %s\n", qmp_error_last()->message);
        goto out;
    }
    close(p[1]); /* QEMU has its own copy now; ours would hide the end of the stream */
    p[1] = -1;
    if (qmp_client_execute(c, qmp_command_new("migrate", "s:uri", "fd:migout", NULL), NULL) < 0) {
        fprintf(stderr, "migrate: %s\n", qmp_error_last()->message);
        goto out;
    }
    unsigned char buf[65536];
    size_t total = 0;
    unsigned char magic[4] = {0};
    ssize_t n;
    while ((n = read(p[0], buf, sizeof buf)) > 0) {
        if (total < 4) memcpy(magic + total, buf, (size_t)n < 4 - total ? (size_t)n : 4 - total);
        total += (size_t)n;
    }
    printf("read %zu bytes of migration stream, magic \"%.4s\"\n", total, (const char *)magic);
    rc = memcmp(magic, "QEVM", 4) == 0 ? 0 : 1;

out:
    if (p[0] >= 0) close(p[0]);
    if (p[1] >= 0) close(p[1]);
    qmp_client_free(c);
    return rc;
}
