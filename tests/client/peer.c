/*
 * peer.c: the scripted QMP server of the client tests (see peer.h).
 */
#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

/* Linux accepts at most SCM_MAX_FD (253) fds per message. */
#define PEER_MAX_RECV_FDS 253

enum step_kind {
    STEP_SEND,
    STEP_SEND_SLOWLY,
    STEP_EXPECT,
    STEP_REPLY,
    STEP_SLEEP,
    STEP_CLOSE,
    STEP_EXPECT_CLOSE,
    STEP_EXPECT_QUIET,
    STEP_SILENT_UNTIL_CLOSE,
};

struct step {
    enum step_kind kind;
    char *text;             /* SEND, SEND_SLOWLY, REPLY (template); EXPECT: args (NULL: any) */
    size_t length;
    char *name;             /* EXPECT */
    const char *key;        /* EXPECT: "execute" or "exec-oob" */
    int cmd;                /* EXPECT, REPLY */
    int ms;                 /* SEND_SLOWLY, SLEEP */
    int nfds;               /* EXPECT */
    dev_t *same_dev;        /* EXPECT: nfds entries, or NULL */
    ino_t *same_ino;
    struct step *next;
};

struct command {
    char *text;             /* as received; NULL until read */
    char *id;               /* the id member's text; NULL if none */
    int failed;             /* the read failed: it will never be received */
};

struct peer {
    int fd;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;

    /* Guarded by lock. */
    struct step *head, *tail;
    int finishing;
    int busy;               /* a step is being run */
    struct command *cmds;
    int ncmds, cap_cmds;    /* ncmds: numbers handed out */
    int nread;              /* commands read (or failed) so far */
    char **failures;
    int nfailures;

    /* Peer thread only. */
    int dead;               /* a read failed: skip the remaining I/O */
    int closed;
    unsigned long long offset;  /* bytes read so far */
};

/* --- small helpers ---------------------------------------------------------- */

static void *xmalloc(size_t n)
{
    void *m = malloc(n ? n : 1);
    if (!m) {
        fprintf(stderr, "peer: out of memory\n");
        abort();
    }
    return m;
}

static char *xstrndup(const char *s, size_t n)
{
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static char *xstrdup(const char *s)
{
    return s ? xstrndup(s, strlen(s)) : NULL;
}

static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* A JSON string literal for s. */
static char *json_quote(const char *s)
{
    json_t *str = json_string(s);
    char *q = json_dumps(str, JSON_ENCODE_ANY);
    json_decref(str);
    return q;
}

int peer_io_timeout_ms(void)
{
    const char *vg = getenv("LIBQMP_TEST_VALGRIND");
    return vg && *vg && strcmp(vg, "0") != 0 ? 120000 : 10000;
}

static void fail(peer *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&p->lock);
    char **f = realloc(p->failures, sizeof *f * (size_t)(p->nfailures + 1));
    if (!f)
        abort();
    p->failures = f;
    p->failures[p->nfailures++] = s;
    pthread_mutex_unlock(&p->lock);
}

/* --- the step queue --------------------------------------------------------- */

static struct step *step_new(enum step_kind kind)
{
    struct step *s = xmalloc(sizeof *s);
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->cmd = PEER_LAST;
    return s;
}

static void step_free(struct step *s)
{
    free(s->text);
    free(s->name);
    free(s->same_dev);
    free(s->same_ino);
    free(s);
}

static void push(peer *p, struct step *s)
{
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = s;
    else
        p->head = s;
    p->tail = s;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* --- reading ------------------------------------------------------------------ */

static void close_fds(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

/*
 * Reads one byte.  Returns 1 with *byte set, 0 on EOF, -1 on error or timeout
 * (deadline: now_ms() value, or -1 for none).  fds that came with the byte are
 * stored in fds[0..*nfds) (the caller closes them).
 */
static int read_byte(peer *p, char *byte, long long deadline, int *fds, int *nfds)
{
    *nfds = 0;
    for (;;) {
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int) * PEER_MAX_RECV_FDS)];
        } control;
        struct iovec iov = { byte, 1 };
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof control.buf;

        ssize_t n = recvmsg(p->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int wait = -1;
            if (deadline >= 0) {
                long long left = deadline - now_ms();
                if (left <= 0)
                    return -1;
                wait = (int)left;
            }
            struct pollfd pfd = { p->fd, POLLIN, 0 };
            int r = poll(&pfd, 1, wait);
            if (r < 0 && errno != EINTR)
                return -1;
            continue;
        }
        if (n < 0)
            return -1;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                int *in = (int *)(void *)CMSG_DATA(cm);
                for (int i = 0; i < k && *nfds < PEER_MAX_RECV_FDS; i++)
                    fds[(*nfds)++] = in[i];
            }
        }
        if (msg.msg_flags & MSG_CTRUNC)
            fail(p, "peer: control data truncated at byte %llu", p->offset);
        if (n == 0)
            return 0;
        p->offset++;
        return 1;
    }
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

