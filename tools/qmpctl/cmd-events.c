/* qmpctl events [--name NAME]... [--count N] [--timeout S] */
#include <stdio.h>
#include <string.h>

#include <qmp/qmp.h>

#include "event-print.h"
#include "exitcode.h"
#include "loop.h"
#include "qmpctl.h"

struct events_state {
    qmpctl *q;
    long    seen;
    int     done;
};

static int wanted(const cli *o, const char *name)
{
    if (o->n_names == 0) return 1;
    for (int i = 0; i < o->n_names; i++)
        if (!strcmp(o->names[i], name)) return 1;
    return 0;
}

static void on_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)c;
    struct events_state *s = user_data;
    if (s->done || !wanted(s->q->opt, qmp_event_name(ev))) return;
    event_print(stdout, ev, &s->q->out);
    if (s->q->opt->count > 0 && ++s->seen >= s->q->opt->count) s->done = 1;
}

int cmd_events(qmpctl *q)
{
    struct events_state s = {q, 0, 0};
    unsigned int handler;
    if (qmp_client_on_event(q->client, NULL, on_event, &s, NULL, &handler) < 0)
        return report_qmp_error("events");
    if (q->opt->verbose) fprintf(stderr, "qmpctl: listening for events\n");
    int rc = loop_run(q->client, &s.done, deadline_after(q->opt->timeout_ms));
    qmp_client_off_event(q->client, handler);
    if (rc == QMP_ETIMEDOUT) {
        /* Listening for a while is a normal end; missing the count is not. */
        if (q->opt->count < 0) return EXIT_OK;
        warn_msg("timeout: %ld of %ld events", s.seen, q->opt->count);
        return EXIT_TIMEOUT;
    }
    if (rc == QMP_ECLOSED) {
        warn_msg("the server closed the connection");
        return EXIT_CONN;
    }
    return EXIT_OK;
}
