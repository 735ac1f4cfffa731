/* The command line: options, subcommand and its words, QEMU's arguments after "--". */
#ifndef QMPCTL_CLI_H
#define QMPCTL_CLI_H

#include <stdio.h>

enum color_mode { COLOR_AUTO, COLOR_ALWAYS, COLOR_NEVER };

typedef struct cli {
    const char  *socket;        /* -s/--socket, else NULL */
    const char  *tcp;           /* --tcp HOST:PORT, else NULL */
    int          launch;        /* --launch */
    char       **qemu_args;     /* the words after "--" (borrowed from argv) */
    int          n_qemu_args;
    int          timeout_ms;    /* --timeout; -1 when not given */
    int          compact;       /* --compact */
    enum color_mode color;      /* --color */
    int          verbose;       /* -v/--verbose */
    int          validate;      /* --validate, --deny-*: QMP_VALIDATE* flags, 0 when off */
    int          json;          /* schema --json */
    const char  *args_json;     /* exec --args */
    const char **names;         /* events --name (repeatable) */
    int          n_names;
    long         count;         /* events --count; -1 when not given */
    int          interval_ms;   /* watch --interval; default 500 */
    const char  *command;       /* the subcommand, NULL for none */
    char       **words;         /* the subcommand's words (borrowed) */
    int          n_words;
} cli;

/*
 * Parses argv into *o.  Returns 0 to go on, 1 when --help or --version was
 * printed (exit 0), -1 after printing a usage error (exit 2).
 */
int cli_parse(int argc, char **argv, cli *o);
void cli_free(cli *o);

/* The whole --help text. */
void cli_help(FILE *f);

#endif