struct received {
    char *text;
    size_t length;
    int fds_first;          /* fds on the message's first byte */
    int fds_later;          /* fds on any other byte */
    dev_t dev[PEER_MAX_RECV_FDS];
    ino_t ino[PEER_MAX_RECV_FDS];
};

static void note_fds(struct received *r, int *fds, int n, int first)
{
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (first && r->fds_first < PEER_MAX_RECV_FDS && fstat(fds[i], &st) == 0) {
            r->dev[r->fds_first] = st.st_dev;
            r->ino[r->fds_first] = st.st_ino;
        }
        if (first)
            r->fds_first++;
        else
            r->fds_later++;
    }
    close_fds(fds, n);
}

/*
 * Reads one JSON object or array, finding its end by structure (strings,
 * escapes, depth).  Returns 1, 0 on a clean EOF before any byte of it, -1 on
 * a failure (recorded).
 */
static int read_message(peer *p, struct received *r, const char *what)
{
    memset(r, 0, sizeof *r);
    long long deadline = now_ms() + peer_io_timeout_ms();
    size_t cap = 256, len = 0;
    char *buf = xmalloc(cap);
    int depth = 0, in_string = 0, escaped = 0;
    int fds[PEER_MAX_RECV_FDS];
    int nfds;

    for (;;) {
        char ch;
        int rc = read_byte(p, &ch, deadline, fds, &nfds);
        if (rc <= 0) {
            close_fds(fds, nfds);
            free(buf);
            if (rc == 0 && len == 0)
                return 0;
            if (rc == 0)
                fail(p, "peer: %s: EOF after %zu bytes of a message", what, len);
            else
                fail(p, "peer: %s: read failed or timed out (%s)", what,
                     len ? "inside a message" : "waiting for a message");
            return -1;
        }
        if (len == 0 && is_space(ch)) {
            if (nfds) {
                fail(p, "peer: %s: %d fd(s) arrived on whitespace between messages", what, nfds);
                close_fds(fds, nfds);
            }
            continue;
        }
        if (len == 0 && ch != '{' && ch != '[') {
            fail(p, "peer: %s: the client sent a byte 0x%02x that does not start a JSON object",
                 what, (unsigned char)ch);
            close_fds(fds, nfds);
            free(buf);
            return -1;
        }
        note_fds(r, fds, nfds, len == 0);
        if (len + 1 >= cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                abort();
            buf = nb;
        }
        buf[len++] = ch;
        if (in_string) {
            if (escaped)
                escaped = 0;
            else if (ch == '\\')
                escaped = 1;
            else if (ch == '"')
                in_string = 0;
        } else if (ch == '"') {
            in_string = 1;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (--depth == 0)
                break;
        }
    }
    buf[len] = '\0';
    r->text = buf;
    r->length = len;
    return 1;
}

/* --- the raw text of a top-level member ------------------------------------ */

static size_t skip_space(const char *s, size_t i, size_t n)
{
    while (i < n && is_space(s[i]))
        i++;
    return i;
}

/* Index just past the string starting at s[i] == '"'. */
static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return n;
}

/* Index just past the value starting at s[i]. */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    if (i >= n)
        return n;
    if (s[i] == '"')
        return skip_string(s, i, n);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        while (i < n) {
            if (s[i] == '"') {
                i = skip_string(s, i, n);
                continue;
            }
            if (s[i] == '{' || s[i] == '[')
                depth++;
            else if (s[i] == '}' || s[i] == ']') {
                if (--depth == 0)
                    return i + 1;
            }
            i++;
        }
        return n;
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_space(s[i]))
        i++;
    return i;
}

