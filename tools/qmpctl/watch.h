/* What job watch and migrate watch share: polling a query command at --interval. */
#ifndef QMPCTL_WATCH_H
#define QMPCTL_WATCH_H

#include <qmp/qmp.h>

#include "qmpctl.h"

/* An unsigned member of obj as a double (exact uint64 read); 0 when absent. */
double watch_number(const json_t *obj, const char *key);

/*
 * Runs the query command name (no arguments) into *result.  Returns
 * EXIT_OK, or an exit code after printing why (a progress line on the
 * terminal is ended first).
 */
int watch_query(qmpctl *q, const char *name, json_t **result);

/* Waits until the next poll: --interval, or less if the deadline comes first.  EXIT_OK, EXIT_TIMEOUT, EXIT_CONN. */
int watch_pause(qmpctl *q, long long deadline);

#endif
