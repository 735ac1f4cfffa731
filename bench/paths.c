/* libqmp through each of its paths, written only against the public API. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qmp/qmp.h>
#include <qmp/qmp-glib.h>

#include "bench.h"

/* A connected client; oob: negotiate "oob" (QEMU offers it on socket monitors). */
static qmp_client *lib_open_with(const char *sock, int oob, sample_t *s) {
    qmp_client *c = qmp_client_new();
    if (c && oob) qmp_client_set_oob(c, 1);
    if (!c || qmp_client_connect_unix(c, sock, 10000) < 0) {
        sample_fail(s, "connect: %s", qmp_error_last()->message);
        qmp_client_free(c);
        return NULL;
    }
    if (oob && !qmp_client_has_capability(c, "oob")) {
        sample_fail(s, "the server did not offer \"oob\"");
        qmp_client_free(c);
        return NULL;
    }
    return c;
}

qmp_client *lib_open(const char *sock, sample_t *s) { return lib_open_with(sock, 0, s); }

int lib_status_call(qmp_client *c, int str_api) {
    if (str_api == 2) {
        qmp_call *call = qmp_call_new(c);
        int r = call ? qmp_call_execute_str(call, "{\"execute\":\"query-status\"}", NULL) : QMP_ENOMEM;
        qmp_call_free(call);
        return r;
    }
    if (str_api) {
        char *out = NULL;
        int r = qmp_client_execute_str(c, "{\"execute\":\"query-status\"}", &out);
        qmp_free(out);
        return r;
    }
    json_t *ret = NULL;
    int r = qmp_client_execute(c, qmp_command_new("query-status", NULL), &ret);
    if (r == 0 && !json_is_string(json_object_get(ret, "status"))) r = QMP_EPROTO;
    json_decref(ret);
    return r;
}

/* --- pipelined: a callback sends the next command, keeping in_flight on the way ------------ */

typedef struct {
    long to_send, done;
    int failed;
} pipe_t;

static int pipe_send(qmp_client *c, pipe_t *p);
static double pipelined_batch(qmp_client *c, long n, int in_flight, sample_t *s);

static void pipe_reply(qmp_client *c, int status, const json_t *result, void *user_data) {
    pipe_t *p = user_data;
    p->done++;
    if (status != 0 || !json_is_string(json_object_get(result, "status"))) p->failed = 1;
    if (p->to_send > 0) pipe_send(c, p);
}

static int pipe_send(qmp_client *c, pipe_t *p) {
    p->to_send--;
    return qmp_client_execute_async(c, qmp_command_new("query-status", NULL), NULL, pipe_reply, p, NULL);
}

/* The application's own poll loop, as the loop-integration API intends. */
static int drive(qmp_client *c, int timeout_ms) {
    struct pollfd pfd = {.fd = qmp_client_get_fd(c)};
    int ev = qmp_client_get_events(c);
    pfd.events = (short)(((ev & QMP_POLL_IN) ? POLLIN : 0) | ((ev & QMP_POLL_OUT) ? POLLOUT : 0));
    int t = qmp_client_get_timeout_ms(c);
    if (t < 0 || t > timeout_ms) t = timeout_ms;
    if (poll(&pfd, 1, t) < 0) return -1;
    int rev = ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) ? QMP_POLL_IN : 0) |
              ((pfd.revents & POLLOUT) ? QMP_POLL_OUT : 0);
    return qmp_client_process(c, rev);
}

void lib_pipelined(const char *sock, long count, int in_flight, int oob, sample_t *s) {
    qmp_client *c = lib_open_with(sock, oob, s);
    if (!c) return;
    double t = pipelined_batch(c, count, in_flight, s);
    if (t > 0) s->value = (double)count / t;
    qmp_client_free(c);
}

/* in_flight commands kept on the way until n replies are in (one batch);
   returns the seconds it took, or < 0 with s failed. */
static double pipelined_batch(qmp_client *c, long n, int in_flight, sample_t *s) {
    pipe_t p = {.to_send = n};
    double t0 = now_s();
    for (int i = 0; i < in_flight && p.to_send > 0; i++) pipe_send(c, &p);
    while (p.done < n && !p.failed) {
        if (drive(c, 10000) < 0) break;
    }
    double t = now_s() - t0;
    if (p.failed || p.done < n) {
        sample_fail(s, "%ld of %ld replies", p.done, n);
        return -1;
    }
    return t;
}

/* libqmp's pipelines (one client per socket in lib_socks, with "oob" where
   oob[i]) and raw's sequential calls on a connection of its own, in
   alternating batches (batch pipelined calls per client, then a quarter as
   many raw ones: about as long), so that every rate comes from the same
   stretch of the machine's time and their ratios do not move with it. */
