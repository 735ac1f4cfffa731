/* --validate: commands checked against the server's schema before they are sent. */
#ifndef QMPCTL_VALIDATE_H
#define QMPCTL_VALIDATE_H

#include <qmp/qmp.h>

/*
 * Turns the client's validation on with flags (QMP_VALIDATE...) or off (0).
 * While it is on, the client's trace goes to qmpctl: warnings (deprecated or
 * unstable use) as "qmpctl: warning: ..." on stderr, and the wire trace as
 * libqmp itself writes it when LIBQMP_DEBUG is set.  Turning it on fetches
 * the schema.  Returns EXIT_OK, or an exit code after printing why.
 */
int validation_set(qmp_client *c, int flags);

/*
 * Reports a failed qmp_client_execute() on stderr and returns its exit
 * code: a command refused by validation is "qmpctl: MESSAGE" (the library's
 * message names the command and the path) and EXIT_SCHEMA; anything else as
 * report_qmp_error(what).
 */
int report_exec_error(qmp_client *c, const char *what);

#endif
