/* qmpctl job watch [ID]: poll query-jobs, draw current-progress/total-progress, end with the final state. */
#include <stdio.h>
#include <string.h>

#include <qmp/qmp.h>

#include "exitcode.h"
#include "loop.h"
#include "progress.h"
#include "watch.h"

struct job_watch {
    char id[256];        /* the watched job, empty until chosen */
    char error[512];     /* an error reported by an event, if any */
    int  cancelled;      /* BLOCK_JOB_CANCELLED came */
    int  aborting;       /* JOB_STATUS_CHANGE said "aborting": it failed or was cancelled */
};

/*
 * A job that QEMU dismisses as soon as it ends (auto-dismiss, the default
 * of block jobs) is gone from query-jobs before its end can be read there:
 * its events say how it ended.  Every job passes through "aborting" when
 * it fails or is cancelled (JOB_STATUS_CHANGE), and block jobs send
 * BLOCK_JOB_COMPLETED (with "error" when they failed) or BLOCK_JOB_CANCELLED.
 */
static void on_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)c;
    struct job_watch *w = user_data;
    const json_t *data = qmp_event_data(ev);
    const char *name = qmp_event_name(ev);
    if (!w->id[0]) return;
    if (!strcmp(name, "JOB_STATUS_CHANGE")) {
        const char *id = json_string_value(json_object_get(data, "id"));
        const char *status = json_string_value(json_object_get(data, "status"));
        if (id && status && !strcmp(id, w->id) && !strcmp(status, "aborting")) w->aborting = 1;
        return;
    }
    const char *id = json_string_value(json_object_get(data, "device"));
    const char *error = json_string_value(json_object_get(data, "error"));
    if (!id || strcmp(id, w->id)) return;
    if (!strcmp(name, "BLOCK_JOB_CANCELLED")) w->cancelled = 1;
    else if (error) snprintf(w->error, sizeof w->error, "%s", error);
}

/* The job named w->id in query-jobs' list, or the first one when none is chosen yet. */
static const json_t *find_job(struct job_watch *w, const json_t *jobs)
{
    size_t i;
    const json_t *job;
    json_array_foreach(jobs, i, job) {
        const char *id = json_string_value(json_object_get(job, "id"));
        if (!id) continue;
        if (!w->id[0]) snprintf(w->id, sizeof w->id, "%s", id);
        if (!strcmp(id, w->id)) return job;
    }
    return NULL;
}

static int finish(progress *p, const struct job_watch *w, const char *status, const char *error)
{
    char text[1024];
    if (error && *error) {
        snprintf(text, sizeof text, "job %s: %s, failed: %s", w->id, status, error);
        progress_finish(p, text);
        return EXIT_FAILED;
    }
    snprintf(text, sizeof text, "job %s: %s", w->id, status);
    progress_finish(p, text);
    return EXIT_OK;
}

/* The end of a job that was dismissed before it could be seen ending: what its events said. */
static int finish_dismissed(progress *p, const struct job_watch *w)
{
    char text[1024];
    int rc = EXIT_FAILED;
    if (w->error[0]) snprintf(text, sizeof text, "job %s: failed: %s (then dismissed)", w->id, w->error);
    else if (w->cancelled) snprintf(text, sizeof text, "job %s: cancelled (then dismissed)", w->id);
    else if (w->aborting) snprintf(text, sizeof text, "job %s: failed or was cancelled (then dismissed)", w->id);
    else {
        snprintf(text, sizeof text, "job %s: completed (then dismissed)", w->id);
        rc = EXIT_OK;
    }
    progress_finish(p, text);
    return rc;
}

int cmd_watch_job(qmpctl *q)
{
    struct job_watch w;
    memset(&w, 0, sizeof w);
    if (q->opt->n_words > 1) snprintf(w.id, sizeof w.id, "%s", q->opt->words[1]);
    unsigned int handler;
    if (qmp_client_on_event(q->client, NULL, on_event, &w, NULL, &handler) < 0)
        return report_qmp_error("cannot listen for events");
    progress p;
    progress_init(&p, stdout);
    long long deadline = deadline_after(q->opt->timeout_ms);
    int seen = 0, rc;
    for (;;) {
        json_t *jobs;
        if ((rc = watch_query(q, "query-jobs", &jobs)) != EXIT_OK) break;
        const json_t *job = find_job(&w, jobs);
        if (!job) {
            json_decref(jobs);
            if (seen) {
                /* Gone: it ended and QEMU dismissed it (auto-dismiss) since the last poll. */
                rc = finish_dismissed(&p, &w);
            } else {
                if (w.id[0]) warn_msg("no job '%s'", w.id);
                else warn_msg("no job to watch");
                rc = EXIT_FAILED;
            }
            break;
        }
        seen = 1;
        const char *status = json_string_value(json_object_get(job, "status"));
        const char *type = json_string_value(json_object_get(job, "type"));
        if (!status) status = "?";
        if (!strcmp(status, "concluded") || !strcmp(status, "null")) {
            const char *error = json_string_value(json_object_get(job, "error"));
            rc = finish(&p, &w, status, error ? error : w.error);
            json_decref(jobs);
            break;
        }
        char label[300];
        snprintf(label, sizeof label, "job %s (%s)", w.id, type ? type : "?");
        progress_update(&p, now_ms(), label, status, watch_number(job, "current-progress"),
                        watch_number(job, "total-progress"));
        json_decref(jobs);
        if ((rc = watch_pause(q, deadline)) != EXIT_OK) {
            progress_finish(&p, rc == EXIT_TIMEOUT ? "timeout" : "connection lost");
            break;
        }
    }
    qmp_client_off_event(q->client, handler);
    return rc;
}
