#include "jsonout.h"

#include <stdlib.h>
#include <unistd.h>

#include <qmp/qmp.h>

/* jq's colours. */
#define COLOR_NULL   "\33[1;30m"
#define COLOR_BOOL   "\33[0;39m"
#define COLOR_NUMBER "\33[0;39m"
#define COLOR_STRING "\33[0;32m"
#define COLOR_KEY    "\33[34;1m"
#define COLOR_PUNCT  "\33[1;39m"
#define COLOR_RESET  "\33[0m"

jsonout_style jsonout_style_for(const cli *o, FILE *f)
{
    int tty = isatty(fileno(f));
    jsonout_style s;
    s.pretty = tty && !o->compact;
    switch (o->color) {
    case COLOR_ALWAYS: s.color = 1; break;
    case COLOR_NEVER:  s.color = 0; break;
    default: {
        const char *no_color = getenv("NO_COLOR");
        s.color = tty && !(no_color && *no_color);
    }
    }
    return s;
}

static void put_colored(FILE *f, const jsonout_style *s, const char *color, const char *text)
{
    if (s->color) fprintf(f, "%s%s%s", color, text, COLOR_RESET);
    else fputs(text, f);
}

/* Scalars go through libqmp's encoder: exact uint64, the same escapes as on the wire. */
static void put_scalar(FILE *f, const json_t *v, const jsonout_style *s, const char *color)
{
    char *text = qmp_json_dumps(v);
    put_colored(f, s, color, text ? text : "null");
    qmp_free(text);
}

static void newline_indent(FILE *f, const jsonout_style *s, int depth)
{
    if (!s->pretty) return;
    fputc('\n', f);
    for (int i = 0; i < depth; i++) fputs("  ", f);
}

static void put_value(FILE *f, const json_t *v, const jsonout_style *s, int depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (json_object_size(v) == 0) {
            put_colored(f, s, COLOR_PUNCT, "{}");
            break;
        }
        put_colored(f, s, COLOR_PUNCT, "{");
        const char *key;
        json_t *member;
        int first = 1;
        json_object_foreach((json_t *)v, key, member) {
            if (!first) put_colored(f, s, COLOR_PUNCT, ",");
            first = 0;
            newline_indent(f, s, depth + 1);
            json_t *k = json_string(key);
            put_scalar(f, k, s, COLOR_KEY);
            json_decref(k);
            put_colored(f, s, COLOR_PUNCT, s->pretty ? ": " : ":");
            put_value(f, member, s, depth + 1);
        }
        newline_indent(f, s, depth);
        put_colored(f, s, COLOR_PUNCT, "}");
        break;
    }
    case JSON_ARRAY: {
        if (json_array_size(v) == 0) {
            put_colored(f, s, COLOR_PUNCT, "[]");
            break;
        }
        put_colored(f, s, COLOR_PUNCT, "[");
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            if (i) put_colored(f, s, COLOR_PUNCT, ",");
            newline_indent(f, s, depth + 1);
            put_value(f, item, s, depth + 1);
        }
        newline_indent(f, s, depth);
        put_colored(f, s, COLOR_PUNCT, "]");
        break;
    }
    case JSON_STRING: put_scalar(f, v, s, COLOR_STRING); break;
    case JSON_INTEGER:
    case JSON_REAL:   put_scalar(f, v, s, COLOR_NUMBER); break;
    case JSON_TRUE:
    case JSON_FALSE:  put_scalar(f, v, s, COLOR_BOOL); break;
    default:          put_scalar(f, v, s, COLOR_NULL); break;
    }
}

void jsonout_print(FILE *f, const json_t *v, const jsonout_style *s)
{
    if (!s->pretty && !s->color) {
        char *text = qmp_json_dumps(v);
        if (text) fputs(text, f);
        qmp_free(text);
    } else {
        put_value(f, v, s, 0);
    }
    fputc('\n', f);
}
