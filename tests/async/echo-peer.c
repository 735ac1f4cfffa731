/*
 * echo-peer.c: the fast answering QMP server (see echo-peer.h).
 */
#include "echo-peer.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "helpers.h"

#define GREETING(caps) \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, " \
    "\"package\": \"echo-peer\"}, \"capabilities\": [" caps "]}}\r\n"

struct echo_peer {
    int fd;
    int offer_oob;
    int event_every;
    pthread_t thread;

    atomic_int paused;
    atomic_int stop;
    atomic_long commands;
    atomic_long held;
    atomic_long events;
    atomic_int failures;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    int exited;             /* guarded by lock */
    char first_failure[256];/* guarded by lock */

    /* Peer thread only. */
    char *in;
    size_t in_len, in_cap;
    size_t scan;            /* next byte to look at */
    size_t start;           /* where the current message starts (valid while depth > 0) */
    int depth, in_string, escaped;
    char *out;
    size_t out_len, out_cap;
    long answered;          /* commands answered, qmp_capabilities excluded */
    int gone;               /* the client hung up: stop writing */
};

static void failure(echo_peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void failure(echo_peer *p, const char *fmt, ...)
{
    pthread_mutex_lock(&p->lock);
    if (atomic_fetch_add(&p->failures, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->first_failure, sizeof p->first_failure, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&p->lock);
}

static void grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    char *b = realloc(*buf, n);
    if (!b)
        abort();
    *buf = b;
    *cap = n;
}

static void out_append(echo_peer *p, const char *s, size_t n)
{
    grow(&p->out, &p->out_cap, p->out_len + n);
    memcpy(p->out + p->out_len, s, n);
    p->out_len += n;
}

/* Sends the queued answers; gives up when the client is gone or stops reading for the I/O timeout. */
static void flush_out(echo_peer *p)
{
    size_t off = 0;
    long long deadline = t_now_ms() + t_io_timeout_ms();
    while (off < p->out_len && !p->gone) {
        ssize_t n = send(p->fd, p->out + off, p->out_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (atomic_load(&p->stop) || t_now_ms() > deadline) {
                if (!atomic_load(&p->stop))
                    failure(p, "echo-peer: the client read nothing for %d ms", t_io_timeout_ms());
                p->gone = 1;
                break;
            }
            struct pollfd pfd = { p->fd, POLLOUT, 0 };
            poll(&pfd, 1, 20);
            continue;
        }
        /* EPIPE, ECONNRESET: the client closed; what it did not read does not matter. */
        p->gone = 1;
    }
    p->out_len = 0;
}

static void answer(echo_peer *p, const char *text, size_t len)
{
    json_error_t err;
    json_t *msg = json_loadb(text, len, 0, &err);
    json_t *id = msg ? json_object_get(msg, "id") : NULL;
    json_t *name = msg ? json_object_get(msg, "execute") : NULL;
    if (!name && msg)
        name = json_object_get(msg, "exec-oob");
    if (!msg || !json_is_object(msg) || !id || !json_is_string(name)) {
        failure(p, "echo-peer: not a QMP command: %.*s", (int)(len > 200 ? 200 : len), text);
        json_decref(msg);
        return;
    }
    atomic_fetch_add(&p->commands, 1);
    const char *n = json_string_value(name);
    if (strcmp(n, "hold") == 0) {
        pthread_mutex_lock(&p->lock);
        atomic_fetch_add(&p->held, 1);
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        json_decref(msg);
        return;
    }
    json_t *args = json_object_get(msg, "arguments");
    json_t *ret = args ? json_incref(args) : json_object();
    json_t *reply = json_pack("{soso}", "return", ret, "id", json_incref(id));
    char *s = json_dumps(reply, JSON_COMPACT);
    out_append(p, s, strlen(s));
    out_append(p, "\r\n", 2);
    free(s);
    json_decref(reply);
    int is_caps = strcmp(n, "qmp_capabilities") == 0;
    json_decref(msg);
    if (is_caps)
        return;
    p->answered++;
    if (p->event_every > 0 && p->answered % p->event_every == 0) {
        long k = atomic_load(&p->events) + 1;
        char ev[200];
        int m = snprintf(ev, sizeof ev,
                         "{\"timestamp\": {\"seconds\": 1795290741, \"microseconds\": 220843}, "
                         "\"event\": \"TICK\", \"data\": {\"n\": %ld}}\r\n", k);
        out_append(p, ev, (size_t)m);
        atomic_store(&p->events, k);
    }
}

/* Finds whole messages in the input by structure (strings, escapes, depth) and answers them. */
static void scan_input(echo_peer *p)
{
    size_t i = p->scan;
    for (; i < p->in_len; i++) {
        char ch = p->in[i];
        if (p->depth == 0) {
            if (ch == ' ' || ch == '\r' || ch == '\n' || ch == '\t')
                continue;
            if (ch != '{') {
                failure(p, "echo-peer: byte 0x%02x between messages", (unsigned char)ch);
                continue;
            }
            p->start = i;
            p->depth = 1;
            continue;
        }
        if (p->in_string) {
            if (p->escaped)
                p->escaped = 0;
            else if (ch == '\\')
                p->escaped = 1;
            else if (ch == '"')
                p->in_string = 0;
        } else if (ch == '"') {
            p->in_string = 1;
        } else if (ch == '{' || ch == '[') {
            p->depth++;
        } else if ((ch == '}' || ch == ']') && --p->depth == 0) {
            answer(p, p->in + p->start, i + 1 - p->start);
        }
    }
    /* Keep only the message in progress. */
    size_t keep = p->depth ? p->start : i;
    memmove(p->in, p->in + keep, p->in_len - keep);
    p->in_len -= keep;
    if (p->depth)
        p->start = 0;
    p->scan = p->in_len;
}

static void *peer_main(void *arg)
{
    echo_peer *p = arg;
    const char *greeting = p->offer_oob ? GREETING("\"oob\"") : GREETING("");
    out_append(p, greeting, strlen(greeting));
    flush_out(p);
    while (!p->gone && !atomic_load(&p->stop)) {
        if (atomic_load(&p->paused)) {
            t_sleep_ms(2);
            continue;
        }
        struct pollfd pfd = { p->fd, POLLIN, 0 };
        int r = poll(&pfd, 1, 20);
        if (r <= 0)
            continue;
        grow(&p->in, &p->in_cap, p->in_len + 65536);
        ssize_t n = recv(p->fd, p->in + p->in_len, 65536, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n <= 0) {
            if (n < 0 && errno != ECONNRESET)
                failure(p, "echo-peer: recv: %s", strerror(errno));
            if (p->depth)
                failure(p, "echo-peer: the client closed in the middle of a message");
            break;
        }
        p->in_len += (size_t)n;
        scan_input(p);
        flush_out(p);
    }
    pthread_mutex_lock(&p->lock);
    p->exited = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

echo_peer *echo_peer_start(int server_fd, int offer_oob, int event_every)
{
    echo_peer *p = calloc(1, sizeof *p);
    if (!p)
        abort();
    p->fd = server_fd;
    p->offer_oob = offer_oob;
    p->event_every = event_every;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (pthread_create(&p->thread, NULL, peer_main, p) != 0)
        abort();
    return p;
}

echo_peer *echo_peer_new(int *client_fd, int offer_oob, int event_every)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("echo-peer: socketpair");
        abort();
    }
    *client_fd = sv[1];
    return echo_peer_start(sv[0], offer_oob, event_every);
}

