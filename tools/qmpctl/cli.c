#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qmp/qmp.h>

#include "exitcode.h"
#include "qmpctl.h"

/*
 * The subcommands.  Parsing (the words and options each takes), dispatch
 * (main.c runs ->run) and the Commands section of --help come from here.
 */
static const subcommand subcommands[] = {
    {"exec", cmd_exec, NULL, 1, -1, "the command NAME", CLI_OPT_ARGS, 0,
     {{"exec NAME [KEY=VALUE...] [--args JSON]",
       "run a QMP command and print its result; a VALUE is\n"
       "JSON where it parses, else a string; a.b=1 nests"}}, 0},
    {"hmp", cmd_hmp, NULL, 1, -1, "the LINE", 0, 0,
     {{"hmp LINE...", "run a human monitor (HMP) command line"}}, 0},
    {"events", cmd_events, NULL, 0, 0, NULL, CLI_OPT_NAME | CLI_OPT_COUNT, 0,
     {{"events [--name NAME] [--count N]", "print events as they arrive, one JSON line each"}}, 0},
    {"wait", cmd_wait, NULL, 1, -1, "the EVENT", 0, 0,
     {{"wait EVENT [KEY=VALUE...]", "wait for an event whose data has these members"}}, 0},
    {"demo", cmd_demo, NULL, 0, 0, NULL, 0, 0,
     {{"demo", "a short guided walk-through of QMP"}}, 0},
    {"shell", cmd_shell, NULL, 0, 0, NULL, 0, 0,
     {{"shell", "an interactive shell (history, completion, events)"}}, 0},
    {"job", cmd_watch_job, "watch", 0, 1, NULL, CLI_OPT_INTERVAL, 0,
     {{"job watch [ID]", "a progress bar for a job until it ends"}}, 0},
    {"migrate", cmd_watch_migrate, "watch", 0, 0, NULL, CLI_OPT_INTERVAL, 0,
     {{"migrate watch", "a progress bar for the migration until it ends"}}, 0},
    {"schema", cmd_schema, NULL, 0, 1, NULL, CLI_OPT_JSON, 0,
     {{"schema [--json] [NAME]",
       "list the server's commands and events, or show the\n"
       "command, event or type NAME with its arguments"},
      {"schema QUERY",
       "check a schema query (a path with '/', as libvirt's:\n"
       "blockdev-add/arg-type/+file/aio/^io_uring): print\n"
       "true (exit 0) or false (exit 1)"}}, 0},
    {"help", cmd_help, NULL, 0, 1, NULL, 0, 1,
     {{"help [COMMAND]", "this help, or the arguments of a QMP command"}}, 0},
    {"record", cmd_record, NULL, 0, 0, NULL, CLI_OPT_OUTPUT | CLI_OPT_LISTEN, 0,
     {{"record -o FILE [--listen PATH]",
       "sit between a program and QEMU: forward everything\n"
       "both ways (fds too) and write the conversation to\n"
       "FILE as a .replies file, until the program leaves"}},
     1},
    {"run", cmd_run, NULL, 0, 0, NULL, 0, 0,
     {{"run -- PROGRAM [ARGS...]",
       "--agent: run a program in the guest; print its\n"
       "output; its exit status is qmpctl's (128+N: signal N)"}}, 0},
    {"cat", cmd_cat, NULL, 1, 1, "the guest PATH", 0, 0,
     {{"cat PATH", "--agent: print a file of the guest"}}, 0},
    {"copy-in", cmd_copy_in, NULL, 2, 2, "LOCAL and the guest PATH", 0, 0,
     {{"copy-in LOCAL PATH", "--agent: copy a local file into the guest"}}, 0},
    {"copy-out", cmd_copy_out, NULL, 2, 2, "the guest PATH and LOCAL", 0, 0,
     {{"copy-out PATH LOCAL", "--agent: copy a file of the guest out"}}, 0},
};

/* The subcommands that speak to a guest agent only. */
static int agent_only(const subcommand *c)
{
    return c->run == cmd_run || c->run == cmd_cat || c->run == cmd_copy_in || c->run == cmd_copy_out;
}

#define N_SUBCOMMANDS (sizeof subcommands / sizeof subcommands[0])

/* The column the help texts start at. */
#define HELP_COLUMN 23

static void put_help_entry(FILE *f, const char *synopsis, const char *help)
{
    int len = fprintf(f, "  %s", synopsis);
    if (len >= HELP_COLUMN - 1) {
        fputc('\n', f);
        len = 0;
    }
    for (const char *line = help; *line;) {
        size_t n = strcspn(line, "\n");
        fprintf(f, "%*s%.*s\n", HELP_COLUMN - len, "", (int)n, line);
        len = 0;
        line += n + (line[n] == '\n');
    }
}

