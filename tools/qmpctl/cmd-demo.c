/* qmpctl demo: a short guided walk-through against the connected QEMU. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <qmp/qmp.h>

#include "exitcode.h"
#include "qmpctl.h"

#define STEPS 5

static void heading(int n, const char *title)
{
    printf("%s== %d/%d %s\n", n > 1 ? "\n" : "", n, STEPS, title);
    fflush(stdout);
}

/* Runs a command with no arguments and prints its result. */
static int show(qmpctl *q, const char *name)
{
    printf("-> %s\n", name);
    json_t *result = NULL;
    if (qmp_client_execute(q->client, qmp_command_new(name, NULL), &result) < 0) {
        json_decref(result);
        return report_qmp_error(name);
    }
    jsonout_print(stdout, result, &q->out);
    json_decref(result);
    return EXIT_OK;
}

static int step_version(qmpctl *q)
{
    heading(1, "Version: the greeting, then query-version");
    int major, minor, micro;
    if (qmp_client_get_version(q->client, &major, &minor, &micro) < 0) return report_qmp_error("version");
    printf("connected to QEMU %d.%d.%d (out-of-band commands: %s)\n", major, minor, micro,
           qmp_client_has_capability(q->client, "oob") ? "on" : "off");
    return show(q, "query-version");
}

static int step_status(qmpctl *q)
{
    heading(2, "Status: query-status");
    return show(q, "query-status");
}

static void on_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)c;
    int *seen = user_data;
    const char *name = qmp_event_name(ev);
    printf("<- event %s (#%llu, at %lld.%06lld)\n", name, qmp_event_seq(ev), qmp_event_seconds(ev),
           qmp_event_microseconds(ev));
    fflush(stdout);
    if (!strcmp(name, "STOP")) seen[0] = 1;
    if (!strcmp(name, "RESUME")) seen[1] = 1;
}

/* Sends name and waits for its event (which the handler has printed by then). */
static int run_and_wait(qmpctl *q, const char *name, const char *event)
{
    unsigned long long seq = qmp_client_event_seq(q->client);
    printf("-> %s\n", name);
    fflush(stdout);
    if (qmp_client_execute(q->client, qmp_command_new(name, NULL), NULL) < 0) return report_qmp_error(name);
    if (qmp_client_wait_event(q->client, event, NULL, seq, 5000, NULL) < 0) return report_qmp_error(event);
    return EXIT_OK;
}

static int step_events(qmpctl *q)
{
    heading(3, "Events: stop and cont, with STOP and RESUME as they arrive");
    int seen[2] = {0, 0};
    unsigned int handler;
    if (qmp_client_on_event(q->client, NULL, on_event, seen, NULL, &handler) < 0)
        return report_qmp_error("cannot listen for events");
    int rc = run_and_wait(q, "stop", "STOP");
    if (rc == EXIT_OK) rc = show(q, "query-status");
    if (rc == EXIT_OK) rc = run_and_wait(q, "cont", "RESUME");
    qmp_client_off_event(q->client, handler);
    if (rc == EXIT_OK && !(seen[0] && seen[1])) {
        warn_msg("the event handler missed STOP or RESUME");
        rc = EXIT_QMP;
    }
    return rc;
}

static int step_fd(qmpctl *q)
{
    heading(4, "Passing an fd: add-fd with one end of a pipe, then query-fdsets");
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        perror("qmpctl: pipe2");
        return EXIT_QMP;
    }
    long long set_id, qemu_fd;
    int rc = EXIT_OK;
    if (qmp_client_add_fd(q->client, p[0], -1, "qmpctl-demo", &set_id, &qemu_fd) < 0) {
        rc = report_qmp_error("add-fd");
    } else {
        printf("our fd %d is QEMU's fd %lld in fd set %lld\n", p[0], qemu_fd, set_id);
        rc = show(q, "query-fdsets");
        /* Leave QEMU as we found it. */
        json_t *rm = qmp_command_new("remove-fd", "I:fdset-id", set_id, NULL);
        if (qmp_client_execute(q->client, rm, NULL) < 0 && rc == EXIT_OK) rc = report_qmp_error("remove-fd");
    }
    close(p[0]);
    close(p[1]);
    return rc;
}

static int step_error(qmpctl *q)
{
    heading(5, "A QMP error: a command that does not exist");
    printf("-> no-such-command\n");
    if (qmp_client_execute(q->client, qmp_command_new("no-such-command", NULL), NULL) != QMP_ECOMMAND)
        return report_qmp_error("no-such-command");
    const qmp_error *e = qmp_error_last();
    printf("error class %s: %s\n", e->qmp_class, e->qmp_desc);
    return strcmp(e->qmp_class, "CommandNotFound") ? EXIT_QMP : EXIT_OK;
}

int cmd_demo(qmpctl *q)
{
    int (*const steps[STEPS])(qmpctl *) = {step_version, step_status, step_events, step_fd, step_error};
    int failed = 0, rc = EXIT_OK;
    for (int i = 0; i < STEPS; i++) {
        int r = steps[i](q);
        if (r == EXIT_OK) continue;
        failed++;
        if (rc == EXIT_OK) rc = r;
        if (!qmp_client_is_connected(q->client)) break;
    }
    if (failed) printf("\ndemo: %d of %d steps failed\n", failed, STEPS);
    else printf("\ndemo: all %d steps worked\n", STEPS);
    return rc;
}
