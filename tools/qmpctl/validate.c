#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"

static int debug_to_stderr(void)
{
    const char *d = getenv("LIBQMP_DEBUG");
    return d && *d && strcmp(d, "0") != 0;
}

/* Runs inside the client (its lock held): only prints. */
static void on_log(qmp_client *c, int kind, const char *text, void *user_data)
{
    (void)user_data;
    if (kind == QMP_LOG_WARNING) {
        fprintf(stderr, "qmpctl: warning: %s\n", text);
        return;
    }
    /* A callback replaces LIBQMP_DEBUG's trace: keep writing it the same way. */
    if (!debug_to_stderr()) return;
    const char *arrow = kind == QMP_LOG_SEND ? "->" : kind == QMP_LOG_RECEIVE ? "<-" : "--";
    fprintf(stderr, "libqmp %p %s %s\n", (void *)c, arrow, text);
}

int validation_set(qmp_client *c, int flags)
{
    if (!flags) {
        qmp_client_set_validation(c, 0);
        qmp_client_set_log(c, NULL, NULL, NULL);
        return EXIT_OK;
    }
    if (qmp_client_set_log(c, on_log, NULL, NULL) < 0) return report_qmp_error("validate");
    if (qmp_client_set_validation(c, flags) < 0) {
        int rc = report_qmp_error("validate: cannot read the server's schema");
        if (!qmp_client_get_validation(c)) qmp_client_set_log(c, NULL, NULL, NULL);
        return rc;
    }
    return EXIT_OK;
}

int report_exec_error(qmp_client *c, const char *what)
{
    int validating = qmp_client_get_validation(c) != 0;
    const qmp_error *e = qmp_error_last();
    if (validating && e->code == QMP_EINVAL) {
        fprintf(stderr, "qmpctl: %s\n", e->message);
        return EXIT_SCHEMA;
    }
    return report_qmp_error(what);
}
