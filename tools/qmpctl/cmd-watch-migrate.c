/* qmpctl migrate watch: poll query-migrate, draw RAM transferred/total, end with the final state. */
#include <stdio.h>
#include <string.h>

#include <qmp/qmp.h>

#include "exitcode.h"
#include "loop.h"
#include "progress.h"
#include "watch.h"

static int finish(progress *p, const json_t *info, const char *status)
{
    char text[1024], amount[64] = "";
    const json_t *ram = json_object_get(info, "ram");
    if (ram) snprintf(amount, sizeof amount, ", %.0f bytes of RAM sent", watch_number(ram, "transferred"));
    if (!strcmp(status, "completed")) {
        snprintf(text, sizeof text, "migration: completed in %.0f ms%s", watch_number(info, "total-time"), amount);
        progress_finish(p, text);
        return EXIT_OK;
    }
    const char *error = json_string_value(json_object_get(info, "error-desc"));
    snprintf(text, sizeof text, "migration: %s%s%s", status, error ? ": " : "", error ? error : "");
    progress_finish(p, text);
    return EXIT_FAILED;
}

int cmd_watch_migrate(qmpctl *q)
{
    progress p;
    progress_init(&p, stdout);
    long long deadline = deadline_after(q->opt->timeout_ms);
    int rc;
    for (;;) {
        json_t *info;
        if ((rc = watch_query(q, "query-migrate", &info)) != EXIT_OK) break;
        const char *status = json_string_value(json_object_get(info, "status"));
        if (!status || !strcmp(status, "none")) {
            json_decref(info);
            warn_msg("no migration");
            rc = EXIT_FAILED;
            break;
        }
        if (!strcmp(status, "completed") || !strcmp(status, "failed") || !strcmp(status, "cancelled")) {
            rc = finish(&p, info, status);
            json_decref(info);
            break;
        }
        const json_t *ram = json_object_get(info, "ram");
        double total = watch_number(ram, "total"), remaining = watch_number(ram, "remaining");
        double done = total > 0 ? total - remaining : watch_number(ram, "transferred");
        progress_update(&p, now_ms(), "migration", status, done, total);
        json_decref(info);
        if ((rc = watch_pause(q, deadline)) != EXIT_OK) {
            progress_finish(&p, rc == EXIT_TIMEOUT ? "timeout" : "connection lost");
            break;
        }
    }
    return rc;
}