void cli_help(FILE *f)
{
    fputs("Usage: qmpctl [OPTIONS] COMMAND [ARGS...] [-- QEMU-ARGS...]\n"
          "       qmpctl --launch [-- QEMU-ARGS...]        (runs the demo)\n"
          "\n"
          "A command-line client for the QEMU Machine Protocol (QMP).\n"
          "\n"
          "Commands:\n", f);
    for (size_t i = 0; i < N_SUBCOMMANDS; i++)
        for (size_t k = 0; k < 2 && subcommands[i].usage[k].synopsis; k++)
            put_help_entry(f, subcommands[i].usage[k].synopsis, subcommands[i].usage[k].help);
    fputs(
"\n"
"Connecting (one of these; default: $QMP_SOCKET):\n"
"  -s, --socket PATH    the QMP Unix socket\n"
"      --tcp HOST:PORT  a QMP TCP server\n"
"      --agent SOCKET   a guest agent socket: for exec, shell, run,\n"
"                       cat, copy-in and copy-out\n"
"      --launch         start a private QEMU for this command:\n"
"                       $QEMU_SYSTEM (default qemu-system-x86_64) -M none\n"
"                       -nodefaults -display none, plus QEMU-ARGS after --\n"
"\n"
"Options:\n"
"  -t, --timeout S      give up after S seconds (fractions allowed)\n"
"      --compact        print JSON on one line (default when not a terminal)\n"
"      --color WHEN     colour JSON: auto (default), always, never\n"
"      --args JSON      exec: the arguments object\n"
"      --name NAME      events: only events called NAME (repeatable)\n"
"      --count N        events: stop after N events\n"
"      --interval S     job/migrate watch: poll every S seconds (default 0.5)\n"
"      --json           schema: print the schema as JSON\n"
"  -o, --output FILE    record: write the conversation to FILE\n"
"      --listen PATH    record: the socket the program connects to (default:\n"
"                       $TMPDIR/qmpctl-record.PID.sock, printed on stdout)\n"
"      --validate       check every command against the server's schema before\n"
"                       sending it; warn about deprecated and unstable use\n"
"      --deny-deprecated, --deny-unstable\n"
"                       --validate, and refuse deprecated (unstable) use\n"
"  -v, --verbose        say what qmpctl is doing on stderr\n"
"  -h, --help           show this help\n"
"  -V, --version        show the version\n"
"\n"
"Environment: QMP_SOCKET, QEMU_SYSTEM, TMPDIR, NO_COLOR, XDG_STATE_HOME, HOME.\n"
"\n"
"Exit status:\n"
"  0  success\n"
"  1  the server answered with a QMP error (printed as \"Class: desc\"),\n"
"     a demo step failed, or a schema QUERY is false\n"
"  2  usage error\n"
"  3  cannot launch QEMU or connect, connection lost, or not QMP\n"
"  4  timeout (--timeout)\n"
"  5  the watched job or migration failed, was cancelled, or is not there\n"
"  6  not in the server's schema: --validate refused the command, or schema\n"
"     NAME does not exist\n"
"  run exits with the status of the guest program instead (128+N: signal N)\n"
"\n"
"See qmpctl(1).\n", f);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("qmpctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'qmpctl --help'.\n", stderr);
    va_end(ap);
    return -1;
}

/* Seconds ("2", "0.5") to milliseconds. */
static int parse_seconds(const char *s, int *ms)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 2000000.0) return -1;
    *ms = (int)(v * 1000.0 + 0.5);
    return 0;
}

/* getopt_long's values for the options without a short form. */
enum {
    OPT_TCP = 256, OPT_LAUNCH, OPT_COMPACT, OPT_COLOR, OPT_ARGS, OPT_NAME, OPT_COUNT, OPT_INTERVAL,
    OPT_JSON, OPT_VALIDATE, OPT_DENY_DEPRECATED, OPT_DENY_UNSTABLE, OPT_LISTEN, OPT_AGENT
};

static const char short_options[] = ":s:t:o:vhV";

static const struct option long_options[] = {
    {"socket", required_argument, NULL, 's'},
    {"tcp", required_argument, NULL, OPT_TCP},
    {"agent", required_argument, NULL, OPT_AGENT},
    {"launch", no_argument, NULL, OPT_LAUNCH},
    {"timeout", required_argument, NULL, 't'},
    {"compact", no_argument, NULL, OPT_COMPACT},
    {"color", required_argument, NULL, OPT_COLOR},
    {"args", required_argument, NULL, OPT_ARGS},
    {"name", required_argument, NULL, OPT_NAME},
    {"count", required_argument, NULL, OPT_COUNT},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {"json", no_argument, NULL, OPT_JSON},
    {"validate", no_argument, NULL, OPT_VALIDATE},
    {"deny-deprecated", no_argument, NULL, OPT_DENY_DEPRECATED},
    {"deny-unstable", no_argument, NULL, OPT_DENY_UNSTABLE},
    {"output", required_argument, NULL, 'o'},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {NULL, 0, NULL, 0},
};

