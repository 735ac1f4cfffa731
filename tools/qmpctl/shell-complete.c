#include "shell-complete.h"

#include <stdlib.h>
#include <string.h>

#include <editline/readline.h>

static const char *const builtins[] = {"hmp", "help", "quit", "exit", "/hmp", "/qmp"};

static char **names;
static size_t n_names;
static int hmp_mode;

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

int complete_init(qmp_client *c)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (add_name(builtins[i]) < 0) return QMP_ENOMEM;
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

void complete_free(void)
{
    for (size_t i = 0; i < n_names; i++) free(names[i]);
    free(names);
    names = NULL;
    n_names = 0;
}

void complete_set_hmp_mode(int on)
{
    hmp_mode = on;
}

static int is_builtin(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (!strcmp(builtins[i], name)) return 1;
    return 0;
}

/* readline's generator protocol: state 0 starts over; each call returns the next match (malloc'd). */
static char *next_match(const char *text, int state)
{
    static size_t at;
    if (state == 0) at = 0;
    size_t len = strlen(text);
    while (at < n_names) {
        const char *name = names[at++];
        if (hmp_mode && !is_builtin(name)) continue;
        if (!strncmp(name, text, len)) return strdup(name);
    }
    return NULL;
}

char **complete_attempt(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1; /* never file names */
    for (int i = 0; i < start; i++)
        if (rl_line_buffer[i] != ' ' && rl_line_buffer[i] != '\t') return NULL;
    return rl_completion_matches(text, next_match);
}
