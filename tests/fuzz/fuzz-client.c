/*
 * Fuzz target: the whole client, public API only, against a server whose
 * every byte comes from the fuzzer.
 *
 * Input: byte 0 picks how the stream is chopped into writes, byte 1 the
 * client's settings (message limit, event ring), the rest is what the
 * server sends.  A server thread writes the chunks to its end of a
 * socketpair, waiting after each until the client has read it (so the
 * client sees the cuts), discards what the client sends, then shuts its
 * side down.  Meanwhile the client connects (qmp_client_connect_fd), runs a
 * sync command, a string command and an async one with short timeouts,
 * waits for an event, drives the async one home and is freed.
 *
 * Ids: the client numbers its commands 1 (qmp_capabilities), 2, 3...  so a
 * stream that answers "id": 2 answers the first command.  (Ids start from 1
 * again only when nothing is pending, and never with the id answered last:
 * with the async command pending, the sync ones take 3 and 4.)
 *
 * Checked: every status is one the header documents for that call, out
 * pointers follow the ownership rules, callbacks and destroy notifiers run
 * exactly once, no fd is left open (the client's socket included), and
 * (with the sanitizers) no memory error or leak.  Never hangs: every call
 * has a timeout and the server always hangs up.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sockios.h>

#include <qmp/qmp.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, what)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz-client: %s (line %d; last error %d: %s)\n", (what),      \
                    __LINE__, qmp_error_last()->code, qmp_error_last()->message);          \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* --- the server ------------------------------------------------------------ */

struct server {
    int fd;
    const uint8_t *data;
    size_t size;
    uint8_t chop;
};

static void drain(int fd) {
    char buf[4096];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
}

/* Waits (briefly) until the client has read everything sent so far. */
static void wait_consumed(int fd) {
    for (int i = 0; i < 2000; i++) {
        int queued = 0;
        if (ioctl(fd, SIOCOUTQ, &queued) < 0 || queued == 0) return;
        drain(fd);
        sched_yield();
    }
}

static size_t chunk_size(uint32_t *rng, uint8_t chop, size_t left) {
    /* xorshift */
    *rng ^= *rng << 13;
    *rng ^= *rng >> 17;
    *rng ^= *rng << 5;
    size_t n;
    switch (chop >> 6) {
    case 0: n = left; break;                    /* one write */
    case 1: n = 1 + *rng % 3; break;            /* a few bytes at a time */
    case 2: n = 1 + *rng % 64; break;
    default: n = 1 + *rng % 2048; break;
    }
    return n < left ? n : left;
}

static void *server_main(void *arg) {
    struct server *s = arg;
    uint32_t rng = 0x2545F491u ^ s->chop;
    size_t off = 0;
    while (off < s->size) {
        size_t n = chunk_size(&rng, s->chop, s->size - off);
        ssize_t w = send(s->fd, s->data + off, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd p = {s->fd, POLLOUT, 0};
            drain(s->fd);
            poll(&p, 1, 10);
            continue;
        }
        if (w <= 0) break; /* the client hung up */
        off += (size_t)w;
        wait_consumed(s->fd);
    }
    shutdown(s->fd, SHUT_WR);
    /* Read what the client sends until it closes (bounded: the client always does). */
    for (;;) {
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0) break;
        char buf[4096];
        ssize_t r = recv(s->fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno != EINTR)) break;
    }
    return NULL;
}

/* --- callbacks --------------------------------------------------------------- */

struct counts {
    int events, closes, replies, reply_destroys, event_destroys, close_destroys, log_destroys, logs;
};

static void on_event(qmp_client *c, const qmp_event *ev, void *user_data) {
    struct counts *n = user_data;
    (void)c;
    n->events++;
    const char *name = qmp_event_name(ev);
    CHECK(name != NULL, "event without a name");
    (void)strlen(name);
    const json_t *d = qmp_event_data(ev);
    if (d) CHECK(json_typeof(d) <= JSON_NULL, "event data is not a JSON value");
    (void)qmp_event_seconds(ev);
    (void)qmp_event_microseconds(ev);
    CHECK(qmp_event_seq(ev) >= 1, "event sequence number 0");
    char *text = qmp_event_to_json(ev);
    CHECK(text != NULL, "qmp_event_to_json failed");
    qmp_free(text);
}

static void on_close(qmp_client *c, int reason, void *user_data) {
    struct counts *n = user_data;
    (void)c;
    n->closes++;
    CHECK(reason == QMP_OK || reason == QMP_ECLOSED || reason == QMP_EPROTO || reason == QMP_ETOOBIG ||
              reason == QMP_EIO,
          "undocumented close reason");
}