/* The exact text of the top-level member key of the object text, or NULL. */
static char *member_text(const char *s, size_t n, const char *key)
{
    size_t klen = strlen(key);
    size_t i = skip_space(s, 0, n);
    if (i >= n || s[i] != '{')
        return NULL;
    i++;
    for (;;) {
        i = skip_space(s, i, n);
        if (i >= n || s[i] != '"')
            return NULL;
        size_t kstart = i + 1;
        i = skip_string(s, i, n);
        size_t kend = i - 1;
        i = skip_space(s, i, n);
        if (i >= n || s[i] != ':')
            return NULL;
        i = skip_space(s, i + 1, n);
        size_t vstart = i;
        i = skip_value(s, i, n);
        if (kend - kstart == klen && memcmp(s + kstart, key, klen) == 0)
            return xstrndup(s + vstart, i - vstart);
        i = skip_space(s, i, n);
        if (i >= n || s[i] != ',')
            return NULL;
        i++;
    }
}

/* --- running the steps ------------------------------------------------------- */

static void send_all(peer *p, const char *bytes, size_t length)
{
    while (length) {
        ssize_t n = send(p->fd, bytes, length, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fail(p, "peer: send failed: %s", strerror(errno));
            p->dead = 1;
            return;
        }
        bytes += n;
        length -= (size_t)n;
    }
}

