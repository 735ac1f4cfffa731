#include "record-json.h"

#include <string.h>

void json_splitter_init(json_splitter *s)
{
    memset(s, 0, sizeof *s);
    s->buf = g_string_new(NULL);
}

void json_splitter_clear(json_splitter *s)
{
    if (s->buf) g_string_free(s->buf, TRUE);
    s->buf = NULL;
}

void json_splitter_feed(json_splitter *s, const char *data, size_t n,
                        void (*done)(const char *text, size_t len, void *user), void *user)
{
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (s->depth == 0) {
            if (c != '{' && c != '[') continue;
            g_string_truncate(s->buf, 0);
            s->in_string = s->escape = 0;
        }
        g_string_append_c(s->buf, c);
        if (s->in_string) {
            if (s->escape) s->escape = 0;
            else if (c == '\\') s->escape = 1;
            else if (c == '"') s->in_string = 0;
            continue;
        }
        if (c == '"') {
            s->in_string = 1;
        } else if (c == '{' || c == '[') {
            s->depth++;
        } else if (c == '}' || c == ']') {
            if (--s->depth == 0) done(s->buf->str, s->buf->len, user);
        }
    }
}

/* --- checking and printing a value from its text ---------------------------- */

/* Deeper nesting is refused rather than recursed into. */
#define MAX_DEPTH 512

typedef struct scanner {
    const char *s;
    size_t n, i;
} scanner;

static void skip_ws(scanner *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\r' || p->s[p->i] == '\n'))
        p->i++;
}

