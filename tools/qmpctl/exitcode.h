/* qmpctl's exit codes (documented in --help and qmpctl.1) and error reports. */
#ifndef QMPCTL_EXITCODE_H
#define QMPCTL_EXITCODE_H

enum {
    EXIT_OK      = 0, /* the command worked */
    EXIT_QMP     = 1, /* the server answered with a QMP error, a demo step failed, a schema query is false */
    EXIT_USAGE   = 2, /* bad command line */
    EXIT_CONN    = 3, /* cannot launch or connect, connection lost, not QMP */
    EXIT_TIMEOUT = 4, /* --timeout expired */
    EXIT_FAILED  = 5, /* the watched job or migration failed, was cancelled, or is not there */
    EXIT_SCHEMA  = 6  /* not in the server's schema: --validate refused a command, schema NAME is unknown */
};

/* The exit code for a libqmp status (QMP_ECOMMAND: EXIT_QMP, QMP_ETIMEDOUT: EXIT_TIMEOUT...). */
int exit_code_for(int qmp_status);

/*
 * Reports the calling thread's last libqmp error on stderr and returns its
 * exit code: "Class: desc" for a QMP error reply, else "qmpctl: WHAT: message",
 * or "qmpctl: message" when what is NULL (the message says what failed).
 */
int report_qmp_error(const char *what);

/* Prints "qmpctl: ..." on stderr. */
void warn_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