static void command_done(peer *p, int cmd, char *text, char *id)
{
    pthread_mutex_lock(&p->lock);
    p->cmds[cmd].text = text;
    p->cmds[cmd].id = id;
    p->cmds[cmd].failed = text == NULL;
    p->nread = cmd + 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static void run_expect(peer *p, struct step *s)
{
    char what[160];
    snprintf(what, sizeof what, "command %d (%s %s)", s->cmd, s->key, s->name);
    if (p->dead) {
        fail(p, "peer: %s: skipped after an earlier read failure", what);
        command_done(p, s->cmd, NULL, NULL);
        return;
    }

    struct received r;
    int rc = read_message(p, &r, what);
    if (rc <= 0) {
        if (rc == 0)
            fail(p, "peer: %s: the client closed instead", what);
        p->dead = 1;
        command_done(p, s->cmd, NULL, NULL);
        return;
    }

    json_error_t err;
    /* Integers as reals, on both sides: jansson cannot hold a uint64 above INT64_MAX. */
    json_t *msg = json_loadb(r.text, r.length, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &err);
    char *id = member_text(r.text, r.length, "id");
    if (!msg || !json_is_object(msg)) {
        fail(p, "peer: %s: not a JSON object: %s", what, r.text);
    } else {
        const char *other = strcmp(s->key, "execute") == 0 ? "exec-oob" : "execute";
        json_t *name = json_object_get(msg, s->key);
        if (!json_is_string(name) || strcmp(json_string_value(name), s->name) != 0)
            fail(p, "peer: %s: got %s", what, r.text);
        if (json_object_get(msg, other))
            fail(p, "peer: %s: has \"%s\" too: %s", what, other, r.text);
        if (!id)
            fail(p, "peer: %s: no \"id\": %s", what, r.text);
        const char *key;
        json_t *value;
        json_object_foreach(msg, key, value) {
            if (strcmp(key, "execute") != 0 && strcmp(key, "exec-oob") != 0 &&
                strcmp(key, "arguments") != 0 && strcmp(key, "id") != 0)
                fail(p, "peer: %s: unexpected member \"%s\": %s", what, key, r.text);
        }
        json_t *args = json_object_get(msg, "arguments");
        if (s->text && s->text[0] == '\0') {
            if (args)
                fail(p, "peer: %s: expected no \"arguments\": %s", what, r.text);
        } else if (s->text) {
            json_t *want = json_loads(s->text, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &err);
            if (!want)
                fail(p, "peer: %s: the test's expected arguments are not JSON: %s", what, s->text);
            else if (!args || !json_equal(args, want))
                fail(p, "peer: %s: expected arguments %s: %s", what, s->text, r.text);
            json_decref(want);
        }
    }
    json_decref(msg);

    if (r.fds_first != s->nfds)
        fail(p, "peer: %s: expected %d fd(s) on the first byte, got %d", what, s->nfds, r.fds_first);
    if (r.fds_later)
        fail(p, "peer: %s: %d fd(s) arrived after the first byte", what, r.fds_later);
    if (s->same_dev && r.fds_first == s->nfds) {
        for (int i = 0; i < s->nfds; i++)
            if (r.dev[i] != s->same_dev[i] || r.ino[i] != s->same_ino[i])
                fail(p, "peer: %s: fd %d is not the file the test passed", what, i);
    }
    command_done(p, s->cmd, r.text, id);
}

/* The id text of the command a reply step answers; NULL (recorded) if there is none. */
static const char *reply_id(peer *p, int cmd)
{
    const char *id = NULL;
    pthread_mutex_lock(&p->lock);
    if (cmd >= 0 && cmd < p->nread)
        id = p->cmds[cmd].id;
    pthread_mutex_unlock(&p->lock);
    if (!id)
        fail(p, "peer: cannot reply to command %d: not read, or it had no id", cmd);
    return id;
}

static void run_reply(peer *p, struct step *s)
{
    if (p->dead)
        return;
    const char *id = reply_id(p, s->cmd);
    if (!id)
        return;
    size_t idlen = strlen(id), plen = strlen(PEER_ID);
    size_t cap = s->length + 1, len = 0;
    for (const char *t = strstr(s->text, PEER_ID); t; t = strstr(t + plen, PEER_ID))
        cap += idlen;
    char *out = xmalloc(cap);
    const char *t = s->text;
    for (const char *hit; (hit = strstr(t, PEER_ID)); t = hit + plen) {
        memcpy(out + len, t, (size_t)(hit - t));
        len += (size_t)(hit - t);
        memcpy(out + len, id, idlen);
        len += idlen;
    }
    memcpy(out + len, t, strlen(t));
    len += strlen(t);
    send_all(p, out, len);
    free(out);
}

/* Discards whatever the client already sent, so close() does not turn into ECONNRESET for it. */
static void discard_pending(peer *p)
{
    char buf[4096];
    for (;;) {
        ssize_t n = recv(p->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
    }
}

static void run_until_close(peer *p, int strict)
{
    if (p->dead)
        return;
    long long deadline = now_ms() + peer_io_timeout_ms();
    int fds[PEER_MAX_RECV_FDS], nfds;
    unsigned long long stray = 0;
    for (;;) {
        char ch;
        int rc = read_byte(p, &ch, deadline, fds, &nfds);
        close_fds(fds, nfds);
        if (rc == 0)
            break;
        if (rc < 0) {
            fail(p, "peer: waiting for the client to close: timed out or failed");
            p->dead = 1;
            return;
        }
        if (strict && !is_space(ch))
            stray++;
        if (nfds)
            stray++;
    }
    if (stray)
        fail(p, "peer: the client sent %llu unexpected byte(s)/fd(s) before closing", stray);
}

static void run_step(peer *p, struct step *s)
{
    switch (s->kind) {
    case STEP_SEND:
        if (!p->dead)
            send_all(p, s->text, s->length);
        break;
    case STEP_SEND_SLOWLY:
        for (size_t i = 0; i < s->length && !p->dead; i++) {
            send_all(p, s->text + i, 1);
            if (i + 1 < s->length)
                sleep_ms(s->ms);
        }
        break;
    case STEP_EXPECT:
        run_expect(p, s);
        break;
    case STEP_REPLY:
        run_reply(p, s);
        break;
    case STEP_SLEEP:
        sleep_ms(s->ms);
        break;
    case STEP_CLOSE:
        if (!p->closed) {
            discard_pending(p);
            shutdown(p->fd, SHUT_RDWR);
            close(p->fd);
            p->fd = -1;
            p->closed = 1;
            p->dead = 1;
        }
        break;
    case STEP_EXPECT_CLOSE:
        run_until_close(p, 1);
        break;
    case STEP_SILENT_UNTIL_CLOSE:
        run_until_close(p, 0);
        break;
    case STEP_EXPECT_QUIET:
        if (!p->dead) {
            struct pollfd pfd = { p->fd, POLLIN, 0 };
            long long deadline = now_ms() + s->ms;
            int left;
            while ((left = (int)(deadline - now_ms())) > 0) {
                int r = poll(&pfd, 1, left);
                if (r > 0) {
                    fail(p, "peer: the client sent something within %d ms where it should be quiet", s->ms);
                    break;
                }
                if (r < 0 && errno != EINTR)
                    break;
            }
        }
        break;
    }
}

static void *peer_main(void *arg)
{
    peer *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->finishing)
            pthread_cond_wait(&p->cond, &p->lock);
        struct step *s = p->head;
        if (!s)
            break;
        p->head = s->next;
        if (!p->head)
            p->tail = NULL;
        p->busy = 1;
        pthread_mutex_unlock(&p->lock);

        run_step(p, s);
        step_free(s);

        pthread_mutex_lock(&p->lock);
        p->busy = 0;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* --- the public side ---------------------------------------------------------- */

peer *peer_new(int *client_fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("peer: socketpair");
        abort();
    }
    peer *p = xmalloc(sizeof *p);
    memset(p, 0, sizeof *p);
    p->fd = sv[0];
    *client_fd = sv[1];
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (pthread_create(&p->thread, NULL, peer_main, p) != 0) {
        perror("peer: pthread_create");
        abort();
    }
    return p;
}

int peer_finish(peer *p)
{
    pthread_mutex_lock(&p->lock);
    p->finishing = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);

    if (!p->closed)
        close(p->fd);
    int n = p->nfailures;
    for (int i = 0; i < n; i++) {
        fprintf(stderr, "%s\n", p->failures[i]);
        free(p->failures[i]);
    }
    free(p->failures);
    for (int i = 0; i < p->ncmds; i++) {
        free(p->cmds[i].text);
        free(p->cmds[i].id);
    }
    free(p->cmds);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
    return n;
}