void alternating_pipelined(const char *raw_sock, const char *const *lib_socks, const int *oob, int nlib, long count,
                           long batch, int in_flight, sample_t *raw_s, sample_t *lib_s) {
    raw_t *raw = raw_connect(raw_sock, raw_s);
    qmp_client *c[4] = {NULL, NULL, NULL, NULL};
    double t_raw = 0, t_lib[4] = {0, 0, 0, 0};
    long n_raw = 0, n_lib = 0;
    int failed = !raw || nlib < 1 || nlib > 4;
    for (int k = 0; k < nlib && !failed; k++) failed = !(c[k] = lib_open_with(lib_socks[k], oob[k], &lib_s[k]));
    while (!failed && n_lib < count) {
        long n = count - n_lib < batch ? count - n_lib : batch;
        for (int k = 0; k < nlib && !failed; k++) {
            double t = pipelined_batch(c[k], n, in_flight, &lib_s[k]);
            if (t < 0) failed = 1;
            else t_lib[k] += t;
        }
        n_lib += n;
        long m = n / 4 > 0 ? n / 4 : 1;
        double t0 = now_s();
        for (long i = 0; i < m && !failed; i++) {
            if (raw_status_call(raw) < 0) {
                sample_fail(raw_s, "query-status failed");
                failed = 1;
            }
        }
        t_raw += now_s() - t0;
        n_raw += m;
    }
    if (!failed) raw_s->value = (double)n_raw / t_raw;
    else if (!raw_s->error[0]) sample_fail(raw_s, "another client of the alternation failed");
    for (int k = 0; k < nlib; k++) {
        if (!failed) lib_s[k].value = (double)n_lib / t_lib[k];
        else if (!lib_s[k].error[0]) sample_fail(&lib_s[k], "another client of the alternation failed");
        qmp_client_free(c[k]);
    }
    raw_disconnect(raw);
}

void lib_big_reply(const char *sock, long count, int str_api, sample_t *s) {
    qmp_client *c = lib_open(sock, s);
    if (!c) return;
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        int r;
        if (str_api) {
            char *out = NULL;
            r = qmp_client_execute_str(c, "{\"execute\":\"query-qmp-schema\"}", &out);
            if (r == 0 && (!out || out[0] != '[')) r = QMP_EPROTO;
            qmp_free(out);
        } else {
            json_t *ret = NULL;
            r = qmp_client_execute(c, qmp_command_new("query-qmp-schema", NULL), &ret);
            if (r == 0 && json_array_size(ret) < 100) r = QMP_EPROTO;
            json_decref(ret);
        }
        if (r < 0) {
            sample_fail(s, "query-qmp-schema: %s", qmp_error_last()->message);
            break;
        }
    }
    s->value = (now_s() - t0) * 1e3 / (double)count;
    qmp_client_free(c);
}

/* --- event flood -------------------------------------------------------------------------- */

typedef struct {
    long events;
    long long sum;  /* read from the data, so the compiler keeps the reads */
} flood_t;

static void on_name(qmp_client *c, const qmp_event *ev, void *user_data) {
    (void)c;
    flood_t *f = user_data;
    const char *name = qmp_event_name(ev);
    if (name[0] == 'B') f->events++;
}

static void on_data(qmp_client *c, const qmp_event *ev, void *user_data) {
    (void)c;
    flood_t *f = user_data;
    const json_t *data = qmp_event_data(ev);
    f->sum += json_integer_value(json_object_get(data, "n"));
    if (json_is_string(json_object_get(data, "device"))) f->events++;
}

void lib_flood(const char *sock, long count, enum flood_kind kind, sample_t *s) {
    qmp_client *c = lib_open(sock, s);
    if (!c) return;
    flood_t f = {0};
    if (kind != FLOOD_WAIT) qmp_client_on_event(c, NULL, kind == FLOOD_NAME ? on_name : on_data, &f, NULL, NULL);
    json_t *cmd = qmp_command_new("bench-flood", "I:count", (long long)count, NULL);
    long before = rss_bytes();
    double t0 = now_s();
    unsigned long long seq = qmp_client_event_seq(c);
    int r = qmp_client_execute(c, cmd, NULL);
    if (r == 0 && kind != FLOOD_WAIT) {
        r = qmp_client_wait_event(c, "BENCH_END", NULL, seq, 60000, NULL);
    } else if (r == 0) {
        /* One wait per event, reading each event's name from its object. */
        for (;;) {
            json_t *ev = NULL;
            r = qmp_client_wait_event(c, NULL, NULL, seq + (unsigned long long)f.events, 60000, &ev);
            if (r < 0) break;
            const char *name = json_string_value(json_object_get(ev, "event"));
            int end = name && strcmp(name, "BENCH_END") == 0;
            f.events++;
            json_decref(ev);
            if (end) break;
        }
    }
    double t = now_s() - t0;
    s->value = (double)f.events / t;
    s->extra = (double)(rss_bytes() - before);
    if (r < 0)
        sample_fail(s, "%s", qmp_error_last()->message);
    else if (f.events != count)
        sample_fail(s, "received %ld of %ld events", f.events, count);
    qmp_client_free(c);
}

/* --- idle clients on one GMainContext -------------------------------------------------------- */

void lib_clients(const char *sock, long count, sample_t *s) {
    raise_fd_limit();
    GMainContext *ctx = g_main_context_new();
    /* One client first, so the library's and GLib's one-time setup is not counted. */
    qmp_client *warm = lib_open(sock, s);
    if (!warm) return;
    qmp_client_attach(warm, ctx);
    lib_status_call(warm, 0);
    while (g_main_context_iteration(ctx, FALSE)) {}
    qmp_client **cs = calloc((size_t)count, sizeof *cs);
    long before = rss_bytes();
    for (long i = 0; i < count; i++) {
        cs[i] = lib_open(sock, s);
        if (!cs[i]) break;
        qmp_client_attach(cs[i], ctx);
    }
    for (int i = 0; i < 10; i++) g_main_context_iteration(ctx, FALSE);
    s->value = (double)(rss_bytes() - before) / (double)count;
    for (long i = 0; i < count; i++) qmp_client_free(cs[i]);
    free(cs);
    qmp_client_free(warm);
    g_main_context_unref(ctx);
}
