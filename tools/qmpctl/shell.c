/*
 * qmpctl shell: NAME KEY=VALUE..., hmp LINE, {JSON}, /hmp and /qmp to switch
 * modes, /validate, help [NAME], schema [NAME|QUERY], quit.  On a terminal, libedit edits the line (history, tab
 * completion) from a poll() loop that also drives the client, so events are
 * printed as they arrive, above the line being typed.  Without a terminal
 * it reads lines from stdin.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include <qmp/qmp.h>

#include "event-print.h"
#include "exitcode.h"
#include "kvargs.h"
#include "loop.h"
#include "qmpctl.h"
#include "schema-print.h"
#include "shell.h"
#include "shell-complete.h"
#include "signals.h"
#include "validate.h"
#include "words.h"

#define HISTORY_LINES 1000

static struct shell {
    qmpctl *q;
    int     hmp_mode;
    int     at_prompt;  /* libedit shows the prompt and owns the line */
    int     quit;
    int     line_done;  /* a line was handled: libedit must be set up again */
    int     status;     /* the last failed command's exit code */
} sh;

static const char *prompt(void)
{
    return sh.hmp_mode ? "hmp> " : "qmp> ";
}

static void on_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)c;
    (void)user_data;
    if (!sh.at_prompt) {
        event_print(stdout, ev, &sh.q->out);
        return;
    }
    /* Above the line being typed: clear it, print, draw prompt and line again. */
    fputs("\r\33[K", stdout);
    event_print(stdout, ev, &sh.q->out);
    rl_forced_update_display();
}

static void failed(int code)
{
    sh.status = code;
}

static void run_hmp(const char *line)
{
    char *output = NULL;
    if (qmp_client_hmp(sh.q->client, line, &output) < 0) {
        failed(report_qmp_error("hmp"));
        return;
    }
    fputs(output, stdout);
    qmp_free(output);
}

static void print_result(json_t *result)
{
    jsonout_print(stdout, result, &sh.q->out);
    json_decref(result);
}

static void run_json(const char *line)
{
    json_t *cmd = qmp_json_parse(line, strlen(line));
    if (!cmd) {
        warn_msg("%s", qmp_error_last()->message);
        failed(EXIT_USAGE);
        return;
    }
    json_t *result = NULL;
    if (qmp_client_execute(sh.q->client, cmd, &result) < 0) {
        json_decref(result);
        failed(report_exec_error(sh.q->client, "execute"));
        return;
    }
    print_result(result);
}

static void run_exec(const words *w)
{
    json_t *args = json_object();
    if (kvargs_add(args, w->v + 1, w->n - 1) < 0) {
        json_decref(args);
        failed(EXIT_USAGE);
        return;
    }
    json_t *cmd = json_object();
    json_object_set_new(cmd, "execute", json_string(w->v[0]));
    if (json_object_size(args)) json_object_set(cmd, "arguments", args);
    json_decref(args);
    json_t *result = NULL;
    if (qmp_client_execute(sh.q->client, cmd, &result) < 0) {
        json_decref(result);
        failed(report_exec_error(sh.q->client, w->v[0]));
        return;
    }
    print_result(result);
}

/* help NAME, schema [NAME|QUERY] */
static void run_schema(const words *w)
{
    int is_help = !strcmp(w->v[0], "help");
    if (w->n > 2) {
        warn_msg("%s: expected at most one NAME, not '%s'", w->v[0], w->v[2]);
        failed(EXIT_USAGE);
        return;
    }
    const char *name = w->n > 1 ? w->v[1] : NULL;
    int rc;
    if (!is_help && name && strchr(name, '/')) {
        rc = schema_query(stdout, sh.q->client, name);
    } else {
        qmp_schema *s = complete_schema();
        if (!s) rc = report_qmp_error("query-qmp-schema");
        else if (is_help) rc = schema_help(stdout, s, name);
        else if (name) rc = schema_show(stdout, s, name, NULL);
        else {
            schema_print_list(stdout, s, schema_width(stdout), isatty(STDOUT_FILENO));
            rc = EXIT_OK;
        }
    }
    if (rc != EXIT_OK) failed(rc);
}

/* /validate [on|off] */
static void run_validate(const words *w)
{
    qmp_client *c = sh.q->client;
    if (w->n == 1) {
        int flags = qmp_client_get_validation(c);
        printf("validation is %s%s%s\n", flags ? "on" : "off",
               flags & QMP_VALIDATE_DENY_DEPRECATED ? ", deprecated use refused" : "",
               flags & QMP_VALIDATE_DENY_UNSTABLE ? ", unstable use refused" : "");
        return;
    }
    int on = !strcmp(w->v[1], "on");
    if (w->n > 2 || (!on && strcmp(w->v[1], "off"))) {
        warn_msg("/validate: expected on or off");
        failed(EXIT_USAGE);
        return;
    }
    /* On: as the command line asked (--deny-...), else plain validation. */
    int rc = validation_set(c, on ? (sh.q->opt->validate ? sh.q->opt->validate : QMP_VALIDATE) : 0);
    if (rc != EXIT_OK) failed(rc);
}

