/*
 * qmp-bench-agent: the guest agent round trip (guest-ping) through libqmp
 * against a raw socket client doing the same thing by hand (0xFF, then
 * guest-sync-delimited, skipping to the 0xFF sentinel, then guest-ping
 * commands read back line by line with json_loadb()), in one run, against one
 * qemu-ga started here with -b blocking every command that changes the
 * machine (QGA_BLOCKED_RPCS of tests/agent/qga.h).
 *
 *   qmp-bench-agent [--quick]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <qmp/qmp.h>

#include "qga.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* --- the raw client ------------------------------------------------------- */

static char rbuf[65536];
static size_t rlen;

static int raw_fill(int fd)
{
    ssize_t n = read(fd, rbuf + rlen, sizeof rbuf - rlen);
    if (n <= 0) return -1;
    rlen += (size_t)n;
    return 0;
}

/* The next newline-terminated message as a tree. */
static json_t *raw_line(int fd)
{
    for (;;) {
        char *nl = memchr(rbuf, '\n', rlen);
        if (nl) {
            size_t line = (size_t)(nl - rbuf) + 1;
            json_t *v = json_loadb(rbuf, line, 0, NULL);
            memmove(rbuf, rbuf + line, rlen - line);
            rlen -= line;
            return v;
        }
        if (rlen == sizeof rbuf || raw_fill(fd) < 0) return NULL;
    }
}

static int raw_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (fd < 0) return -1;
    if (strlen(path) >= sizeof sa.sun_path || (memcpy(sa.sun_path, path, strlen(path) + 1),
                                               connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)) {
        close(fd);
        return -1;
    }
    /* Resync: 0xFF, guest-sync-delimited, skip to the sentinel, check the id. */
    char sync[128];
    int n = snprintf(sync, sizeof sync, "\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":%d}}", 4242);
    if (write(fd, sync, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    rlen = 0;
    for (;;) {
        char *ff = memchr(rbuf, 0xff, rlen);
        if (ff) {
            size_t skip = (size_t)(ff - rbuf) + 1;
            memmove(rbuf, rbuf + skip, rlen - skip);
            rlen -= skip;
            break;
        }
        rlen = 0;
        if (raw_fill(fd) < 0) {
            close(fd);
            return -1;
        }
    }
    json_t *r = raw_line(fd);
    int ok = json_integer_value(json_object_get(r, "return")) == 4242;
    json_decref(r);
    if (!ok) close(fd);
    return ok ? fd : -1;
}

static int raw_ping(int fd, long long id)
{
    char cmd[96];
    int n = snprintf(cmd, sizeof cmd, "{\"execute\":\"guest-ping\",\"id\":%lld}", id);
    if (write(fd, cmd, (size_t)n) != n) return -1;
    json_t *r = raw_line(fd);
    int ok = json_is_object(json_object_get(r, "return")) && json_integer_value(json_object_get(r, "id")) == id;
    json_decref(r);
    return ok ? 0 : -1;
}

/* --- qemu-ga, always with -b ------------------------------------------------ */

static pid_t start_qga(char *dir, size_t dirlen, char *sock, size_t socklen)
{
    snprintf(dir, dirlen, "%s/qmp-bench-agent.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) return -1;
    char state[600], pidfile[600], log[600];
    snprintf(sock, socklen, "%s/qga.sock", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(pidfile, sizeof pidfile, "%s/qga.pid", dir);
    snprintf(log, sizeof log, "%s/qga.log", dir);
    mkdir(state, 0700);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("qemu-ga", "qemu-ga", "-m", "unix-listen", "-p", sock, "-t", state, "-f", pidfile, "-l", log,
               "-b", QGA_BLOCKED_RPCS, (char *)NULL);
        _exit(127);
    }
    struct stat st;
    for (int i = 0; i < 500 && stat(sock, &st) != 0; i++) usleep(20000);
    return pid;
}

int main(int argc, char **argv)
{
    int n = argc > 1 && !strcmp(argv[1], "--quick") ? 200 : 5000;
    char dir[512], sock[600];
    pid_t pid = start_qga(dir, sizeof dir, sock, sizeof sock);
    if (pid <= 0) {
        fprintf(stderr, "qmp-bench-agent: cannot start qemu-ga\n");
        return 1;
    }
    double *lib = calloc((size_t)n, sizeof *lib), *raw = calloc((size_t)n, sizeof *raw);
    int rc = 1;
    qmp_client *c = qmp_client_new();
    double t0 = now_us();
    if (qmp_client_connect_agent_unix(c, sock, 10000) < 0) {
        fprintf(stderr, "qmp-bench-agent: %s\n", qmp_error_last()->message);
        goto out;
    }
    double lib_connect = now_us() - t0;
    for (int i = 0; i < n; i++) {
        double t = now_us();
        json_t *r = NULL;
        if (qmp_client_execute(c, qmp_command_new("guest-ping", NULL), &r) < 0) {
            fprintf(stderr, "qmp-bench-agent: %s\n", qmp_error_last()->message);
            goto out;
        }
        json_decref(r);
        lib[i] = now_us() - t;
    }
    qmp_client_close(c);
    t0 = now_us();
    int fd = raw_connect(sock);
    double raw_connect_us = now_us() - t0;
    if (fd < 0) {
        fprintf(stderr, "qmp-bench-agent: the raw client could not sync\n");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        double t = now_us();
        if (raw_ping(fd, i + 1) < 0) {
            fprintf(stderr, "qmp-bench-agent: the raw client lost its way\n");
            close(fd);
            goto out;
        }
        raw[i] = now_us() - t;
    }
    close(fd);
    printf("| workload | client | median |\n|---|---|---|\n");
    printf("| agent connect + sync (guest-sync-delimited) | libqmp | %.1f us |\n", lib_connect);
    printf("| agent connect + sync (guest-sync-delimited) | raw socket | %.1f us |\n", raw_connect_us);
    printf("| agent round trip (guest-ping, %d calls) | libqmp | %.1f us |\n", n, median(lib, n));
    printf("| agent round trip (guest-ping, %d calls) | raw socket | %.1f us |\n", n, median(raw, n));
    rc = 0;
out:
    qmp_client_free(c);
    free(lib);
    free(raw);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "qmp-bench-agent: could not remove %s\n", dir);
    return rc;
}
