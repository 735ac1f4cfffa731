/* qmpctl wait EVENT [KEY=VALUE...] [--timeout S] */
#include <stdio.h>

#include <qmp/qmp.h>

#include "exitcode.h"
#include "kvargs.h"
#include "qmpctl.h"

int cmd_wait(qmpctl *q)
{
    const char *name = q->opt->words[0];
    json_t *match = json_object();
    if (kvargs_add(match, q->opt->words + 1, q->opt->n_words - 1) < 0) {
        json_decref(match);
        return EXIT_USAGE;
    }
    if (q->opt->verbose) fprintf(stderr, "qmpctl: waiting for %s\n", name);
    /* After sequence number 0: every event since connecting counts, from the ring. */
    json_t *event = NULL;
    int timeout = q->opt->timeout_ms < 0 ? -1 : q->opt->timeout_ms > 0 ? q->opt->timeout_ms : 1;
    int rc = qmp_client_wait_event(q->client, name, json_object_size(match) ? match : NULL, 0,
                                   timeout, &event);
    json_decref(match);
    if (rc == QMP_ETIMEDOUT) {
        warn_msg("timeout: no %s event", name);
        return EXIT_TIMEOUT;
    }
    if (rc < 0) return report_qmp_error("wait");
    jsonout_print(stdout, event, &q->out);
    json_decref(event);
    return EXIT_OK;
}
