#include "schema-print.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <glib.h>

#include "exitcode.h"

#define NAME_COLUMN_MAX 24

int schema_width(FILE *f)
{
    struct winsize ws;
    if (isatty(fileno(f)) && ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) return ws.ws_col;
    return 80;
}

/* --- printing with wrapping ---------------------------------------------------- */

typedef struct line {
    FILE *f;
    int   col;    /* the column the next character goes to */
    int   cont;   /* where a wrapped line goes on */
    int   width;
} line;

static void put_spaces(line *l, int n)
{
    for (int i = 0; i < n; i++) fputc(' ', l->f);
    l->col += n;
}

static void put(line *l, const char *s)
{
    fputs(s, l->f);
    l->col += (int)strlen(s);
}

/*
 * Puts sep and token; when that would pass the width, the separator's
 * trailing blank becomes a line break and the token goes on at l->cont.
 */
static void put_token(line *l, const char *sep, const char *token)
{
    int need = (int)(strlen(sep) + strlen(token));
    if (l->col + need > l->width && l->col > l->cont) {
        size_t keep = strlen(sep);
        while (keep > 0 && sep[keep - 1] == ' ') keep--;
        fprintf(l->f, "%.*s\n", (int)keep, sep);
        l->col = 0;
        put_spaces(l, l->cont);
        put(l, token);
        return;
    }
    put(l, sep);
    put(l, token);
}

static void end_line(line *l)
{
    fputc('\n', l->f);
    l->col = 0;
}

/* " [a] [b]" for a features array. */
static void put_features(line *l, const json_t *features)
{
    size_t i;
    json_t *feat;
    json_array_foreach(features, i, feat) {
        const char *name = json_string_value(feat);
        if (!name) continue;
        char *tok = g_strdup_printf("[%s]", name);
        put_token(l, " ", tok);
        g_free(tok);
    }
}

/* --- types ---------------------------------------------------------------------- */

static const char *type_of(const json_t *t)
{
    const char *s = json_string_value(json_object_get(t, "type"));
    return s ? s : "?";
}

static int is_type(const json_t *t, const char *type)
{
    return !strcmp(type_of(t), type);
}

/* A short rendering: str, enum, [T], A|B, object. */
static void label(GString *b, const json_t *t)
{
    if (is_type(t, "array")) {
        g_string_append_c(b, '[');
        label(b, json_object_get(t, "element"));
        g_string_append_c(b, ']');
    } else if (is_type(t, "alternate")) {
        size_t i;
        json_t *alt;
        json_array_foreach(json_object_get(t, "alternatives"), i, alt) {
            if (i) g_string_append_c(b, '|');
            label(b, alt);
        }
    } else if (is_type(t, "object") && json_is_true(json_object_get(t, "recursive"))) {
        g_string_append(b, "object (recursive)");
    } else {
        g_string_append(b, type_of(t));
    }
}

/* The enum in t: t itself, an array's element, an alternate's branch. */
static const json_t *enum_of(const json_t *t)
{
    if (!t) return NULL;
    if (is_type(t, "enum")) return t;
    if (is_type(t, "array")) return enum_of(json_object_get(t, "element"));
    if (is_type(t, "alternate")) {
        size_t i;
        json_t *alt;
        json_array_foreach(json_object_get(t, "alternatives"), i, alt) {
            const json_t *e = enum_of(alt);
            if (e) return e;
        }
    }
    return NULL;
}

/* Is t an object with nothing in it (what a command without a result returns)? */
static int is_empty_object(const json_t *t)
{
    return is_type(t, "object") && !json_is_true(json_object_get(t, "recursive")) &&
           json_array_size(json_object_get(t, "members")) == 0 && !json_object_get(t, "tag");
}

/* "v1, v2 [deprecated], v3" after "label: ". */
static void put_values(line *l, const json_t *values, const json_t *value_features)
{
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v) {
        const char *name = json_string_value(v);
        if (!name) continue;
        put_token(l, i ? ", " : ": ", name);
        put_features(l, json_object_get(value_features, name));
    }
}

/*
 * One entry: NAME padded to name_w, the type's label, the enum values,
 * "(optional)", the features.  Wrapped lines go on under the values.
 */