static void set_mode(int hmp)
{
    sh.hmp_mode = hmp;
    complete_set_hmp_mode(hmp);
}

/* The shell's own commands: each gets the line's words and the text after the first word. */

static void shell_help(void);

static void do_hmp(const words *w, const char *rest)
{
    (void)w;
    run_hmp(rest);
}

static void do_mode(const words *w, const char *rest)
{
    (void)rest;
    set_mode(!strcmp(w->v[0], "/hmp"));
}

static void do_validate(const words *w, const char *rest)
{
    (void)rest;
    run_validate(w);
}

static void do_help(const words *w, const char *rest)
{
    (void)rest;
    if (w->n == 1) shell_help();
    else run_schema(w);
}

static void do_schema(const words *w, const char *rest)
{
    (void)rest;
    run_schema(w);
}

static void do_quit(const words *w, const char *rest)
{
    (void)w;
    (void)rest;
    sh.quit = 1;
}

static const struct shell_command {
    const char *name;
    void (*run)(const words *w, const char *rest);
    int hmp_mode;       /* also in HMP mode (help: only alone, "help X" is HMP's) */
    const char *help;   /* its lines in the help, NULL when the previous entry's cover it */
} shell_commands[] = {
    {"hmp", do_hmp, 0, "  hmp LINE             run a human monitor command\n"},
    {"/hmp", do_mode, 1, "  /hmp, /qmp           switch to HMP mode (every line is HMP) and back\n"},
    {"/qmp", do_mode, 1, NULL},
    {"/validate", do_validate, 1,
     "  /validate [on|off]   check commands against the server's schema before\n"
     "                       sending them (as --validate), or show whether it does\n"},
    {"help", do_help, 1,
     "  help                 this help\n"
     "  help NAME            the arguments of the command NAME\n"},
    {"schema", do_schema, 0, "  schema [NAME|QUERY]  the commands and events, NAME's schema, or a query\n"},
    {"quit", do_quit, 1, "  quit, exit, ^D       leave (QMP's own quit: {\"execute\": \"quit\"})\n"},
    {"exit", do_quit, 1, NULL},
};

#define N_SHELL_COMMANDS (sizeof shell_commands / sizeof shell_commands[0])

static void shell_help(void)
{
    fputs("  NAME [KEY=VALUE...]  run a QMP command (VALUE: JSON, else a string; a.b=1 nests)\n"
          "  {\"execute\": ...}     run a QMP command given as JSON\n", stdout);
    for (size_t i = 0; i < N_SHELL_COMMANDS; i++)
        if (shell_commands[i].help) fputs(shell_commands[i].help, stdout);
    puts("Tab completes command names, argument names and values; events are printed\n"
         "as they arrive.");
}

const char *shell_command_name(size_t i)
{
    return i < N_SHELL_COMMANDS ? shell_commands[i].name : NULL;
}

static const struct shell_command *find_shell_command(const char *name, int hmp_mode)
{
    for (size_t i = 0; i < N_SHELL_COMMANDS; i++)
        if (!strcmp(shell_commands[i].name, name) && (!hmp_mode || shell_commands[i].hmp_mode))
            return &shell_commands[i];
    return NULL;
}

int shell_is_command(const char *name, int hmp_mode)
{
    return find_shell_command(name, hmp_mode) != NULL;
}

static void run_line(const char *line)
{
    line += strspn(line, " \t");
    if (!*line) return;
    /* The text after the first word, as typed (for hmp LINE). */
    const char *rest = line + strcspn(line, " \t");
    rest += strspn(rest, " \t");
    if (sh.hmp_mode) {
        /* HMP's lines are HMP's as typed, quotes and all: only the shell's own words are looked at. */
        char *first = strndup(line, strcspn(line, " \t"));
        const struct shell_command *c = first ? find_shell_command(first, 1) : NULL;
        free(first);
        /* "help" alone is the shell's; "help info" is HMP's. */
        if (!c || (c->run == do_help && *rest)) {
            run_hmp(line);
            fflush(stdout);
            return;
        }
    } else if (line[0] == '{') {
        run_json(line);         /* JSON as typed */
        fflush(stdout);
        return;
    }
    words w;
    char error[256];
    if (words_split(line, &w, error, sizeof error) < 0) {
        warn_msg("%s", error);
        failed(EXIT_USAGE);
        return;
    }
    const struct shell_command *c = find_shell_command(w.v[0], sh.hmp_mode);
    if (c) c->run(&w, rest);
    else run_exec(&w);
    words_free(&w);
    fflush(stdout);
}

