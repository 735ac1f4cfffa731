/*
 * Tab completion for the shell: QMP command names (query-commands) and the
 * shell's own words first on the line; after a command, its argument names
 * and enum values from the server's schema (qmp_schema_arguments()).
 */
#ifndef QMPCTL_SHELL_COMPLETE_H
#define QMPCTL_SHELL_COMPLETE_H

#include <qmp/qmp.h>

/* Learns the server's command names.  Returns 0, or a negative libqmp status. */
int complete_init(qmp_client *c);
void complete_free(void);

/* The client complete_schema() fetches from (complete_init() sets it too). */
void complete_bind(qmp_client *c);

/*
 * The server's schema, fetched on the first call (the client keeps it for
 * the connection); a borrowed reference, valid until complete_free().  NULL
 * when it cannot be fetched (qmp_error_last() says why).
 */
qmp_schema *complete_schema(void);

/* In HMP mode only the shell's own words complete. */
void complete_set_hmp_mode(int on);

/*
 * For rl_attempted_completion_function.  The first word: command names and
 * the shell's words.  After a command: its argument names (NAME=), then the
 * values of KEY= (an enum's values, true/false).  Of a union's branches,
 * those whose tag already has its value on the line are offered with the
 * base members; the members of the other branches only when no base member
 * fits what is typed.  After help and schema: command and event names.
 */
char **complete_attempt(const char *text, int start, int end);

#endif
