#include "connect.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "launch.h"

struct connect_state {
    int done;
    int status;
};

static void on_connected(qmp_client *c, int status, void *user_data)
{
    (void)c;
    struct connect_state *s = user_data;
    s->done = 1;
    s->status = status;
}

/* Connects to the launched QEMU, giving up as soon as it exits. */
static int connect_launched(const cli *o, qmp_client *c)
{
    const char *path;
    if (launch_start(o->qemu_args, o->n_qemu_args, o->verbose, &path) < 0) return EXIT_CONN;
    int timeout = o->timeout_ms >= 0 ? o->timeout_ms : LAUNCH_TIMEOUT_MS;
    struct connect_state s = {0, 0};
    if (qmp_client_connect_unix_async(c, path, timeout > 0 ? timeout : 1, on_connected, &s, NULL) < 0) {
        report_qmp_error(NULL);
        return EXIT_CONN;
    }
    char why[128];
    while (!s.done) {
        if (!launch_alive(why, sizeof why)) {
            /* Cancel the connect now: its callback points at `s`, on this stack. */
            qmp_client_close(c);
            warn_msg("QEMU %s before QMP was ready; its output:", why);
            launch_show_log();
            return EXIT_CONN;
        }
        int fd = qmp_client_get_fd(c);
        int ev = qmp_client_get_events(c);
        struct pollfd p = {fd, (short)((ev & QMP_POLL_IN ? POLLIN : 0) | (ev & QMP_POLL_OUT ? POLLOUT : 0)), 0};
        int t = qmp_client_get_timeout_ms(c);
        if (t < 0 || t > 50) t = 50; /* look at QEMU now and then */
        poll(&p, fd >= 0 ? 1 : 0, t);
        int revents = (p.revents & (POLLIN | POLLHUP | POLLERR) ? QMP_POLL_IN : 0) |
                      (p.revents & POLLOUT ? QMP_POLL_OUT : 0);
        qmp_client_process(c, fd >= 0 ? revents : 0);
    }
    if (s.status != QMP_OK) {
        report_qmp_error(NULL);
        launch_show_log();
        return EXIT_CONN;
    }
    return EXIT_OK;
}

/* HOST:PORT, [V6ADDR]:PORT. */
static int connect_tcp(const cli *o, qmp_client *c, int timeout)
{
    char *copy = strdup(o->tcp);
    if (!copy) return EXIT_CONN;
    char *colon = strrchr(copy, ':');
    if (!colon || colon == copy || !colon[1]) {
        free(copy);
        warn_msg("--tcp: expected HOST:PORT, not '%s'", o->tcp);
        return EXIT_USAGE;
    }
    *colon = '\0';
    char *host = copy;
    size_t len = strlen(host);
    if (host[0] == '[' && len > 2 && host[len - 1] == ']') {
        host[len - 1] = '\0';
        host++;
    }
    int rc = qmp_client_connect_tcp(c, host, colon + 1, timeout);
    free(copy);
    if (rc < 0) {
        report_qmp_error(NULL);
        return EXIT_CONN;
    }
    return EXIT_OK;
}

int qmpctl_connect(const cli *o, qmp_client *c)
{
    if (o->launch) return connect_launched(o, c);
    int timeout = o->timeout_ms >= 0 ? o->timeout_ms : CONNECT_TIMEOUT_MS;
    if (timeout == 0) timeout = 1; /* 0 would mean the library's default */
    if (o->tcp) return connect_tcp(o, c, timeout);
    if (o->agent) {
        if (o->verbose) fprintf(stderr, "qmpctl: connecting to the guest agent at %s\n", o->agent);
        if (qmp_client_connect_agent_unix(c, o->agent, timeout) < 0) {
            report_qmp_error(NULL);
            return EXIT_CONN;
        }
        return EXIT_OK;
    }
    const char *path = o->socket;
    if (!path) path = getenv("QMP_SOCKET");
    if (!path || !*path) {
        warn_msg("no QMP server: give -s PATH, --tcp HOST:PORT or --launch, or set QMP_SOCKET");
        return EXIT_USAGE;
    }
    if (o->verbose) fprintf(stderr, "qmpctl: connecting to %s\n", path);
    if (qmp_client_connect_unix(c, path, timeout) < 0) {
        report_qmp_error(NULL);
        return EXIT_CONN;
    }
    return EXIT_OK;
}