static void put_entry(FILE *f, int indent, int name_w, const char *name, const char *label_text,
                      const json_t *values, const json_t *value_features, int optional,
                      const json_t *features, const json_t *type_features, int width)
{
    line l = {f, 0, 0, width};
    put_spaces(&l, indent);
    put(&l, name);
    if (*name) put_spaces(&l, name_w > (int)strlen(name) ? name_w - (int)strlen(name) : 1);
    put(&l, label_text);
    l.cont = l.col + 2 <= width / 2 ? l.col + 2 : indent + 4;
    if (values) put_values(&l, values, value_features);
    if (optional) put_token(&l, " ", "(optional)");
    put_features(&l, features);
    put_features(&l, type_features);
    end_line(&l);
}

/* put_entry() for a member of type t (a describe tree). */
static void put_typed_entry(FILE *f, int indent, int name_w, const char *name, const json_t *t, int optional,
                            const json_t *features, int width)
{
    GString *b = g_string_new(NULL);
    label(b, t);
    const json_t *e = enum_of(t);
    put_entry(f, indent, name_w, name, b->str, e ? json_object_get(e, "values") : NULL,
              e ? json_object_get(e, "value-features") : NULL, optional, features,
              json_object_get(t, "features"), width);
    g_string_free(b, TRUE);
}

static void print_object(FILE *f, const json_t *obj, int indent, int width);

/* The objects inside t (through arrays and alternates), each at indent. */
static void print_body(FILE *f, const json_t *t, int indent, int width)
{
    if (is_type(t, "array")) {
        print_body(f, json_object_get(t, "element"), indent, width);
    } else if (is_type(t, "alternate")) {
        size_t i;
        json_t *alt;
        json_array_foreach(json_object_get(t, "alternatives"), i, alt) print_body(f, alt, indent, width);
    } else if (is_type(t, "object") && !json_is_true(json_object_get(t, "recursive"))) {
        print_object(f, t, indent, width);
    }
}

static int name_column(const json_t *members)
{
    int w = 0;
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m) {
        const char *name = json_string_value(json_object_get(m, "name"));
        int n = name ? (int)strlen(name) : 0;
        if (n > w) w = n;
    }
    w += 2;
    return w > NAME_COLUMN_MAX ? NAME_COLUMN_MAX : w;
}

static void print_members(FILE *f, const json_t *members, int indent, int width)
{
    int name_w = name_column(members);
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m) {
        const char *name = json_string_value(json_object_get(m, "name"));
        const json_t *type = json_object_get(m, "type");
        put_typed_entry(f, indent, name_w, name ? name : "?", type, json_is_true(json_object_get(m, "optional")),
                        json_object_get(m, "features"), width);
        print_body(f, type, indent + 2, width);
    }
}

/* "when TAG = v1, v2:" for the branches in values, with the branch type's features. */
static void put_when(FILE *f, int indent, const char *tag, const json_t *values, int empty,
                     const json_t *features, int width)
{
    line l = {f, 0, 0, width};
    put_spaces(&l, indent);
    put(&l, "when ");
    put(&l, tag);
    put(&l, " =");
    l.cont = l.col + 1 <= width / 2 ? l.col + 1 : indent + 4;
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v) {
        GString *tok = g_string_new(json_string_value(v));
        if (i + 1 == json_array_size(values)) g_string_append(tok, empty ? ": nothing more" : ":");
        put_token(&l, i ? ", " : " ", tok->str);
        g_string_free(tok, TRUE);
    }
    put_features(&l, features);
    end_line(&l);
}

/*
 * A union's branches, those that are the same together, in the schema's
 * order.  branches: {"value": X, ...} where X is a members array (help) or
 * the branch's object type from describe (schema NAME).
 */