/* --- on a terminal ---------------------------------------------------------- */

static char *history_path(void)
{
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char *path = NULL;
    if (state && *state) {
        if (asprintf(&path, "%s/qmpctl_history", state) < 0) path = NULL;
    } else if (home && *home) {
        if (asprintf(&path, "%s/.qmpctl_history", home) < 0) path = NULL;
    }
    return path;
}

static void on_line(char *line)
{
    sh.at_prompt = 0;
    if (!line) { /* ^D */
        putchar('\n');
        sh.quit = 1;
        return;
    }
    if (line[strspn(line, " \t")]) {
        HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
        if (!last || strcmp(last->line, line)) add_history(line);
    }
    run_line(line);
    free(line);
    sh.line_done = 1;
}

/*
 * libedit's rl_callback_read_char() leaves the terminal in cooked mode after
 * the line handler ran (libedit 20221030); installing the handler again
 * restores raw mode and draws the (possibly new) prompt.
 */
static void new_prompt(void)
{
    sh.line_done = 0;
    rl_callback_handler_install(prompt(), on_line);
    sh.at_prompt = 1;
}

static void on_signal(int sig)
{
    if (sig == SIGINT) {
        /* ^C drops the line being typed, as in a shell. */
        rl_replace_line("", 0);
        fputs("\n", stdout);
        new_prompt();
        return;
    }
    if (sig == SIGPIPE) return;
    sh.quit = 1;
    sh.status = 128 + sig;
}

static int interactive(void)
{
    char *hist = history_path();
    using_history();
    stifle_history(HISTORY_LINES);
    if (hist) read_history(hist);
    rl_catch_signals = 0;
    rl_attempted_completion_function = complete_attempt;
    int sig_pipe[2];
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        warn_msg("cannot watch for signals: %s", strerror(errno));
        free(hist);
        return EXIT_CONN;
    }
    signals_defer_to(sig_pipe[1]);
    new_prompt();
    int closed = 0;
    while (!sh.quit) {
        struct pollfd p[3] = {{STDIN_FILENO, POLLIN, 0}, loop_pollfd(sh.q->client), {sig_pipe[0], POLLIN, 0}};
        int n = poll(p, 3, qmp_client_get_timeout_ms(sh.q->client));
        if (n < 0 && errno != EINTR) break;
        if (p[2].revents & POLLIN) {
            unsigned char sig;
            while (read(sig_pipe[0], &sig, 1) == 1) on_signal(sig);
        }
        if (qmp_client_process(sh.q->client, n > 0 ? loop_revents(&p[1]) : 0) == QMP_ECLOSED) {
            closed = 1;
            break;
        }
        if ((p[0].revents & (POLLHUP | POLLERR | POLLNVAL)) && !(p[0].revents & POLLIN)) {
            sh.quit = 1; /* the terminal is gone */
        } else if (!sh.quit && (p[0].revents & POLLIN)) {
            rl_callback_read_char();
            if (sh.line_done && !sh.quit) new_prompt();
        }
    }
    sh.at_prompt = 0;
    rl_callback_handler_remove();
    signals_defer_to(-1);
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    if (hist && write_history(hist) != 0) warn_msg("cannot save the history in %s", hist);
    free(hist);
    clear_history();
    if (closed) {
        fputs("\n", stdout);
        warn_msg("the server closed the connection");
        return EXIT_CONN;
    }
    return sh.status >= 128 ? sh.status : EXIT_OK;
}

/* --- from a pipe or file ----------------------------------------------------- */

static int batch(void)
{
    char *line = NULL;
    size_t size = 0;
    ssize_t len;
    while (!sh.quit && (len = getline(&line, &size, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n') line[len - 1] = '\0';
        run_line(line);
        if (!qmp_client_is_connected(sh.q->client)) {
            sh.status = EXIT_CONN;
            break;
        }
    }
    free(line);
    return sh.status;
}

int cmd_shell(qmpctl *q)
{
    memset(&sh, 0, sizeof sh);
    sh.q = q;
    unsigned int handler;
    if (qmp_client_on_event(q->client, NULL, on_event, NULL, NULL, &handler) < 0)
        return report_qmp_error("cannot listen for events");
    int rc;
    complete_bind(q->client);
    if (isatty(STDIN_FILENO)) {
        if (complete_init(q->client) < 0) report_qmp_error("query-commands");
        rc = interactive();
    } else {
        rc = batch();
    }
    complete_free();
    qmp_client_off_event(q->client, handler);
    return rc;
}
