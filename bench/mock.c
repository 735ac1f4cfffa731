/*
 * qmp-mock: a fast QMP server for the benchmarks, many clients at once.
 *
 *   qmp-mock SOCKET SCHEMA_REPLY
 *
 * Listens on the Unix socket SOCKET, prints "ready" on stdout, and serves
 * every client from one epoll loop until killed.  It speaks just enough QMP
 * for the benchmarks, with QEMU 7.2's exact bytes where they matter:
 *
 *   greeting              QEMU 7.2's, offering "oob"
 *   qmp_capabilities      {"return": {}}
 *   query-status          QEMU's reply, at once
 *   query-qmp-schema      the canned reply in SCHEMA_REPLY (a capture of QEMU
 *                         7.2's, whose "return" value is served byte for byte)
 *   blockdev-add,         {"return": {}} (for the validation benchmarks; the
 *   drive-mirror          mock checks nothing)
 *   bench-flood           {"arguments": {"count": N}}: {"return": {}}, then N
 *                         events BENCH, the last one named BENCH_END.  Options
 *                         for the fan-in benchmarks (bench/scale.c):
 *                         "stamp": true   each event's data has "t": the
 *                                         CLOCK_MONOTONIC ns when it was made,
 *                                         just before it is sent
 *                         "armed": true   the flood waits for bench-start
 *                         "interval-us": I  paced: one event every I us (all
 *                                         paced connections on one timer, so
 *                                         they send at the same instant)
 *   bench-start           {"return": {}}; every armed flood, on every
 *                         connection, starts now
 *   anything else         CommandNotFound
 *
 * Replies carry the command's "id" as sent (raw JSON text), last, as QEMU
 * does.  Commands are cut by JSON structure, not by line ends.  Output that
 * the socket does not take is kept and sent on EPOLLOUT; a flood is made a
 * slice at a time, so a slow client costs no memory.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, " \
                 "\"package\": \"Debian 1:7.2+dfsg-7\"}, \"capabilities\": [\"oob\"]}}\r\n"
#define STATUS_RETURN "{\"status\": \"running\", \"singlestep\": false, \"running\": true}"
#define FLOOD_SLICE (256 * 1024)  /* output made ahead for a flood */
#define STAMPED_SLICE (8 * 1024)  /* less when stamped, so a stamp is close to its send() */

typedef struct {
    char *p;
    size_t head, len, cap;  /* bytes [head, len) are pending */
} buf_t;

typedef struct {
    int fd;
    buf_t in, out;
    uint64_t flood_left, flood_total;
    bool want_out;
    bool stamp, armed, paced;
    size_t slot;  /* index in conns */
} conn_t;

static const char *schema_value;  /* the "return" value of the captured reply */
static size_t schema_len;
static int epfd;
static conn_t **conns;  /* every connection, for bench-start and the pacing timer */
static size_t nconns, conns_cap;
static int pace_fd = -1;   /* timerfd of the paced floods */
static long pace_us;       /* its interval; 0: not running */
static long pace_us_wanted; /* the interval of the paced floods bench-start starts */
static char pace_marker;   /* epoll data of pace_fd */

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void buf_reserve(buf_t *b, size_t more) {
    if (b->head > 0 && b->head == b->len) b->head = b->len = 0;
    if (b->len + more <= b->cap) return;
    if (b->head > 0) {
        memmove(b->p, b->p + b->head, b->len - b->head);
        b->len -= b->head;
        b->head = 0;
        if (b->len + more <= b->cap) return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) die("realloc");
    b->cap = cap;
}