void echo_peer_pause(echo_peer *p)
{
    atomic_store(&p->paused, 1);
}

void echo_peer_resume(echo_peer *p)
{
    atomic_store(&p->paused, 0);
}

long echo_peer_commands(echo_peer *p)
{
    return atomic_load(&p->commands);
}

long echo_peer_held(echo_peer *p)
{
    return atomic_load(&p->held);
}

long echo_peer_events(echo_peer *p)
{
    return atomic_load(&p->events);
}

int echo_peer_wait_held(echo_peer *p, long n, int timeout_ms)
{
    long long deadline = t_now_ms() + timeout_ms;
    pthread_mutex_lock(&p->lock);
    while (atomic_load(&p->held) < n && t_now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
    }
    int ok = atomic_load(&p->held) >= n;
    pthread_mutex_unlock(&p->lock);
    return ok;
}

int echo_peer_finish(echo_peer *p)
{
    long long deadline = t_now_ms() + t_io_timeout_ms();
    pthread_mutex_lock(&p->lock);
    while (!p->exited && t_now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
    }
    int exited = p->exited;
    pthread_mutex_unlock(&p->lock);
    if (!exited)
        failure(p, "echo-peer: the client did not close within %d ms", t_io_timeout_ms());
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    close(p->fd);
    int n = atomic_load(&p->failures);
    if (n)
        fprintf(stderr, "echo-peer: %d failure(s); the first: %s\n", n, p->first_failure);
    free(p->in);
    free(p->out);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
    return n;
}