static void print_branches(FILE *f, const char *tag, const json_t *branches, int indent, int width,
                           void (*print)(FILE *, const json_t *, int, int))
{
    size_t n = json_object_size(branches), k = 0;
    /* GLib's allocations end the program when memory runs out. */
    const char **keys = g_new0(const char *, n);
    const json_t **vals = g_new0(const json_t *, n);
    char *done = g_new0(char, n);
    const char *key;
    json_t *members;
    json_object_foreach((json_t *)branches, key, members) {
        keys[k] = key;
        vals[k++] = members;
    }
    for (size_t i = 0; i < n; i++) {
        if (done[i]) continue;
        json_t *same = json_array();
        for (size_t j = i; j < n; j++)
            if (!done[j] && json_equal(vals[i], vals[j])) {
                done[j] = 1;
                json_array_append_new(same, json_string(keys[j]));
            }
        const json_t *features = NULL;
        int empty;
        if (json_is_object(vals[i])) {
            features = json_object_get(vals[i], "features");
            empty = json_array_size(json_object_get(vals[i], "members")) == 0 && !json_object_get(vals[i], "tag");
        } else {
            empty = json_array_size(vals[i]) == 0;
        }
        put_when(f, indent, tag, same, empty, features, width);
        json_decref(same);
        if (!empty) print(f, vals[i], indent + 2, width);
    }
    g_free(keys);
    g_free(vals);
    g_free(done);
}

static void print_object(FILE *f, const json_t *obj, int indent, int width)
{
    print_members(f, json_object_get(obj, "members"), indent, width);
    const char *tag = json_string_value(json_object_get(obj, "tag"));
    if (!tag) return;
    /* Each branch is an object type of its own (members, features, maybe a union again). */
    print_branches(f, tag, json_object_get(obj, "variants"), indent, width, print_object);
}

/* --- schema NAME ------------------------------------------------------------------- */

static void put_heading(FILE *f, const char *name, const char *what, const json_t *features, int width)
{
    line l = {f, 0, 4, width};
    put(&l, name);
    put(&l, " (");
    put(&l, what);
    put(&l, ")");
    put_features(&l, features);
    end_line(&l);
}

/* "  arguments:" and the object's members, or "  arguments: none". */
static void print_section(FILE *f, const char *title, const json_t *t, int width)
{
    if (is_empty_object(t)) {
        fprintf(f, "  %s: none\n", title);
    } else if (is_type(t, "object")) {
        fprintf(f, "  %s:\n", title);
        print_body(f, t, 4, width);
    } else {
        /* Not an object (an unusual schema): show it as a value. */
        char *heading = g_strconcat(title, ":", NULL);
        put_typed_entry(f, 2, 0, heading, t, 0, NULL, width);
        g_free(heading);
        print_body(f, t, 4, width);
    }
}

void schema_print_describe(FILE *f, const json_t *d, int width)
{
    const char *name = json_string_value(json_object_get(d, "name"));
    const char *meta = json_string_value(json_object_get(d, "meta-type"));
    if (!name) name = "?";
    if (meta && (!strcmp(meta, "command") || !strcmp(meta, "event"))) {
        int command = !strcmp(meta, "command");
        put_heading(f, name, meta, json_object_get(d, "features"), width);
        print_section(f, command ? "arguments" : "data", json_object_get(d, "arguments"), width);
        if (!command) return;
        const json_t *ret = json_object_get(d, "returns");
        if (!ret || is_empty_object(ret)) {
            fputs("  returns: nothing\n", f);
        } else {
            put_typed_entry(f, 2, 0, "returns:", ret, 0, NULL, width);
            print_body(f, ret, 4, width);
        }
        if (json_is_true(json_object_get(d, "allow-oob"))) fputs("  out-of-band: allowed (exec-oob)\n", f);
        return;
    }
    const char *kind = type_of(d);
    char *what;
    if (!strcmp(kind, "object") || !strcmp(kind, "enum") || !strcmp(kind, "array") ||
        !strcmp(kind, "alternate"))
        what = g_strconcat(kind, " type", NULL);
    else
        what = g_strdup("built-in type");
    put_heading(f, name, what, json_object_get(d, "features"), width);
    g_free(what);
    if (!strcmp(kind, "object")) {
        if (is_empty_object(d)) fputs("  no members\n", f);
        else print_object(f, d, 2, width);
    } else if (!strcmp(kind, "enum") || !strcmp(kind, "array") || !strcmp(kind, "alternate")) {
        /* The type's own features are in the heading already. */
        json_t *bare = json_copy((json_t *)d);
        json_object_del(bare, "features");
        put_typed_entry(f, 2, 0, "", bare, 0, NULL, width);
        print_body(f, bare, 4, width);
        json_decref(bare);
    }
}

/* --- help NAME ------------------------------------------------------------------------ */