static void on_reply(qmp_client *c, int status, const json_t *result, void *user_data) {
    struct counts *n = user_data;
    (void)c;
    n->replies++;
    if (status == QMP_OK)
        CHECK(result != NULL, "async success without a result");
    else if (status == QMP_ECOMMAND)
        CHECK(json_is_object(result), "async QMP_ECOMMAND without an error object");
    else
        CHECK(result == NULL, "async failure with a result");
    CHECK(status == QMP_OK || status == QMP_ECOMMAND || status == QMP_ETIMEDOUT || status == QMP_ECLOSED ||
              status == QMP_EPROTO || status == QMP_ETOOBIG || status == QMP_EIO || status == QMP_ECANCELLED,
          "undocumented async status");
    CHECK(qmp_error_last()->code == status, "qmp_error_last() does not describe the async status");
}

static void on_log(qmp_client *c, int kind, const char *text, void *user_data) {
    struct counts *n = user_data;
    (void)c;
    n->logs++;
    CHECK(kind == QMP_LOG_SEND || kind == QMP_LOG_RECEIVE || kind == QMP_LOG_INFO, "unknown log kind");
    CHECK(text != NULL, "NULL log text");
    (void)strlen(text);
}

static void destroy_reply(void *p) { ((struct counts *)p)->reply_destroys++; }
static void destroy_event(void *p) { ((struct counts *)p)->event_destroys++; }
static void destroy_close(void *p) { ((struct counts *)p)->close_destroys++; }
static void destroy_log(void *p) { ((struct counts *)p)->log_destroys++; }

/* --- the client ------------------------------------------------------------- */

static int is_call_status(int rc) {
    return rc == QMP_OK || rc == QMP_ECOMMAND || rc == QMP_ETIMEDOUT || rc == QMP_ECLOSED || rc == QMP_EPROTO ||
           rc == QMP_ETOOBIG || rc == QMP_EIO;
}

static void check_result(int rc, json_t *result) {
    CHECK(is_call_status(rc), "undocumented execute status");
    if (rc == QMP_OK)
        CHECK(result != NULL, "execute succeeded without a result");
    else if (rc == QMP_ECOMMAND)
        CHECK(json_is_object(result), "QMP_ECOMMAND without an error object");
    else
        CHECK(result == NULL, "execute failed with a result");
    if (rc == QMP_ECOMMAND) CHECK(qmp_error_last()->qmp_class != NULL, "QMP_ECOMMAND without a class");
    if (rc < 0) CHECK(qmp_error_last()->code == rc, "qmp_error_last() does not describe the failure");
    json_decref(result);
}