#define N_OPTION_BITS 7
_Static_assert(CLI_OPT_LISTEN == 1 << (N_OPTION_BITS - 1), "N_OPTION_BITS counts the CLI_OPT_* bits");

/* The CLI_OPT_* bit of a command-specific option, 0 for the others. */
static int option_bit(int id)
{
    switch (id) {
    case OPT_ARGS:     return CLI_OPT_ARGS;
    case OPT_NAME:     return CLI_OPT_NAME;
    case OPT_COUNT:    return CLI_OPT_COUNT;
    case OPT_INTERVAL: return CLI_OPT_INTERVAL;
    case OPT_JSON:     return CLI_OPT_JSON;
    case 'o':          return CLI_OPT_OUTPUT;
    case OPT_LISTEN:   return CLI_OPT_LISTEN;
    default:           return 0;
    }
}

static const char *option_name(int id)
{
    for (const struct option *o = long_options; o->name; o++)
        if (o->val == id) return o->name;
    return "?";
}

/*
 * The option getopt_long refused (c: '?' or ':') with optopt and optind as
 * it left them: a short option's letter is optopt; for a long option (optopt
 * 0: unknown; else its value, refused a value it does not take) and for a
 * missing value, optind has moved past the word.
 */
static int bad_option(int c, char **args)
{
    int is_long = !strncmp(args[optind - 1], "--", 2);
    if (c == '?' && optopt != 0 && optopt < 256 && !strchr(short_options, optopt)) is_long = 0;
    if (!is_long) {
        if (c == ':') return usage_error("option '-%c' needs a value", optopt);
        return usage_error("unknown option '-%c'", optopt);
    }
    const char *arg = args[optind - 1];
    int len = (int)strcspn(arg, "=");
    if (c == ':') return usage_error("option '%.*s' needs a value", len, arg);
    if (optopt) return usage_error("option '%.*s' takes no value", len, arg);
    return usage_error("unknown or ambiguous option '%.*s'", len, arg);
}

static const subcommand *find_subcommand(const char *name)
{
    for (size_t i = 0; i < N_SUBCOMMANDS; i++)
        if (!strcmp(subcommands[i].name, name)) return &subcommands[i];
    return NULL;
}

/* The words against the subcommand's table entry. */
static int check_words(const cli *o)
{
    const subcommand *c = o->command;
    int n = o->n_words, first = 0;
    if (c->first_word) {
        const char *usage = c->usage[0].synopsis;
        if (n < 1 || strcmp(o->words[0], c->first_word))
            return usage_error("%s: expected '%s'", c->name, usage);
        first = 1;
        n--;
    }
    if (n < c->min_words) return usage_error("%s: missing %s", c->name, c->missing);
    if (c->max_words >= 0 && n > c->max_words)
        return usage_error("unexpected argument '%s'", o->words[first + c->max_words]);
    return 0;
}