/* The members of one level (qmp_schema_arguments() entries), with no tag/variant. */
static void print_argument_list(FILE *f, const json_t *members, int indent, int width)
{
    int name_w = name_column(members);
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m) {
        const char *name = json_string_value(json_object_get(m, "name"));
        const char *type = json_string_value(json_object_get(m, "type"));
        put_entry(f, indent, name_w, name ? name : "?", type ? type : "?", json_object_get(m, "values"), NULL,
                  json_is_true(json_object_get(m, "optional")), json_object_get(m, "features"), NULL, width);
    }
}

void schema_print_arguments(FILE *f, const qmp_schema *s, const char *name, const json_t *args, int width)
{
    json_t *features = json_array();
    static const char *const marks[] = {"deprecated", "unstable"};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        char query[512];
        snprintf(query, sizeof query, "%s/$%s", name, marks[i]);
        if (qmp_schema_has(s, query) == 1) json_array_append_new(features, json_string(marks[i]));
    }
    json_t *events = qmp_schema_list(s, QMP_SCHEMA_EVENTS);
    int event = 0;
    size_t k;
    json_t *ev;
    json_array_foreach(events, k, ev)
        if (!strcmp(json_string_value(ev), name)) event = 1;
    json_decref(events);
    line l = {f, 0, 4, width};
    put(&l, name);
    put(&l, event ? " (event), its data:" : " [KEY=VALUE...]");
    put_features(&l, features);
    end_line(&l);
    json_decref(features);
    if (json_array_size(args) == 0) {
        fputs(event ? "  nothing\n" : "  no arguments\n", f);
        return;
    }
    /* The base members, then each tag's branches: {"tag": {"value": [members]}}. */
    json_t *base = json_array();
    json_t *tags = json_object();
    int objects = 0;
    size_t i;
    json_t *m;
    json_array_foreach(args, i, m) {
        const char *type = json_string_value(json_object_get(m, "type"));
        if (type && strstr(type, "object")) objects = 1;
        const char *tag = json_string_value(json_object_get(m, "tag"));
        const char *variant = json_string_value(json_object_get(m, "variant"));
        if (!tag || !variant) {
            json_array_append(base, m);
            continue;
        }
        json_t *branches = json_object_get(tags, tag);
        if (!branches) json_object_set_new(tags, tag, branches = json_object());
        json_t *members = json_object_get(branches, variant);
        if (!members) json_object_set_new(branches, variant, members = json_array());
        json_t *copy = json_copy(m);
        json_object_del(copy, "tag");
        json_object_del(copy, "variant");
        json_array_append_new(members, copy);
    }
    print_argument_list(f, base, 2, width);
    const char *tag;
    json_t *branches;
    json_object_foreach(tags, tag, branches) print_branches(f, tag, branches, 2, width, print_argument_list);
    json_decref(base);
    json_decref(tags);
    if (objects && !event) fprintf(f, "Members of objects are given as KEY.MEMBER=VALUE; 'schema %s' shows them.\n", name);
}

/* --- schema (the lists) ------------------------------------------------------------------- */

static void print_names(FILE *f, const qmp_schema *s, const char *title, json_t *names, int width, int columns)
{
    size_t n = json_array_size(names);
    char **entries = g_new0(char *, n);
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(names, i));
        GString *b = g_string_new(name);
        char query[512];
        snprintf(query, sizeof query, "%s/$deprecated", name);
        if (qmp_schema_has(s, query) == 1) g_string_append(b, " [deprecated]");
        snprintf(query, sizeof query, "%s/$unstable", name);
        if (qmp_schema_has(s, query) == 1) g_string_append(b, " [unstable]");
        entries[i] = g_string_free(b, FALSE);
    }
    fprintf(f, "%s (%zu):\n", title, n);
    /* As ls: the most columns (each as wide as its longest entry) that fit, filled downwards. */
    size_t ncols = 1, nrows = n;
    int *col_w = g_new0(int, n);
    for (size_t try = columns ? n : 1; try > 1; try--) {
        size_t rows = (n + try - 1) / try;
        if ((try - 1) * rows >= n) continue; /* would leave a column empty */
        int total = 2;
        for (size_t c = 0; c < try; c++) {
            int w = 0;
            for (size_t k = c * rows; k < (c + 1) * rows && k < n; k++)
                if ((int)strlen(entries[k]) > w) w = (int)strlen(entries[k]);
            col_w[c] = w + 2;
            total += col_w[c];
        }
        if (total - 2 <= width - 2) {
            ncols = try;
            nrows = rows;
            break;
        }
    }
    for (size_t r = 0; r < nrows; r++) {
        fputs("  ", f);
        for (size_t c = 0; c < ncols; c++) {
            size_t k = c * nrows + r;
            if (k >= n) break;
            if (c + 1 == ncols || k + nrows >= n) fputs(entries[k], f); /* the last of the row */
            else fprintf(f, "%-*s", col_w[c], entries[k]);
        }
        fputc('\n', f);
    }
    g_free(col_w);
    for (size_t i = 0; i < n; i++) g_free(entries[i]);
    g_free(entries);
}