static int peek(const scanner *p)
{
    return p->i < p->n ? (unsigned char)p->s[p->i] : -1;
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static void indent(GString *out, int depth)
{
    if (out)
        for (int k = 0; k < depth; k++) g_string_append(out, "    ");
}

/* A string, copied as it is (escapes included). */
static int scan_string(scanner *p, GString *out)
{
    size_t start = p->i;
    if (peek(p) != '"') return -1;
    p->i++;
    for (;;) {
        int c = peek(p);
        if (c < 0 || c < 0x20) return -1;
        p->i++;
        if (c == '"') break;
        if (c == '\\') {
            c = peek(p);
            if (c < 0 || !strchr("\"\\/bfnrtu", c)) return -1;
            p->i++;
            if (c == 'u')
                for (int k = 0; k < 4; k++, p->i++)
                    if (!g_ascii_isxdigit(peek(p))) return -1;
        }
    }
    if (out) g_string_append_len(out, p->s + start, (gssize)(p->i - start));
    return 0;
}

/* A number as JSON writes it, copied as it is. */
static int scan_number(scanner *p, GString *out)
{
    size_t start = p->i;
    if (peek(p) == '-') p->i++;
    if (peek(p) == '0') {
        p->i++;
    } else if (is_digit(peek(p))) {
        while (is_digit(peek(p))) p->i++;
    } else {
        return -1;
    }
    if (peek(p) == '.') {
        p->i++;
        if (!is_digit(peek(p))) return -1;
        while (is_digit(peek(p))) p->i++;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->i++;
        if (peek(p) == '+' || peek(p) == '-') p->i++;
        if (!is_digit(peek(p))) return -1;
        while (is_digit(peek(p))) p->i++;
    }
    if (out) g_string_append_len(out, p->s + start, (gssize)(p->i - start));
    return 0;
}

static int scan_value(scanner *p, int depth, GString *out);

/* An object or array: each member on a line of its own, indented one more than depth. */
static int scan_container(scanner *p, int depth, GString *out)
{
    char open = p->s[p->i], close = open == '{' ? '}' : ']';
    if (depth >= MAX_DEPTH) return -1;
    p->i++;
    skip_ws(p);
    if (peek(p) == close) {
        p->i++;
        if (out) g_string_append_c(out, open), g_string_append_c(out, close);
        return 0;
    }
    if (out) g_string_append_c(out, open);
    for (;;) {
        skip_ws(p);
        if (out) g_string_append_c(out, '\n');
        indent(out, depth + 1);
        if (open == '{') {
            if (scan_string(p, out) < 0) return -1;
            skip_ws(p);
            if (peek(p) != ':') return -1;
            p->i++;
            skip_ws(p);
            if (out) g_string_append(out, ": ");
        }
        if (scan_value(p, depth + 1, out) < 0) return -1;
        skip_ws(p);
        int c = peek(p);
        p->i++;
        if (c == close) break;
        if (c != ',') return -1;
        if (out) g_string_append_c(out, ',');
    }
    if (out) g_string_append_c(out, '\n');
    indent(out, depth);
    if (out) g_string_append_c(out, close);
    return 0;
}

static int scan_literal(scanner *p, const char *word, GString *out)
{
    size_t len = strlen(word);
    if (p->n - p->i < len || memcmp(p->s + p->i, word, len)) return -1;
    p->i += len;
    if (out) g_string_append(out, word);
    return 0;
}

static int scan_value(scanner *p, int depth, GString *out)
{
    switch (peek(p)) {
    case '{':
    case '[': return scan_container(p, depth, out);
    case '"': return scan_string(p, out);
    case 't': return scan_literal(p, "true", out);
    case 'f': return scan_literal(p, "false", out);
    case 'n': return scan_literal(p, "null", out);
    default:  return scan_number(p, out);
    }
}

void json_message_scan(json_message *msg, const char *text, size_t len)
{
    msg->text = text;
    msg->len = len;
    msg->n = -1;
    scanner p = {text, len, 0};
    skip_ws(&p);
    if (peek(&p) != '{') return;
    p.i++;
    skip_ws(&p);
    int n = 0;
    if (peek(&p) == '}') {
        p.i++;
    } else {
        for (;;) {
            if (n == JSON_MAX_MEMBERS) return;
            skip_ws(&p);
            json_member *m = &msg->m[n];
            m->key = p.i;
            if (scan_string(&p, NULL) < 0) return;
            m->key_len = p.i - m->key;
            skip_ws(&p);
            if (peek(&p) != ':') return;
            p.i++;
            skip_ws(&p);
            m->value = p.i;
            if (scan_value(&p, 1, NULL) < 0) return;
            m->value_len = p.i - m->value;
            n++;
            skip_ws(&p);
            int c = peek(&p);
            p.i++;
            if (c == '}') break;
            if (c != ',') return;
        }
    }
    skip_ws(&p);
    if (p.i != p.n) return;
    msg->n = n;
}

const json_member *json_message_get(const json_message *msg, const char *key)
{
    size_t len = strlen(key);
    for (int k = 0; k < msg->n; k++) {
        const json_member *m = &msg->m[k];
        if (m->key_len == len + 2 && !memcmp(msg->text + m->key + 1, key, len)) return m;
    }
    return NULL;
}

static void put_member(GString *out, int first, const char *key, size_t key_len)
{
    g_string_append(out, first ? "\n" : ",\n");
    indent(out, 1);
    g_string_append_len(out, key, (gssize)key_len);
    g_string_append(out, ": ");
}

void json_message_pretty(const json_message *msg, const char *id, GString *out)
{
    if (msg->n == 0 && !id) {
        g_string_append(out, "{}");
        return;
    }
    g_string_append_c(out, '{');
    int id_done = 0;
    for (int k = 0; k < msg->n; k++) {
        const json_member *m = &msg->m[k];
        put_member(out, k == 0, msg->text + m->key, m->key_len);
        if (id && m->key_len == 4 && !memcmp(msg->text + m->key, "\"id\"", 4)) {
            g_string_append_printf(out, "\"%s\"", id);
            id_done = 1;
            continue;
        }
        scanner p = {msg->text, m->value + m->value_len, m->value};
        scan_value(&p, 1, out);  /* checked by json_message_scan */
    }
    if (id && !id_done) {
        put_member(out, msg->n == 0, "\"id\"", 4);
        g_string_append_printf(out, "\"%s\"", id);
    }
    g_string_append(out, "\n}");
}