static void put(buf_t *b, const char *s, size_t n) {
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void puts_(buf_t *b, const char *s) { put(b, s, strlen(s)); }

/* Skips a JSON string starting at s[i] == '"'; returns the index after it. */
static size_t skip_string(const char *s, size_t i, size_t n) {
    for (i++; i < n; i++) {
        if (s[i] == '\\') i++;
        else if (s[i] == '"') return i + 1;
    }
    return n;
}

/* The end (exclusive) of the value starting at s[i], or n if incomplete. */
static size_t skip_value(const char *s, size_t i, size_t n) {
    int depth = 0;
    for (; i < n; i++) {
        char ch = s[i];
        if (ch == '"') {
            i = skip_string(s, i, n) - 1;
            if (depth == 0) return i + 1;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (--depth == 0) return i + 1;
            if (depth < 0) return i;
        } else if (depth == 0 && (ch == ',' || ch == ' ' || ch == '\r' || ch == '\n' || ch == '\t')) {
            return i;
        }
    }
    return n;
}

/* The end (exclusive) of the object starting at s[i] == '{', or 0 if incomplete. */
static size_t object_end(const char *s, size_t i, size_t n) {
    int depth = 0;
    for (; i < n; i++) {
        char ch = s[i];
        if (ch == '"') {
            i = skip_string(s, i, n);
            if (i >= n) return 0;
            i--;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if ((ch == '}' || ch == ']') && --depth == 0) {
            return i + 1;
        }
    }
    return 0;
}

/* The raw text of the top-level member key of object [s, s+n), or NULL. */
static const char *member(const char *s, size_t n, const char *key, size_t *len) {
    size_t klen = strlen(key), i = 0;
    while (i < n && s[i] != '{') i++;
    i++;
    for (;;) {
        while (i < n && (s[i] == ' ' || s[i] == ',' || s[i] == '\r' || s[i] == '\n' || s[i] == '\t')) i++;
        if (i >= n || s[i] != '"') return NULL;
        size_t k = i + 1, kend = skip_string(s, i, n);
        i = kend;
        while (i < n && (s[i] == ' ' || s[i] == ':')) i++;
        size_t vend = skip_value(s, i, n);
        if (kend - k - 1 == klen && memcmp(s + k, key, klen) == 0) {
            *len = vend - i;
            return s + i;
        }
        i = vend;
    }
}

static void reply_start(conn_t *c) { puts_(&c->out, "{\"return\": "); }

static void reply_end(conn_t *c, const char *id, size_t idlen) {
    if (id) {
        puts_(&c->out, ", \"id\": ");
        put(&c->out, id, idlen);
    }
    puts_(&c->out, "}\r\n");
}

/* Appends the next event of c's flood. */
static void flood_event(conn_t *c) {
    char ev[512], stamp[40] = "";
    uint64_t n = c->flood_total - c->flood_left;
    if (c->stamp) snprintf(stamp, sizeof stamp, ", \"t\": %llu", (unsigned long long)mono_ns());
    int len = snprintf(ev, sizeof ev,
                       "{\"timestamp\": {\"seconds\": %llu, \"microseconds\": %llu}, "
                       "\"event\": \"%s\", \"data\": {\"device\": \"virtio-disk0\", "
                       "\"path\": \"/machine/peripheral/virtio-disk0/virtio-backend\", \"n\": %llu%s}}\r\n",
                       1700000000ULL + n / 1000000, (unsigned long long)(n % 1000000),
                       c->flood_left == 1 ? "BENCH_END" : "BENCH", (unsigned long long)n, stamp);
    put(&c->out, ev, (size_t)len);
    c->flood_left--;
}

/* Makes flood events until the output holds a slice or the flood is done
   (paced floods are made by the timer, armed ones wait for bench-start). */
static void flood_fill(conn_t *c) {
    if (c->armed || c->paced) return;
    size_t slice = c->stamp ? STAMPED_SLICE : FLOOD_SLICE;
    while (c->flood_left > 0 && c->out.len - c->out.head < slice) flood_event(c);
}

static bool flush_out(conn_t *c);
static void drop(conn_t *c);
static void set_want_out(conn_t *c, bool want);

static void pace_set(long us) {
    if (pace_fd < 0) {
        pace_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (pace_fd < 0) die("timerfd_create");
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &pace_marker};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, pace_fd, &e) < 0) die("epoll_ctl");
    }
    struct itimerspec it = {{us / 1000000, (us % 1000000) * 1000}, {us / 1000000, (us % 1000000) * 1000}};
    if (us == 0) it.it_value.tv_nsec = it.it_interval.tv_nsec = 0;
    if (timerfd_settime(pace_fd, 0, &it, NULL) < 0) die("timerfd_settime");
    pace_us = us;
}

