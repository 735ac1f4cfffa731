/*
 * The shell's own commands (hmp, help, schema, /hmp, /qmp, /validate, quit,
 * exit): one table in shell.c, from which the shell's help, its dispatch
 * and the completion of the first word (shell-complete.c) come.
 */
#ifndef QMPCTL_SHELL_H
#define QMPCTL_SHELL_H

#include <stddef.h>

/* The name of the i-th of them (from 0), NULL past the last. */
const char *shell_command_name(size_t i);

/* Is name one of them in this mode?  In HMP mode the others are HMP's. */
int shell_is_command(const char *name, int hmp_mode);

#endif
