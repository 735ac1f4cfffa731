#include "shell-complete.h"

#include <stdlib.h>
#include <string.h>

#include <editline/readline.h>

#include "shell.h"
#include "words.h"

static char **names;
static size_t n_names;
static int hmp_mode;

static qmp_client *client;
static qmp_schema *schema;   /* fetched on first need */

/* What the generator offers for the current attempt (a JSON array of strings). */
static json_t *candidates;

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_name(const char *name)
{
    char **v = realloc(names, (n_names + 1) * sizeof *v);
    if (!v) return QMP_ENOMEM;
    names = v;
    if (!(names[n_names] = strdup(name))) return QMP_ENOMEM;
    n_names++;
    return 0;
}

void complete_bind(qmp_client *c)
{
    client = c;
}

int complete_init(qmp_client *c)
{
    client = c;
    const char *own;
    for (size_t i = 0; (own = shell_command_name(i)); i++)
        if (add_name(own) < 0) return QMP_ENOMEM;
    if (qmp_client_is_agent(c)) {
        /* A guest agent: the commands guest-info lists as enabled. */
        char **agent_names = NULL;
        int arc = qmp_agent_commands(c, &agent_names, NULL);
        for (char **p = agent_names; arc == 0 && *p; p++)
            if (add_name(*p) < 0) arc = QMP_ENOMEM;
        qmp_agent_strv_free(agent_names);
        qsort(names, n_names, sizeof *names, by_name);
        return arc;
    }
    json_t *list = NULL;
    int rc = qmp_client_execute(c, qmp_command_new("query-commands", NULL), &list);
    if (rc == 0) {
        size_t i;
        json_t *cmd;
        json_array_foreach(list, i, cmd) {
            const char *name = json_string_value(json_object_get(cmd, "name"));
            if (name && add_name(name) < 0) rc = QMP_ENOMEM;
        }
    }
    json_decref(list);
    qsort(names, n_names, sizeof *names, by_name);
    /* QMP's own quit is also the shell's quit: list it once. */
    size_t kept = 0;
    for (size_t i = 0; i < n_names; i++) {
        if (kept && !strcmp(names[kept - 1], names[i])) free(names[i]);
        else names[kept++] = names[i];
    }
    n_names = kept;
    return rc;
}

qmp_schema *complete_schema(void)
{
    if (!schema && client) schema = qmp_client_get_schema(client, 0);
    return schema;
}

void complete_free(void)
{
    for (size_t i = 0; i < n_names; i++) free(names[i]);
    free(names);
    names = NULL;
    n_names = 0;
    qmp_schema_unref(schema);
    schema = NULL;
    json_decref(candidates);
    candidates = NULL;
    client = NULL;
}

void complete_set_hmp_mode(int on)
{
    hmp_mode = on;
}

/* readline's generator protocol: state 0 starts over; each call returns the next match (malloc'd). */
static char *next_command(const char *text, int state)
{
    static size_t at;
    if (state == 0) at = 0;
    size_t len = strlen(text);
    while (at < n_names) {
        const char *name = names[at++];
        if (hmp_mode && !shell_is_command(name, 1)) continue;
        if (!strncmp(name, text, len)) return strdup(name);
    }
    return NULL;
}

static char *next_candidate(const char *text, int state)
{
    static size_t at;
    if (state == 0) at = 0;
    size_t len = strlen(text);
    while (at < json_array_size(candidates)) {
        const char *c = json_string_value(json_array_get(candidates, at++));
        if (!strncmp(c, text, len)) return strdup(c);
    }
    return NULL;
}

/* --- the arguments of a command ------------------------------------------------------ */

static int has_string(const json_t *array, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v)
        if (!strcmp(json_string_value(v), s)) return 1;
    return 0;
}

static void add_candidate(json_t *to, const char *s)
{
    if (s && !has_string(to, s)) json_array_append_new(to, json_string(s));
}

static int any_starts_with(const json_t *array, const char *text)
{
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v)
        if (!strncmp(json_string_value(v), text, strlen(text))) return 1;
    return 0;
}

static int cmp_json_strings(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* A new array with the strings of a sorted. */
static json_t *sorted(json_t *a)
{
    size_t n = json_array_size(a);
    json_t **v = calloc(n ? n : 1, sizeof *v);
    if (!v) return a;
    for (size_t i = 0; i < n; i++) v[i] = json_array_get(a, i);
    qsort(v, n, sizeof *v, cmp_json_strings);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) json_array_append(out, v[i]);
    free(v);
    json_decref(a);
    return out;
}

/*
 * The KEY=VALUE words already on the line (after the command): {"key":
 * "value"} for the plain keys; a dotted key (file.driver=...) leaves its
 * first part out, as it may be given again.
 */
static json_t *typed_keys(const words *w)
{
    json_t *typed = json_object();
    for (int i = 1; i < w->n; i++) {
        const char *eq = strchr(w->v[i], '=');
        if (!eq) continue;
        char *key = strndup(w->v[i], (size_t)(eq - w->v[i]));
        if (key && !strchr(key, '.')) json_object_set_new(typed, key, json_string(eq + 1));
        free(key);
    }
    return typed;
}