static void run_client(int fd, uint8_t settings) {
    struct counts n;
    memset(&n, 0, sizeof n);
    qmp_client *c = qmp_client_new();
    CHECK(c != NULL, "qmp_client_new");
    static const size_t limits[] = {0, 4096, 200, 64};
    if (limits[settings & 3]) CHECK(qmp_client_set_max_message_size(c, limits[settings & 3]) == 0, "set max");
    CHECK(qmp_client_set_event_buffer(c, (settings & 4) ? 2 : 64) == 0, "set event buffer");
    CHECK(qmp_client_set_oob(c, (settings & 8) != 0) == 0, "set oob");
    CHECK(qmp_client_set_timeout(c, 100) == 0, "set timeout");
    CHECK(qmp_client_on_event(c, NULL, on_event, &n, destroy_event, NULL) == 0, "on_event");
    unsigned int stop_id = 0;
    CHECK(qmp_client_on_event(c, "STOP", on_event, &n, destroy_event, &stop_id) == 0, "on_event STOP");
    CHECK(qmp_client_on_close(c, on_close, &n, destroy_close) == 0, "on_close");
    if (settings & 16) CHECK(qmp_client_set_log(c, on_log, &n, destroy_log) == 0, "set_log");

    int async_queued = 0;
    int rc = qmp_client_connect_fd(c, fd, 200);
    int connected = rc == QMP_OK;
    /* QMP_EPROTO / QMP_ECLOSED: the connection broke right after the
       handshake (e.g. garbage in the same read as the capabilities reply). */
    CHECK(rc == QMP_OK || rc == QMP_ETIMEDOUT || rc == QMP_EHANDSHAKE || rc == QMP_ENEGOTIATION ||
              rc == QMP_EIO || rc == QMP_ETOOBIG || rc == QMP_EPROTO || rc == QMP_ECLOSED,
          "undocumented connect status");
    CHECK(qmp_client_is_connected(c) == (rc == QMP_OK), "is_connected disagrees with connect");
    if (rc == QMP_OK) {
        const json_t *g = qmp_client_greeting(c);
        CHECK(json_is_object(g), "connected without a greeting object");
        int major = 0, minor = 0, micro = 0;
        rc = qmp_client_get_version(c, &major, &minor, &micro);
        CHECK(rc == QMP_OK || rc < 0, "get_version");
        (void)qmp_client_has_capability(c, "oob");

        /* An async command first: it is sent with id 2, before the sync ones. */
        qmp_exec_options ao = QMP_EXEC_OPTIONS_INIT;
        ao.timeout_ms = 60;
        rc = qmp_client_execute_async(c, qmp_command_new("query-status", NULL), &ao, on_reply, &n,
                                      destroy_reply);
        CHECK(rc == QMP_OK || rc == QMP_ECLOSED, "execute_async");
        async_queued = rc == QMP_OK;
        if (!async_queued) CHECK(n.reply_destroys == 1 && n.replies == 0, "failed async call ran its callback");

        qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
        o.timeout_ms = 30;
        json_t *result = NULL;
        rc = qmp_client_execute_full(c, qmp_command_new("query-version", NULL), &o, &result);
        check_result(rc, result);

        char *text = NULL;
        rc = qmp_client_execute_str_full(c, "{\"execute\": \"query-name\"}", &o, &text);
        CHECK(is_call_status(rc), "undocumented execute_str status");
        if (rc == QMP_OK || rc == QMP_ECOMMAND) {
            CHECK(text != NULL, "execute_str without text");
            json_t *v = qmp_json_parse(text, strlen(text));
            CHECK(v != NULL, "execute_str gave text that does not parse");
            json_decref(v);
        } else {
            CHECK(text == NULL, "execute_str failed with text");
        }
        qmp_free(text);

        json_t *ev = NULL;
        rc = qmp_client_wait_event(c, NULL, NULL, 0, 20, &ev);
        CHECK(rc == QMP_OK || rc == QMP_ETIMEDOUT || rc == QMP_ECLOSED || rc == QMP_EPROTO ||
                  rc == QMP_ETOOBIG || rc == QMP_EIO,
              "undocumented wait_event status");
        CHECK((rc == QMP_OK) == (ev != NULL), "wait_event result and status disagree");
        if (ev) CHECK(json_is_object(ev), "wait_event gave a non-object");
        json_decref(ev);
        char *evtext = NULL;
        rc = qmp_client_wait_event_str(c, "STOP", "{\"reason\": \"x\"}", 0, 1, &evtext);
        CHECK((rc == QMP_OK) == (evtext != NULL), "wait_event_str result and status disagree");
        qmp_free(evtext);

        CHECK(qmp_client_off_event(c, stop_id) == 0, "off_event");

        /* Drive the async command home: it has a timeout, so this ends. */
        for (int i = 0; async_queued && n.replies == 0 && i < 1000; i++) {
            int cfd = qmp_client_get_fd(c);
            int events = qmp_client_get_events(c);
            int t = qmp_client_get_timeout_ms(c);
            if (cfd < 0) break;
            struct pollfd p = {cfd, (short)((events & QMP_POLL_IN ? POLLIN : 0) | (events & QMP_POLL_OUT ? POLLOUT : 0)),
                               0};
            int r = poll(&p, 1, t < 0 || t > 100 ? 100 : t);
            int rev = 0;
            if (r > 0) {
                if (p.revents & (POLLIN | POLLHUP | POLLERR)) rev |= QMP_POLL_IN;
                if (p.revents & POLLOUT) rev |= QMP_POLL_OUT;
            }
            if (qmp_client_process(c, rev) == QMP_ECLOSED) break;
        }
    }
    qmp_client_free(c);
    CHECK(n.replies == async_queued, "the async callback did not run exactly once");
    CHECK(n.reply_destroys == connected, "the async destroy did not run exactly once");
    CHECK(n.event_destroys == 2, "event handler destroy did not run exactly once each");
    CHECK(n.close_destroys == 1, "close destroy did not run exactly once");
    CHECK(n.log_destroys == ((settings & 16) ? 1 : 0), "log destroy did not run exactly once");
    CHECK(n.closes <= 1, "the close callback ran more than once");
    if (connected) CHECK(n.closes == 1, "a connection ended without its close callback");
}

/* Which of the first fds are open: a leaked fd shows as a difference. */
#define FD_WATCH 64
static void open_fds(unsigned char open[FD_WATCH]) {
    for (int i = 0; i < FD_WATCH; i++) open[i] = fcntl(i, F_GETFD) >= 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    unsigned char before[FD_WATCH], after[FD_WATCH];
    open_fds(before);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) abort();
    struct server s = {sv[1], data + 2, size - 2, data[0]};
    pthread_t t;
    if (pthread_create(&t, NULL, server_main, &s) != 0) abort();

    run_client(sv[0], data[1]);
    /* The client owns its fd from connect on, also on failure: it must be closed now. */
    errno = 0;
    CHECK(fcntl(sv[0], F_GETFD) < 0 && errno == EBADF, "the client's socket is still open after free");

    pthread_join(t, NULL);
    close(sv[1]);
    /* No other fd left behind (an eventfd, say). */
    open_fds(after);
    CHECK(memcmp(before, after, sizeof before) == 0, "an fd leaked");
    return 0;
}
