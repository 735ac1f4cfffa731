#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qmp/qmp.h>

#include "exitcode.h"

void cli_help(FILE *f)
{
    fputs(
"Usage: qmpctl [OPTIONS] COMMAND [ARGS...] [-- QEMU-ARGS...]\n"
"       qmpctl --launch [-- QEMU-ARGS...]        (runs the demo)\n"
"\n"
"A command-line client for the QEMU Machine Protocol (QMP).\n"
"\n"
"Commands:\n"
"  exec NAME [KEY=VALUE...] [--args JSON]\n"
"                       run a QMP command and print its result; a VALUE is\n"
"                       JSON where it parses, else a string; a.b=1 nests\n"
"  hmp LINE...          run a human monitor (HMP) command line\n"
"  events [--name NAME] [--count N]\n"
"                       print events as they arrive, one JSON line each\n"
"  wait EVENT [KEY=VALUE...]\n"
"                       wait for an event whose data has these members\n"
"  demo                 a short guided walk-through of QMP\n"
"  shell                an interactive shell (history, completion, events)\n"
"  job watch [ID]       a progress bar for a job until it ends\n"
"  migrate watch        a progress bar for the migration until it ends\n"
"  schema [--json] [NAME]\n"
"                       list the server's commands and events, or show the\n"
"                       command, event or type NAME with its arguments\n"
"  schema QUERY         check a schema query (a path with '/', as libvirt's:\n"
"                       blockdev-add/arg-type/+file/aio/^io_uring): print\n"
"                       true (exit 0) or false (exit 1)\n"
"  help [COMMAND]       this help, or the arguments of a QMP command\n"
"\n"
"Connecting (one of these; default: $QMP_SOCKET):\n"
"  -s, --socket PATH    the QMP Unix socket\n"
"      --tcp HOST:PORT  a QMP TCP server\n"
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
"\n"
"See qmpctl(1).\n", f);
}