/* A tick: every running paced flood sends its next event now. */
static void pace_tick(void) {
    uint64_t ticks;
    if (read(pace_fd, &ticks, sizeof ticks) < 0 && errno != EAGAIN) die("read timerfd");
    bool any = false;
    for (size_t i = 0; i < nconns;) {
        conn_t *c = conns[i];
        if (c->paced && !c->armed && c->flood_left > 0) {
            flood_event(c);
            any = true;
            /* A client that is gone is dropped when epoll reports its hang-up
               (it may be in the batch being handled). */
            if (!flush_out(c)) c->flood_left = 0;
        }
        i++;
    }
    if (!any) pace_set(0);
}

static void command(conn_t *c, const char *s, size_t n) {
    size_t namelen = 0, idlen = 0, arglen = 0;
    const char *name = member(s, n, "execute", &namelen);
    if (!name) name = member(s, n, "exec-oob", &namelen);
    const char *id = member(s, n, "id", &idlen);
    const char *args = member(s, n, "arguments", &arglen);
    if (name && namelen >= 2) {
        name++;
        namelen -= 2;
    } else {
        name = "";
        namelen = 0;
    }
#define IS(lit) (namelen == sizeof(lit) - 1 && memcmp(name, lit, namelen) == 0)
    if (IS("query-status")) {
        reply_start(c);
        puts_(&c->out, STATUS_RETURN);
        reply_end(c, id, idlen);
    } else if (IS("query-qmp-schema")) {
        reply_start(c);
        put(&c->out, schema_value, schema_len);
        reply_end(c, id, idlen);
    } else if (IS("qmp_capabilities") || IS("blockdev-add") || IS("drive-mirror")) {
        reply_start(c);
        puts_(&c->out, "{}");
        reply_end(c, id, idlen);
    } else if (IS("bench-flood")) {
        size_t cl = 0;
        const char *count = args ? member(args, arglen, "count", &cl) : NULL;
        reply_start(c);
        puts_(&c->out, "{}");
        reply_end(c, id, idlen);
        c->flood_total = c->flood_left = count ? strtoull(count, NULL, 10) : 0;
        size_t l = 0;
        const char *v = args ? member(args, arglen, "stamp", &l) : NULL;
        c->stamp = v && l == 4 && memcmp(v, "true", 4) == 0;
        v = args ? member(args, arglen, "armed", &l) : NULL;
        c->armed = v && l == 4 && memcmp(v, "true", 4) == 0;
        v = args ? member(args, arglen, "interval-us", &l) : NULL;
        long us = v ? strtol(v, NULL, 10) : 0;
        c->paced = us > 0;
        if (c->paced && !c->armed && pace_us != us) pace_set(us);
        if (c->paced) pace_us_wanted = us;
    } else if (IS("bench-start")) {
        reply_start(c);
        puts_(&c->out, "{}");
        reply_end(c, id, idlen);
        bool paced = false;
        for (size_t i = 0; i < nconns; i++) {
            conn_t *o = conns[i];
            if (!o->armed) continue;
            o->armed = false;
            paced |= o->paced;
            if (o != c) set_want_out(o, true);  /* the loop fills and sends it (c is flushed by our caller) */
        }
        if (paced) pace_set(pace_us_wanted);
    } else {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command %.*s has not been found\"}",
                 (int)(namelen > 200 ? 200 : namelen), name);
        puts_(&c->out, msg);
        reply_end(c, id, idlen);
    }
#undef IS
}