void schema_print_list(FILE *f, const qmp_schema *s, int width, int columns)
{
    json_t *commands = qmp_schema_list(s, QMP_SCHEMA_COMMANDS);
    json_t *events = qmp_schema_list(s, QMP_SCHEMA_EVENTS);
    print_names(f, s, "Commands", commands, width, columns);
    print_names(f, s, "Events", events, width, columns);
    json_decref(commands);
    json_decref(events);
}

/* --- did you mean ------------------------------------------------------------------------ */

#define SUGGEST_MAX 5

/*
 * The command and event names of s close to name: the library's suggestion
 * (a few edits away), else up to SUGGEST_MAX + 1 that contain it.  A new array.
 */
static json_t *suggestions(const qmp_schema *s, const char *name)
{
    json_t *out = json_array();
    char *pick = NULL;
    if (qmp_schema_suggest(s, name, QMP_SCHEMA_COMMANDS | QMP_SCHEMA_EVENTS, &pick) == 1) {
        json_array_append_new(out, json_string(pick));
        qmp_free(pick);
        return out;
    }
    if (strlen(name) < 3) return out;
    json_t *all = qmp_schema_list(s, QMP_SCHEMA_COMMANDS);
    json_t *events = qmp_schema_list(s, QMP_SCHEMA_EVENTS);
    json_array_extend(all, events);
    json_decref(events);
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v)
        if (strstr(json_string_value(v), name) && json_array_size(out) < SUGGEST_MAX + 1)
            json_array_append(out, v);
    json_decref(all);
    return out;
}

static int not_found(const qmp_schema *s, const char *name, const char *what)
{
    json_t *near = suggestions(s, name);
    size_t n = json_array_size(near);
    fprintf(stderr, "qmpctl: '%s' is not %s of this server", name, what);
    if (n == 1) {
        fprintf(stderr, " (did you mean '%s'?)", json_string_value(json_array_get(near, 0)));
    } else if (n > 1) {
        fputs(" (did you mean ", stderr);
        for (size_t i = 0; i < n && i < SUGGEST_MAX; i++)
            fprintf(stderr, "%s'%s'", i ? (i + 1 == n ? " or " : ", ") : "", json_string_value(json_array_get(near, i)));
        if (n > SUGGEST_MAX) fputs(", ...", stderr);
        fputs("?)", stderr);
    }
    fputc('\n', stderr);
    json_decref(near);
    return EXIT_SCHEMA;
}

/* --- the entry points ---------------------------------------------------------------------- */

int schema_show(FILE *f, const qmp_schema *s, const char *name, const jsonout_style *json)
{
    json_t *d = qmp_schema_describe(s, name);
    if (!d) return not_found(s, name, "a command, event or type");
    if (json) jsonout_print(f, d, json);
    else schema_print_describe(f, d, schema_width(f));
    json_decref(d);
    return EXIT_OK;
}

int schema_help(FILE *f, const qmp_schema *s, const char *name)
{
    json_t *args = qmp_schema_arguments(s, name);
    if (!args) return not_found(s, name, "a command or event");
    schema_print_arguments(f, s, name, args, schema_width(f));
    json_decref(args);
    return EXIT_OK;
}

int schema_query(FILE *f, qmp_client *c, const char *query)
{
    int r = qmp_client_schema_has(c, query);
    if (r < 0) {
        if (r == QMP_EINVAL) {
            warn_msg("schema: %s", qmp_error_last()->message);
            return EXIT_USAGE;
        }
        return report_qmp_error("schema");
    }
    fputs(r ? "true\n" : "false\n", f);
    return r ? EXIT_OK : EXIT_QMP;
}
