/*
 * The command line: options, subcommand and its words, QEMU's arguments
 * after "--".  The subcommands are one table (cli.c): their names, handlers,
 * the words and options each takes, and their lines in --help.
 */
#ifndef QMPCTL_CLI_H
#define QMPCTL_CLI_H

#include <stdio.h>

enum color_mode { COLOR_AUTO, COLOR_ALWAYS, COLOR_NEVER };

struct qmpctl;

/* The options that only some subcommands take (subcommand.options). */
enum {
    CLI_OPT_ARGS     = 1 << 0, /* --args */
    CLI_OPT_NAME     = 1 << 1, /* --name */
    CLI_OPT_COUNT    = 1 << 2, /* --count */
    CLI_OPT_INTERVAL = 1 << 3, /* --interval */
    CLI_OPT_JSON     = 1 << 4, /* --json */
    CLI_OPT_OUTPUT   = 1 << 5, /* -o/--output */
    CLI_OPT_LISTEN   = 1 << 6  /* --listen */
};

typedef struct subcommand {
    const char *name;
    int (*run)(struct qmpctl *q);   /* returns qmpctl's exit code */
    const char *first_word;  /* a word that must come first ("watch" of "job watch"), or NULL */
    int         min_words;   /* the other words: at least this many... */
    int         max_words;   /* ...and at most this many (-1: any number) */
    const char *missing;     /* what fewer than min_words lack, for the usage error */
    int         options;     /* CLI_OPT_* it takes */
    int         offline;     /* runs without a server when given no words */
    /* Its entries in --help: a synopsis and what it does (lines of up to 56 characters). */
    struct {
        const char *synopsis, *help;
    } usage[2];
    int         own_connection; /* connects to the server itself (main.c leaves the client alone) */
} subcommand;

typedef struct cli {
    const char  *socket;        /* -s/--socket, else NULL */
    const char  *agent;         /* --agent SOCKET (a guest agent), else NULL */
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
    const char  *output;        /* record -o/--output FILE */
    const char  *listen;        /* record --listen PATH */
    const subcommand *command;  /* the subcommand */
    char       **words;         /* the subcommand's words (borrowed) */
    int          n_words;
    char       **argv_copy;     /* what getopt_long reorders (argv is left alone) */
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
