#include "words.h"

#include <stdio.h>

#include <glib.h>

int words_split(const char *line, words *out, char *error, size_t size)
{
    out->v = NULL;
    out->n = 0;
    if (size) *error = '\0';
    GError *err = NULL;
    int argc = 0;
    char **argv = NULL;
    if (g_shell_parse_argv(line, &argc, &argv, &err)) {
        out->v = argv;
        out->n = argc;
        return 0;
    }
    if (g_error_matches(err, G_SHELL_ERROR, G_SHELL_ERROR_EMPTY_STRING)) {
        g_error_free(err);
        out->v = g_new0(char *, 1);
        return 0;
    }
    snprintf(error, size, "%s", err->message);
    g_error_free(err);
    return -1;
}

void words_free(words *w)
{
    g_strfreev(w->v);
    w->v = NULL;
    w->n = 0;
}