static int usage_error(const char *fmt, const char *arg)
{
    fputs("qmpctl: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'qmpctl --help'.\n", stderr);
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

enum opt_id {
    OPT_SOCKET, OPT_TCP, OPT_LAUNCH, OPT_TIMEOUT, OPT_COMPACT, OPT_COLOR, OPT_ARGS,
    OPT_NAME, OPT_COUNT, OPT_INTERVAL, OPT_VERBOSE, OPT_HELP, OPT_VERSION, OPT_JSON,
    OPT_VALIDATE, OPT_DENY_DEPRECATED, OPT_DENY_UNSTABLE
};

struct opt_def {
    const char *long_name;
    char        short_name;
    int         takes_value;
    enum opt_id id;
};

static const struct opt_def opts[] = {
    {"socket", 's', 1, OPT_SOCKET},   {"tcp", 0, 1, OPT_TCP},
    {"launch", 0, 0, OPT_LAUNCH},     {"timeout", 't', 1, OPT_TIMEOUT},
    {"compact", 0, 0, OPT_COMPACT},   {"color", 0, 1, OPT_COLOR},
    {"args", 0, 1, OPT_ARGS},         {"name", 0, 1, OPT_NAME},
    {"count", 0, 1, OPT_COUNT},       {"interval", 0, 1, OPT_INTERVAL},
    {"verbose", 'v', 0, OPT_VERBOSE}, {"help", 'h', 0, OPT_HELP},
    {"version", 'V', 0, OPT_VERSION}, {"json", 0, 0, OPT_JSON},
    {"validate", 0, 0, OPT_VALIDATE}, {"deny-deprecated", 0, 0, OPT_DENY_DEPRECATED},
    {"deny-unstable", 0, 0, OPT_DENY_UNSTABLE},
};

static const struct opt_def *find_opt(const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    size_t n = sizeof opts / sizeof opts[0];
    if (arg[1] == '-') {
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        for (size_t i = 0; i < n; i++)
            if (strlen(opts[i].long_name) == len && !strncmp(opts[i].long_name, name, len)) {
                if (eq) *inline_value = eq + 1;
                return &opts[i];
            }
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (opts[i].short_name && arg[1] == opts[i].short_name) {
            if (arg[2]) {
                if (!opts[i].takes_value) return NULL;
                *inline_value = arg + 2;
            }
            return &opts[i];
        }
    return NULL;
}

/* Which subcommand may take which command-specific option. */
static int option_fits(enum opt_id id, const char *command)
{
    const char *cmd = command ? command : "";
    switch (id) {
    case OPT_ARGS:     return !strcmp(cmd, "exec");
    case OPT_NAME:
    case OPT_COUNT:    return !strcmp(cmd, "events");
    case OPT_INTERVAL: return !strcmp(cmd, "job") || !strcmp(cmd, "migrate");
    case OPT_JSON:     return !strcmp(cmd, "schema");
    default:           return 1;
    }
}

static const char *const commands[] = {"exec", "hmp", "events", "wait", "demo",
                                       "shell", "job", "migrate", "schema", "help"};

static int check_words(const cli *o)
{
    const char *c = o->command;
    if (!strcmp(c, "exec") && o->n_words < 1) return usage_error("exec: missing the command %s", "NAME");
    if (!strcmp(c, "hmp") && o->n_words < 1) return usage_error("hmp: missing the %s", "LINE");
    if (!strcmp(c, "wait") && o->n_words < 1) return usage_error("wait: missing the %s", "EVENT");
    if ((!strcmp(c, "events") || !strcmp(c, "demo") || !strcmp(c, "shell")) && o->n_words > 0)
        return usage_error("unexpected argument '%s'", o->words[0]);
    if ((!strcmp(c, "schema") || !strcmp(c, "help")) && o->n_words > 1)
        return usage_error("unexpected argument '%s'", o->words[1]);
    if (!strcmp(c, "job")) {
        if (o->n_words < 1 || strcmp(o->words[0], "watch"))
            return usage_error("job: expected '%s [ID]'", "job watch");
        if (o->n_words > 2) return usage_error("unexpected argument '%s'", o->words[2]);
    }
    if (!strcmp(c, "migrate")) {
        if (o->n_words < 1 || strcmp(o->words[0], "watch"))
            return usage_error("migrate: expected '%s'", "migrate watch");
        if (o->n_words > 1) return usage_error("unexpected argument '%s'", o->words[1]);
    }
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
    if (!o->words || !o->names) {
        warn_msg("out of memory");
        return -1;
    }
    /* Options go anywhere; the first word is the subcommand, the rest are its words. */
    int i;
    for (i = 1; i < argc; i++) {
        char *arg = argv[i];
        if (!strcmp(arg, "--")) {
            o->qemu_args = argv + i + 1;
            o->n_qemu_args = argc - i - 1;
            break;
        }
        if (arg[0] != '-' || arg[1] == '\0') {
            if (!o->command) o->command = arg;
            else o->words[o->n_words++] = arg;
            continue;
        }
        const char *value;
        const struct opt_def *d = find_opt(arg, &value);
        if (!d) return usage_error("unknown option '%s'", arg);
        if (d->takes_value && !value) {
            if (i + 1 >= argc) return usage_error("option '%s' needs a value", arg);
            value = argv[++i];
        } else if (!d->takes_value && value) {
            return usage_error("option '%s' takes no value", arg);
        }
        switch (d->id) {
        case OPT_SOCKET:  o->socket = value; break;
        case OPT_TCP:     o->tcp = value; break;
        case OPT_LAUNCH:  o->launch = 1; break;
        case OPT_COMPACT: o->compact = 1; break;
        case OPT_VERBOSE: o->verbose = 1; break;
        case OPT_JSON:    o->json = 1; break;
        case OPT_VALIDATE: o->validate |= QMP_VALIDATE; break;
        case OPT_DENY_DEPRECATED: o->validate |= QMP_VALIDATE | QMP_VALIDATE_DENY_DEPRECATED; break;
        case OPT_DENY_UNSTABLE: o->validate |= QMP_VALIDATE | QMP_VALIDATE_DENY_UNSTABLE; break;
        case OPT_ARGS:    o->args_json = value; break;
        case OPT_NAME:    o->names[o->n_names++] = value; break;
        case OPT_HELP:    cli_help(stdout); return 1;
        case OPT_VERSION: printf("qmpctl %s\n", QMPCTL_VERSION); return 1;
        case OPT_TIMEOUT:
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
        }
    }
    if (o->n_qemu_args > 0 && !o->launch)
        return usage_error("QEMU arguments after '--' need %s", "--launch");
    if (!o->command) {
        if (o->launch) o->command = "demo";
        else return usage_error("missing the %s (try 'qmpctl --launch' for a demo)", "COMMAND");
    }
    int known = 0;
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (!strcmp(o->command, commands[k])) known = 1;
    if (!known) return usage_error("unknown command '%s'", o->command);
    /* Check the command-specific options against the command now that it is known. */
    for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
        const char *value;
        const struct opt_def *d = argv[i][0] == '-' && argv[i][1] ? find_opt(argv[i], &value) : NULL;
        if (d && !option_fits(d->id, o->command)) {
            fprintf(stderr, "qmpctl: option '%s' does not apply to '%s'\n", argv[i], o->command);
            return usage_error("%s", "(see the Commands section of the help)");
        }
        if (d && d->takes_value && !value) i++;
    }
    if ((o->socket != NULL) + (o->tcp != NULL) + o->launch > 1)
        return usage_error("%s: give only one", "--socket, --tcp, --launch");
    return check_words(o);
}

void cli_free(cli *o)
{
    free(o->words);
    free(o->names);
    o->words = NULL;
    o->names = NULL;
}
