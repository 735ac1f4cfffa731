/*
 * The server's schema for people: the command and event lists, a command,
 * event or type as an indented tree (qmp_schema_describe()), a command's
 * arguments for `help` (qmp_schema_arguments()), and a "did you mean".
 */
#ifndef QMPCTL_SCHEMA_PRINT_H
#define QMPCTL_SCHEMA_PRINT_H

#include <stdio.h>

#include <qmp/qmp.h>

#include "jsonout.h"

/* The width to wrap output to f at: the terminal's, else 80. */
int schema_width(FILE *f);

/* "Commands (N):" and "Events (N):", each name marked [deprecated] or [unstable]; in columns on a terminal. */
void schema_print_list(FILE *f, const qmp_schema *s, int width, int columns);

/* A qmp_schema_describe() result as an indented tree. */
void schema_print_describe(FILE *f, const json_t *d, int width);

/* A qmp_schema_arguments() result: the command's KEY=VALUE arguments, one level. */
void schema_print_arguments(FILE *f, const qmp_schema *s, const char *name, const json_t *args, int width);

/*
 * "schema NAME" (as a tree, or as JSON with json set) and "help NAME" (the
 * arguments) on f.  An unknown name prints an error with the closest names
 * on stderr.  Return qmpctl's exit code: EXIT_OK or EXIT_SCHEMA.
 */
int schema_show(FILE *f, const qmp_schema *s, const char *name, const jsonout_style *json);
int schema_help(FILE *f, const qmp_schema *s, const char *name);

/* "schema QUERY": prints true or false; EXIT_OK, EXIT_QMP (false) or another exit code after an error. */
int schema_query(FILE *f, qmp_client *c, const char *query);

#endif