/*
 * Is the branch of member m on the line?  1: its tag has its value, 0: its
 * tag has another value, -1: its tag is not there.  Base members: 1.
 */
static int branch_state(const json_t *m, const json_t *typed)
{
    const char *tag = json_string_value(json_object_get(m, "tag"));
    if (!tag) return 1;
    const char *value = json_string_value(json_object_get(typed, tag));
    if (!value) return -1;
    return !strcmp(value, json_string_value(json_object_get(m, "variant")));
}

/*
 * Argument names: the base members and those of the branches the line
 * selects (its tag's value is on the line); when none of those fits, the
 * members of the branches not yet selected.  Names on the line are left out.
 */
static json_t *argument_names(const json_t *args, const json_t *typed, const char *text)
{
    json_t *first = json_array(), *rest = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(args, i, m) {
        const char *name = json_string_value(json_object_get(m, "name"));
        if (!name || json_object_get(typed, name)) continue;
        int state = branch_state(m, typed);
        if (state == 1) add_candidate(first, name);
        else if (state == -1) add_candidate(rest, name);
    }
    if (any_starts_with(first, text)) {
        json_decref(rest);
        return sorted(first);
    }
    json_decref(first);
    return sorted(rest);
}

/* The values of argument key: its enum's values, true and false for a bool. */
static json_t *argument_values(const json_t *args, const json_t *typed, const char *key)
{
    json_t *out = json_array();
    /* The member of a selected branch (or the base) first; any branch's when there is none. */
    for (int pass = 0; pass < 2 && json_array_size(out) == 0; pass++) {
        size_t i;
        json_t *m;
        json_array_foreach(args, i, m) {
            const char *name = json_string_value(json_object_get(m, "name"));
            if (!name || strcmp(name, key)) continue;
            if (pass == 0 && branch_state(m, typed) != 1) continue;
            size_t k;
            json_t *v;
            json_array_foreach(json_object_get(m, "values"), k, v) add_candidate(out, json_string_value(v));
            const char *type = json_string_value(json_object_get(m, "type"));
            if (type && strstr(type, "bool")) {
                add_candidate(out, "true");
                add_candidate(out, "false");
            }
        }
    }
    return out;
}

static char **complete_arguments(const words *w, const char *text, int start)
{
    qmp_schema *s = complete_schema();
    json_t *args = s ? qmp_schema_arguments(s, w->v[0]) : NULL;
    if (!args) return NULL;
    json_t *typed = typed_keys(w);
    json_decref(candidates);
    if (start > 0 && rl_line_buffer[start - 1] == '=') {
        /* The last word before the cursor is "KEY=": complete its value. */
        const char *word = w->v[w->n - 1];
        char *key = strndup(word, strcspn(word, "="));
        candidates = key && !strchr(key, '.') ? argument_values(args, typed, key) : json_array();
        free(key);
        rl_completion_append_character = ' ';
    } else {
        candidates = argument_names(args, typed, text);
        rl_completion_append_character = '=';
    }
    json_decref(typed);
    json_decref(args);
    return rl_completion_matches(text, next_candidate);
}

/* help NAME, schema NAME: the commands and events. */
static char **complete_schema_names(const char *text)
{
    qmp_schema *s = complete_schema();
    if (!s) return rl_completion_matches(text, next_command);
    json_decref(candidates);
    candidates = qmp_schema_list(s, QMP_SCHEMA_COMMANDS);
    json_t *events = qmp_schema_list(s, QMP_SCHEMA_EVENTS);
    json_array_extend(candidates, events);
    json_decref(events);
    return rl_completion_matches(text, next_candidate);
}

char **complete_attempt(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1; /* never file names */
    rl_completion_append_character = ' ';
    int first_word = 1;
    for (int i = 0; i < start; i++)
        if (rl_line_buffer[i] != ' ' && rl_line_buffer[i] != '\t') first_word = 0;
    if (first_word) return rl_completion_matches(text, next_command);
    if (hmp_mode) return NULL;
    /* The words before the one being completed. */
    char *before = strndup(rl_line_buffer, (size_t)start);
    words w;
    char error[256];
    if (!before || words_split(before, &w, error, sizeof error) < 0 || w.n == 0) {
        if (before && w.v) words_free(&w);
        free(before);
        return NULL;
    }
    free(before);
    char **matches = NULL;
    const char *cmd = w.v[0];
    int after_blank = rl_line_buffer[start - 1] == ' ' || rl_line_buffer[start - 1] == '\t';
    if (!strcmp(cmd, "help") || !strcmp(cmd, "schema")) {
        if (w.n == 1 && after_blank) matches = complete_schema_names(text);
    } else if (!strcmp(cmd, "/validate")) {
        json_decref(candidates);
        candidates = json_pack("[s, s]", "on", "off");
        if (w.n == 1 && after_blank) matches = rl_completion_matches(text, next_candidate);
    } else if (cmd[0] != '{' && cmd[0] != '/' && !shell_is_command(cmd, 0)) {
        matches = complete_arguments(&w, text, start);
    }
    words_free(&w);
    return matches;
}