int cli_parse(int argc, char **argv, cli *o)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = -1;
    o->count = -1;
    o->interval_ms = 500;
    o->color = COLOR_AUTO;
    o->words = calloc((size_t)argc + 1, sizeof *o->words);
    o->names = calloc((size_t)argc + 1, sizeof *o->names);
    o->argv_copy = calloc((size_t)argc + 1, sizeof *o->argv_copy);
    if (!o->words || !o->names || !o->argv_copy) {
        warn_msg("out of memory");
        return -1;
    }
    /*
     * Everything after the first "--" is QEMU's; getopt_long sees only what
     * comes before, in a copy it may reorder (options go anywhere; the
     * first other word is the subcommand, the rest are its words).
     */
    int n = 1;
    while (n < argc && strcmp(argv[n], "--")) n++;
    if (n < argc) {
        o->qemu_args = argv + n + 1;
        o->n_qemu_args = argc - n - 1;
    }
    char **args = o->argv_copy;
    args[0] = (char *)"qmpctl";
    for (int i = 1; i < n; i++) args[i] = argv[i];
    /* The command-specific options given: CLI_OPT_* bits, and each one's getopt value by bit. */
    int used = 0;
    int used_id[N_OPTION_BITS] = {0};
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(n, args, short_options, long_options, NULL)) != -1) {
        const char *value = optarg;
        int bit = option_bit(c);
        if (bit) {
            used |= bit;
            for (int k = 0; k < N_OPTION_BITS; k++)
                if (bit == 1 << k) used_id[k] = c;
        }
        switch (c) {
        case 's':         o->socket = value; break;
        case OPT_TCP:     o->tcp = value; break;
        case OPT_AGENT:   o->agent = value; break;
        case OPT_LAUNCH:  o->launch = 1; break;
        case OPT_COMPACT: o->compact = 1; break;
        case 'v':         o->verbose = 1; break;
        case OPT_JSON:    o->json = 1; break;
        case OPT_VALIDATE: o->validate |= QMP_VALIDATE; break;
        case OPT_DENY_DEPRECATED: o->validate |= QMP_VALIDATE | QMP_VALIDATE_DENY_DEPRECATED; break;
        case OPT_DENY_UNSTABLE: o->validate |= QMP_VALIDATE | QMP_VALIDATE_DENY_UNSTABLE; break;
        case OPT_ARGS:    o->args_json = value; break;
        case 'o':         o->output = value; break;
        case OPT_LISTEN:  o->listen = value; break;
        case OPT_NAME:    o->names[o->n_names++] = value; break;
        case 'h':         cli_help(stdout); return 1;
        case 'V':         printf("qmpctl %s\n", QMPCTL_VERSION); return 1;
        case 't':
            if (parse_seconds(value, &o->timeout_ms) < 0)
                return usage_error("--timeout: not a number of seconds: '%s'", value);
            break;
        case OPT_INTERVAL:
            if (parse_seconds(value, &o->interval_ms) < 0 || o->interval_ms < 10)
                return usage_error("--interval: not a number of seconds >= 0.01: '%s'", value);
            break;
        case OPT_COUNT: {
            char *end;
            errno = 0;
            o->count = strtol(value, &end, 10);
            if (errno || end == value || *end || o->count < 1)
                return usage_error("--count: not a positive number: '%s'", value);
            break;
        }
        case OPT_COLOR:
            if (!strcmp(value, "auto")) o->color = COLOR_AUTO;
            else if (!strcmp(value, "always")) o->color = COLOR_ALWAYS;
            else if (!strcmp(value, "never")) o->color = COLOR_NEVER;
            else return usage_error("--color: expected auto, always or never, not '%s'", value);
            break;
        default: /* '?' or ':' */
            return bad_option(c, args);
        }
    }
    const char *name = optind < n ? args[optind++] : NULL;
    while (optind < n) o->words[o->n_words++] = args[optind++];
    int is_run = name && !strcmp(name, "run");
    if (o->n_qemu_args > 0 && !o->launch && !is_run)
        return usage_error("QEMU arguments after '--' need %s", "--launch");
    if (is_run && o->n_qemu_args == 0) return usage_error("run: missing '-- PROGRAM [ARGS...]'");
    if (!name) {
        if (!o->launch) return usage_error("missing the COMMAND (try 'qmpctl --launch' for a demo)");
        name = "demo";
    }
    o->command = find_subcommand(name);
    if (!o->command) return usage_error("unknown command '%s'", name);
    for (int k = 0; k < N_OPTION_BITS; k++)
        if ((used & (1 << k)) && !(o->command->options & (1 << k))) {
            fprintf(stderr, "qmpctl: option '--%s' does not apply to '%s'\n", option_name(used_id[k]),
                    o->command->name);
            return usage_error("(see the Commands section of the help)");
        }
    if ((o->socket != NULL) + (o->tcp != NULL) + o->launch + (o->agent != NULL) > 1)
        return usage_error("--socket, --tcp, --launch, --agent: give only one");
    if (agent_only(o->command) && !o->agent)
        return usage_error("%s: speaks to a guest agent: give --agent SOCKET", o->command->name);
    if (o->agent && !agent_only(o->command) && o->command->run != cmd_exec && o->command->run != cmd_shell)
        return usage_error("--agent: only for exec, shell, run, cat, copy-in and copy-out, not '%s'",
                           o->command->name);
    if (o->agent && o->validate)
        return usage_error("--agent: a guest agent has no schema; --validate does not apply");
    if (o->command->run == cmd_record) {
        if (!o->output) return usage_error("record: missing -o FILE");
        if (o->tcp || o->launch) return usage_error("record: QEMU's Unix socket only (-s PATH or QMP_SOCKET)");
        if (o->validate) return usage_error("record: forwards commands unchanged; --validate does not apply");
    }
    return check_words(o);
}

void cli_free(cli *o)
{
    free(o->words);
    free(o->names);
    free(o->argv_copy);
    o->words = NULL;
    o->names = NULL;
    o->argv_copy = NULL;
}
