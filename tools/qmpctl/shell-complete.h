/* Tab completion for the shell: QMP command names (query-commands) and the shell's own words. */
#ifndef QMPCTL_SHELL_COMPLETE_H
#define QMPCTL_SHELL_COMPLETE_H

#include <qmp/qmp.h>

/* Learns the server's command names.  Returns 0, or a negative libqmp status. */
int complete_init(qmp_client *c);
void complete_free(void);

/* In HMP mode only the shell's own words complete. */
void complete_set_hmp_mode(int on);

/* For rl_attempted_completion_function: completes the first word of the line. */
char **complete_attempt(const char *text, int start, int end);

#endif
