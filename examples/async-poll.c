/*
 * async-poll: drive libqmp from a plain poll() loop, without ever blocking.
 *
 * Connects without blocking, sends three commands at once (pipelined), stops
 * and resumes the VM, and prints the replies and events as they arrive.
 *
 *   async-poll /path/to/qmp.sock
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include <qmp/qmp.h>

static int pending;   /* replies still to come */
static int failed;

static void on_reply(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    const char *what = user_data;
    if (status == QMP_OK) {
        char *text = qmp_json_dumps(result);
        printf("%s -> %s\n", what, text);
        qmp_free(text);
    } else {
        printf("%s failed: %s\n", what, qmp_error_last()->message);
        failed = 1;
    }
    pending--;
}

static void on_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)c;
    (void)user_data;
    printf("event %s (seq %llu)\n", qmp_event_name(ev), qmp_event_seq(ev));
}

static void on_connected(qmp_client *c, int status, void *user_data)
{
    (void)user_data;
    if (status != QMP_OK) {
        fprintf(stderr, "connect: %s\n", qmp_error_last()->message);
        failed = 1;
        pending = 0;
        return;
    }
    int major, minor, micro;
    qmp_client_get_version(c, &major, &minor, &micro);
    printf("connected to QEMU %d.%d.%d\n", major, minor, micro);

    /* All sent at once; each reply finds its own callback. */
    static const char *const names[] = {"query-version", "stop", "query-status", "cont", "query-status"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (qmp_client_execute_async(c, qmp_command_new(names[i], NULL), NULL, on_reply,
                                     (void *)names[i], NULL) < 0) {
            fprintf(stderr, "%s: %s\n", names[i], qmp_error_last()->message);
            failed = 1;
            continue;
        }
        pending++;
    }
    pending--; /* the connect itself */
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s QMP_SOCKET\n", argv[0]);
        return 2;
    }
    qmp_client *c = qmp_client_new();
    qmp_client_on_event(c, NULL, on_event, NULL, NULL, NULL);
    pending = 1;
    if (qmp_client_connect_unix_async(c, argv[1], 5000, on_connected, NULL, NULL) < 0) {
        fprintf(stderr, "connect: %s\n", qmp_error_last()->message);
        qmp_client_free(c);
        return 1;
    }

    while (pending > 0) {
        /* Ask again every round: the fd, the direction and the deadline change. */
        struct pollfd p = {qmp_client_get_fd(c), 0, 0};
        int events = qmp_client_get_events(c);
        if (events & QMP_POLL_IN) p.events |= POLLIN;
        if (events & QMP_POLL_OUT) p.events |= POLLOUT;
        if (poll(&p, p.fd >= 0 ? 1 : 0, qmp_client_get_timeout_ms(c)) < 0) {
            perror("poll");
            break;
        }
        int revents = 0;
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) revents |= QMP_POLL_IN;
        if (p.revents & POLLOUT) revents |= QMP_POLL_OUT;
        if (qmp_client_process(c, revents) == QMP_ECLOSED && pending > 0 && qmp_client_get_fd(c) < 0) {
            fprintf(stderr, "connection closed: %s\n", qmp_error_last()->message);
            failed = 1;
            break;
        }
    }
    qmp_client_free(c);
    return failed ? 1 : 0;
}
