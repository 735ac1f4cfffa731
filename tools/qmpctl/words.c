#include "words.h"

#include <stdlib.h>
#include <string.h>

static int push(words *w, char *word)
{
    char **v = realloc(w->v, ((size_t)w->n + 2) * sizeof *v);
    if (!v) return -1;
    w->v = v;
    w->v[w->n++] = word;
    w->v[w->n] = NULL;
    return 0;
}

int words_split(const char *line, words *out, const char **error)
{
    out->v = NULL;
    out->n = 0;
    *error = NULL;
    size_t len = strlen(line);
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        char *word = malloc(len + 1), *o = word;
        if (!word) goto nomem;
        char quote = 0;
        for (; *p && (quote || (*p != ' ' && *p != '\t')); p++) {
            if (quote) {
                if (*p == quote) quote = 0;
                else if (quote == '"' && *p == '\\' && (p[1] == '"' || p[1] == '\\')) *o++ = *++p;
                else *o++ = *p;
            } else if (*p == '\'' || *p == '"') {
                quote = *p;
            } else if (*p == '\\' && p[1]) {
                *o++ = *++p;
            } else {
                *o++ = *p;
            }
        }
        *o = '\0';
        if (quote) {
            free(word);
            words_free(out);
            *error = "unterminated quote";
            return -1;
        }
        if (push(out, word) < 0) {
            free(word);
            goto nomem;
        }
    }
    return 0;
nomem:
    words_free(out);
    *error = "out of memory";
    return -1;
}

void words_free(words *w)
{
    for (int i = 0; i < w->n; i++) free(w->v[i]);
    free(w->v);
    w->v = NULL;
    w->n = 0;
}
