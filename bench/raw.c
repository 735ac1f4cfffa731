/*
 * The raw baseline: what a careful C programmer writes with no library.  A
 * blocking Unix socket, one write() per command, reading until a newline
 * (QEMU ends every message with one), and jansson's json_loadb() per message.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"

struct raw {
    int fd;
    char *buf;
    size_t len, cap;
};

/* The next message as a tree (NULL on error); its line is consumed. */
static json_t *raw_read(raw_t *r) {
    size_t scanned = 0;
    for (;;) {
        char *nl = r->len > scanned ? memchr(r->buf + scanned, '\n', r->len - scanned) : NULL;
        if (nl) {
            size_t line = (size_t)(nl - r->buf) + 1;
            json_t *v = json_loadb(r->buf, line, 0, NULL);
            memmove(r->buf, r->buf + line, r->len - line);
            r->len -= line;
            return v;
        }
        scanned = r->len;
        if (r->cap - r->len < 65536) {
            r->cap = r->cap * 2 + 65536;
            r->buf = realloc(r->buf, r->cap);
            if (!r->buf) return NULL;
        }
        ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return NULL;
        r->len += (size_t)n;
    }
}

static int raw_send(raw_t *r, const char *cmd) {
    size_t len = strlen(cmd);
    return write(r->fd, cmd, len) == (ssize_t)len ? 0 : -1;
}

static int raw_open(raw_t *r, const char *sock, sample_t *s) {
    memset(r, 0, sizeof *r);
    r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    if (r->fd < 0 || connect(r->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        sample_fail(s, "connect: %s", strerror(errno));
        return -1;
    }
    json_t *greeting = raw_read(r);
    json_t *caps = NULL;
    if (greeting && raw_send(r, "{\"execute\":\"qmp_capabilities\"}\n") == 0) caps = raw_read(r);
    int ok = greeting && caps && json_object_get(caps, "return");
    json_decref(greeting);
    json_decref(caps);
    if (!ok) {
        sample_fail(s, "handshake failed");
        return -1;
    }
    return 0;
}

static void raw_close(raw_t *r) {
    if (r->fd >= 0) close(r->fd);
    free(r->buf);
}

/* One command and its reply; the reply's "return" must be of the given type. */
static int raw_call(raw_t *r, const char *cmd, json_type type) {
    if (raw_send(r, cmd) < 0) return -1;
    json_t *reply = raw_read(r);
    int ok = reply && json_typeof(json_object_get(reply, "return")) == type;
    json_decref(reply);
    return ok ? 0 : -1;
}

static void timed_calls(const char *sock, const char *cmd, json_type type, long count, double unit,
                        sample_t *s) {
    raw_t r;
    if (raw_open(&r, sock, s) == 0) {
        for (int i = 0; i < 10 && i < count; i++) raw_call(&r, cmd, type);
        double t0 = now_s();
        for (long i = 0; i < count; i++) {
            if (raw_call(&r, cmd, type) < 0) {
                sample_fail(s, "no reply");
                break;
            }
        }
        s->value = (now_s() - t0) * unit / (double)count;
    }
    raw_close(&r);
}

raw_t *raw_connect(const char *sock, sample_t *s) {
    raw_t *r = malloc(sizeof *r);
    if (!r) {
        sample_fail(s, "out of memory");
        return NULL;
    }
    if (raw_open(r, sock, s) < 0) {
        raw_disconnect(r);
        return NULL;
    }
    return r;
}

int raw_status_call(raw_t *r) {
    return raw_call(r, "{\"execute\":\"query-status\",\"id\":1}\n", JSON_OBJECT);
}

void raw_disconnect(raw_t *r) {
    if (!r) return;
    raw_close(r);
    free(r);
}

void raw_big_reply(const char *sock, long count, sample_t *s) {
    timed_calls(sock, "{\"execute\":\"query-qmp-schema\",\"id\":1}\n", JSON_ARRAY, count, 1e3, s);
}

/* Every message parsed whole; the name read from the tree. */
void raw_flood(const char *sock, long count, sample_t *s) {
    raw_t r;
    if (raw_open(&r, sock, s) < 0) {
        raw_close(&r);
        return;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "{\"execute\":\"bench-flood\",\"arguments\":{\"count\":%ld},\"id\":1}\n", count);
    long before = rss_bytes();
    double t0 = now_s();
    long events = 0;
    if (raw_send(&r, cmd) == 0) {
        for (;;) {
            json_t *m = raw_read(&r);
            if (!m) break;
            const char *name = json_string_value(json_object_get(m, "event"));
            int end = name && strcmp(name, "BENCH_END") == 0;
            events += name != NULL;
            json_decref(m);
            if (end) break;
        }
    }
    double t = now_s() - t0;
    if (events != count)
        sample_fail(s, "received %ld of %ld events", events, count);
    s->value = (double)events / t;
    s->extra = (double)(rss_bytes() - before);
    raw_close(&r);
}