static void set_want_out(conn_t *c, bool want) {
    if (c->want_out == want) return;
    struct epoll_event e = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) < 0) die("epoll_ctl");
    c->want_out = want;
}

static void drop(conn_t *c) {
    conns[c->slot] = conns[--nconns];
    conns[c->slot]->slot = c->slot;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in.p);
    free(c->out.p);
    free(c);
}

/* Writes what it can; false when the client is gone. */
static bool flush_out(conn_t *c) {
    for (;;) {
        flood_fill(c);
        size_t pending = c->out.len - c->out.head;
        if (pending == 0) break;
        ssize_t w = send(c->fd, c->out.p + c->out.head, pending, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            return false;
        }
        c->out.head += (size_t)w;
        if (c->out.head == c->out.len) c->out.head = c->out.len = 0;
    }
    /* EPOLLOUT only when there is something to write: an armed or paced flood
       waits for bench-start or its timer, and asking for EPOLLOUT then made
       every epoll_wait return every such connection at once (the mock spun
       on a CPU through the whole paced fan-in). */
    set_want_out(c, c->out.len > c->out.head || (c->flood_left > 0 && !c->armed && !c->paced));
    /* A client that goes idle gives its buffers back, as a real server would. */
    if (c->out.len == 0 && c->out.cap > 65536) {
        free(c->out.p);
        c->out.p = NULL;
        c->out.cap = 0;
    }
    return true;
}

static bool on_input(conn_t *c) {
    for (;;) {
        buf_reserve(&c->in, 65536);
        ssize_t r = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
        if (r == 0) return false;
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            return false;
        }
        c->in.len += (size_t)r;
        if ((size_t)r < 65536) break;
    }
    /* Cut whole objects off the front. */
    for (;;) {
        size_t i = c->in.head;
        while (i < c->in.len && c->in.p[i] != '{') i++;
        if (i == c->in.len) {
            c->in.head = c->in.len;
            break;
        }
        size_t end = object_end(c->in.p, i, c->in.len);
        if (end == 0) {
            c->in.head = i;
            break;
        }
        command(c, c->in.p + i, end - i);
        c->in.head = end;
    }
    return flush_out(c);
}

static void load_schema(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    static char *text;
    size_t cap = 1 << 20, len = 0;
    text = malloc(cap);
    size_t r;
    while ((r = fread(text + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) text = realloc(text, cap *= 2);
    }
    fclose(f);
    size_t vlen = 0;
    schema_value = member(text, len, "return", &vlen);
    if (!schema_value) {
        fprintf(stderr, "qmp-mock: %s has no \"return\" member\n", path);
        exit(1);
    }
    schema_len = vlen;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: qmp-mock SOCKET SCHEMA_REPLY\n");
        return 2;
    }
    load_schema(argv[2]);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(argv[1]) >= sizeof sa.sun_path) {
        fprintf(stderr, "qmp-mock: socket path too long\n");
        return 2;
    }
    strcpy(sa.sun_path, argv[1]);
    unlink(argv[1]);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
    if (listen(lfd, 4096) < 0) die("listen");

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &le) < 0) die("epoll_ctl");
    printf("ready\n");
    fflush(stdout);

    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(epfd, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &pace_marker) {
                pace_tick();
                continue;
            }
            conn_t *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    c = calloc(1, sizeof *c);
                    if (!c) die("calloc");
                    c->fd = fd;
                    if (nconns == conns_cap) {
                        conns_cap = conns_cap ? conns_cap * 2 : 1024;
                        conns = realloc(conns, conns_cap * sizeof *conns);
                        if (!conns) die("realloc");
                    }
                    c->slot = nconns;
                    conns[nconns++] = c;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
                    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0) die("epoll_ctl");
                    puts_(&c->out, GREETING);
                    if (!flush_out(c)) drop(c);
                }
                continue;
            }
            bool ok = true;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ok = on_input(c);
            if (ok && (evs[i].events & EPOLLOUT)) ok = flush_out(c);
            if (!ok) drop(c);
        }
    }
}
