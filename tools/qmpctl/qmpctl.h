/* What every subcommand gets: the command line, a connected client, the output style. */
#ifndef QMPCTL_H
#define QMPCTL_H

#include <qmp/qmp.h>

#include "cli.h"
#include "jsonout.h"

typedef struct qmpctl {
    const cli    *opt;
    qmp_client   *client;
    jsonout_style out;   /* for stdout */
} qmpctl;

/* Each returns qmpctl's exit code (exitcode.h). */
int cmd_exec(qmpctl *q);
int cmd_hmp(qmpctl *q);
int cmd_events(qmpctl *q);
int cmd_wait(qmpctl *q);
int cmd_demo(qmpctl *q);
int cmd_shell(qmpctl *q);
int cmd_watch_job(qmpctl *q);
int cmd_watch_migrate(qmpctl *q);
int cmd_schema(qmpctl *q);
int cmd_help(qmpctl *q);
int cmd_record(qmpctl *q);
int cmd_run(qmpctl *q);
int cmd_cat(qmpctl *q);
int cmd_copy_in(qmpctl *q);
int cmd_copy_out(qmpctl *q);

#endif