void peer_send_bytes(peer *p, const void *bytes, size_t length)
{
    struct step *s = step_new(STEP_SEND);
    s->text = xstrndup(bytes, length);
    s->length = length;
    push(p, s);
}

void peer_send(peer *p, const char *text)
{
    peer_send_bytes(p, text, strlen(text));
}

void peer_send_slowly(peer *p, const char *text, int delay_ms)
{
    struct step *s = step_new(STEP_SEND_SLOWLY);
    s->text = xstrdup(text);
    s->length = strlen(text);
    s->ms = delay_ms;
    push(p, s);
}

void peer_greeting(peer *p, int offer_oob)
{
    peer_send(p, offer_oob ? PEER_GREETING_OOB : PEER_GREETING_NO_OOB);
}

void peer_handshake(peer *p, int offer_oob, int enable_oob)
{
    peer_greeting(p, offer_oob);
    peer_expect(p, "qmp_capabilities", enable_oob ? "{\"enable\": [\"oob\"]}" : PEER_NO_ARGS);
    peer_return(p, "{}");
}

void peer_event(peer *p, const char *name, const char *data_json)
{
    char *qname = json_quote(name);
    char *text;
    if (data_json)
        text = xasprintf("{\"timestamp\": {\"seconds\": 1795290741, \"microseconds\": 220843}, "
                         "\"event\": %s, \"data\": %s}\r\n", qname, data_json);
    else
        text = xasprintf("{\"timestamp\": {\"seconds\": 1795290741, \"microseconds\": 220843}, "
                         "\"event\": %s}\r\n", qname);
    free(qname);
    peer_send(p, text);
    free(text);
}

static int expect_common(peer *p, const char *key, const char *name, const char *args_json,
                         int nfds, const int *same_as)
{
    struct step *s = step_new(STEP_EXPECT);
    s->key = key;
    s->name = xstrdup(name);
    s->text = xstrdup(args_json);
    s->nfds = nfds;
    if (same_as) {
        s->same_dev = xmalloc(sizeof *s->same_dev * (size_t)nfds);
        s->same_ino = xmalloc(sizeof *s->same_ino * (size_t)nfds);
        for (int i = 0; i < nfds; i++) {
            struct stat st;
            if (fstat(same_as[i], &st) < 0) {
                fail(p, "peer_expect_fds: fd %d of the test is not open", same_as[i]);
                memset(&st, 0, sizeof st);
            }
            s->same_dev[i] = st.st_dev;
            s->same_ino[i] = st.st_ino;
        }
    }
    pthread_mutex_lock(&p->lock);
    if (p->ncmds == p->cap_cmds) {
        p->cap_cmds = p->cap_cmds ? p->cap_cmds * 2 : 16;
        struct command *c = realloc(p->cmds, sizeof *c * (size_t)p->cap_cmds);
        if (!c)
            abort();
        p->cmds = c;
    }
    memset(&p->cmds[p->ncmds], 0, sizeof p->cmds[p->ncmds]);
    s->cmd = p->ncmds++;
    /* Queued under the same lock, so numbers and queue order agree. */
    if (p->tail)
        p->tail->next = s;
    else
        p->head = s;
    p->tail = s;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return s->cmd;
}

int peer_expect(peer *p, const char *name, const char *args_json)
{
    return expect_common(p, "execute", name, args_json, 0, NULL);
}

int peer_expect_oob(peer *p, const char *name, const char *args_json)
{
    return expect_common(p, "exec-oob", name, args_json, 0, NULL);
}

int peer_expect_fds(peer *p, const char *name, const char *args_json, int nfds, const int *same_as)
{
    return expect_common(p, "execute", name, args_json, nfds, same_as);
}

void peer_expect_close(peer *p)
{
    push(p, step_new(STEP_EXPECT_CLOSE));
}

void peer_expect_quiet(peer *p, int ms)
{
    struct step *s = step_new(STEP_EXPECT_QUIET);
    s->ms = ms;
    push(p, s);
}

void peer_silent_until_close(peer *p)
{
    push(p, step_new(STEP_SILENT_UNTIL_CLOSE));
}

char *peer_received(peer *p, int cmd)
{
    char *text = NULL;
    pthread_mutex_lock(&p->lock);
    if (cmd < 0 || cmd >= p->ncmds) {
        pthread_mutex_unlock(&p->lock);
        fail(p, "peer_received: no command %d was expected", cmd);
        return NULL;
    }
    while (p->nread <= cmd)
        pthread_cond_wait(&p->cond, &p->lock);
    text = xstrdup(p->cmds[cmd].text);
    pthread_mutex_unlock(&p->lock);
    return text;
}

static void push_reply(peer *p, int cmd, char *template_text)
{
    struct step *s = step_new(STEP_REPLY);
    pthread_mutex_lock(&p->lock);
    s->cmd = cmd == PEER_LAST ? p->ncmds - 1 : cmd;
    pthread_mutex_unlock(&p->lock);
    s->text = template_text;
    s->length = strlen(template_text);
    push(p, s);
}

void peer_reply_raw(peer *p, int cmd, const char *template_text)
{
    push_reply(p, cmd, xstrdup(template_text));
}

void peer_return_to(peer *p, int cmd, const char *return_json)
{
    push_reply(p, cmd, xasprintf("{\"return\": %s, \"id\": " PEER_ID "}\r\n", return_json));
}

void peer_return(peer *p, const char *return_json)
{
    peer_return_to(p, PEER_LAST, return_json);
}

void peer_error_to(peer *p, int cmd, const char *cls, const char *desc)
{
    char *qc = json_quote(cls), *qd = json_quote(desc);
    push_reply(p, cmd, xasprintf("{\"id\": " PEER_ID ", \"error\": {\"class\": %s, \"desc\": %s}}\r\n",
                                 qc, qd));
    free(qc);
    free(qd);
}

void peer_error(peer *p, const char *cls, const char *desc)
{
    peer_error_to(p, PEER_LAST, cls, desc);
}

void peer_sleep(peer *p, int ms)
{
    struct step *s = step_new(STEP_SLEEP);
    s->ms = ms;
    push(p, s);
}

void peer_close(peer *p)
{
    push(p, step_new(STEP_CLOSE));
}

void peer_wait_idle(peer *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->head || p->busy)
        pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

/* --- client-side helpers ------------------------------------------------------ */

#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

const char *status_name(int status)
{
    static const char *const names[] = {
        "QMP_OK", "QMP_EINVAL", "QMP_ENOMEM", "QMP_EIO", "QMP_ECLOSED", "QMP_ETIMEDOUT",
        "QMP_EPROTO", "QMP_EHANDSHAKE", "QMP_ENEGOTIATION", "QMP_ECOMMAND", "QMP_ETOOBIG",
        "QMP_ECANCELLED", "QMP_EDEADLK",
    };
    if (status <= 0 && -status < (int)(sizeof names / sizeof names[0]))
        return names[-status];
    return "(not a qmp_status)";
}

void assert_status_at(int rc, int expected, const char *file, int line)
{
    const qmp_error *e = qmp_error_last();
    if (rc != expected)
        fail_msg("%s:%d: got %s (%d; last error: %s), expected %s", file, line,
                 status_name(rc), rc, e->message, status_name(expected));
    /* A success leaves the last error alone (qmp-common.h). */
    if (expected != QMP_OK && e->code != expected)
        fail_msg("%s:%d: returned %s but qmp_error_last()->code is %s (%s)", file, line,
                 status_name(rc), status_name(e->code), e->message);
}

qmp_client *client_on_fd(int fd)
{
    qmp_client *c = qmp_client_new();
    assert_non_null(c);
    assert_status(qmp_client_connect_fd(c, fd, peer_io_timeout_ms()), QMP_OK);
    assert_int_equal(qmp_client_is_connected(c), 1);
    return c;
}

qmp_client *connect_client(peer **pp)
{
    int fd;
    peer *p = peer_new(&fd);
    peer_handshake(p, 0, 0);
    *pp = p;
    return client_on_fd(fd);
}

qmp_client *connect_oob_client(peer **pp)
{
    int fd;
    peer *p = peer_new(&fd);
    peer_handshake(p, 1, 1);
    qmp_client *c = qmp_client_new();
    assert_non_null(c);
    assert_status(qmp_client_set_oob(c, 1), QMP_OK);
    assert_status(qmp_client_connect_fd(c, fd, peer_io_timeout_ms()), QMP_OK);
    assert_int_equal(qmp_client_has_capability(c, "oob"), 1);
    *pp = p;
    return c;
}

void assert_query_status_running(qmp_client *c)
{
    json_t *result = NULL;
    assert_status(qmp_client_execute(c, qmp_command_new("query-status", NULL), &result), QMP_OK);
    assert_non_null(result);
    assert_string_equal(json_string_value(json_object_get(result, "status")), "running");
    json_decref(result);
}

void assert_client_usable(qmp_client *c, peer *p)
{
    assert_int_equal(qmp_client_is_connected(c), 1);
    peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return(p, "{\"status\": \"running\", \"singlestep\": false, \"running\": true}");
    assert_query_status_running(c);
}

void assert_client_closed(qmp_client *c)
{
    assert_int_equal(qmp_client_is_connected(c), 0);
    assert_null(qmp_client_greeting(c));
    assert_int_equal(qmp_client_get_fd(c), -1);
    json_t *result = (json_t *)(uintptr_t)1;
    assert_status(qmp_client_execute(c, qmp_command_new("query-status", NULL), &result), QMP_ECLOSED);
    assert_null(result);
    char *text = (char *)(uintptr_t)1;
    assert_status(qmp_client_execute_str(c, "{\"execute\": \"query-status\"}", &text), QMP_ECLOSED);
    assert_null(text);
    assert_status(qmp_client_get_version(c, NULL, NULL, NULL), QMP_ECLOSED);
}

int drive_until(qmp_client *c, const int *counter, int target)
{
    long long deadline = now_ms() + peer_io_timeout_ms();
    int rc = QMP_OK;
    while (*counter < target) {
        int fd = qmp_client_get_fd(c);
        if (fd < 0)
            return QMP_ECLOSED;
        int want = qmp_client_get_events(c);
        struct pollfd pfd = { fd, 0, 0 };
        if (want & QMP_POLL_IN)
            pfd.events |= POLLIN;
        if (want & QMP_POLL_OUT)
            pfd.events |= POLLOUT;
        long long left = deadline - now_ms();
        if (left <= 0)
            fail_msg("drive_until: %d of %d after %d ms", *counter, target, peer_io_timeout_ms());
        int wait = qmp_client_get_timeout_ms(c);
        if (wait < 0 || wait > left)
            wait = (int)left;
        int n = poll(&pfd, 1, wait);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n >= 0);
        int revents = 0;
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
            revents |= QMP_POLL_IN;
        if (pfd.revents & POLLOUT)
            revents |= QMP_POLL_OUT;
        rc = qmp_client_process(c, revents);
        if (rc == QMP_ECLOSED)
            return rc;
    }
    return rc;
}
