/* Many monitors in one process: 1,000 libqmp clients on one loop (a
   GMainContext, or the application's own epoll loop told by the loop
   callbacks) against the mock: connect storm, memory per idle client,
   event fan-in rate and latency, and what is left after closing them all.
   Public API only. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <qmp/qmp-glib.h>

#include "scale.h"

/* --- time, fds, latencies ------------------------------------------------------------------ */

long long mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long long real_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

long open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    long n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n - 1;  /* the directory's own fd */
}

static void schedstat(const char *path, long long *on_cpu, long long *waiting) {
    FILE *f = fopen(path, "r");
    *on_cpu = *waiting = 0;
    if (f) {
        if (fscanf(f, "%lld %lld", on_cpu, waiting) != 2) *on_cpu = *waiting = 0;
        fclose(f);
    }
}

void sched_ns(long long *on_cpu, long long *waiting) { schedstat("/proc/thread-self/schedstat", on_cpu, waiting); }

long long proc_cpu_ns(int pid) {
    char path[64];
    long long cpu, waiting;
    snprintf(path, sizeof path, "/proc/%d/schedstat", pid);
    schedstat(path, &cpu, &waiting);
    return cpu;
}

void lat_init(lat_t *l, long cap) {
    l->n = 0;
    l->cap = cap;
    l->ns = calloc((size_t)cap, sizeof *l->ns);
    if (l->ns) memset(l->ns, 1, (size_t)cap * sizeof *l->ns);  /* resident now, not during the run */
}

void lat_add(lat_t *l, double ns) {
    if (l->n < l->cap) l->ns[l->n++] = ns;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double lat_pct(lat_t *l, double pct) {
    if (l->n == 0) return 0;
    qsort(l->ns, (size_t)l->n, sizeof *l->ns, cmp_d);
    long i = (long)(pct / 100.0 * (double)(l->n - 1) + 0.5);
    return l->ns[i] / 1e6;
}

void lat_free(lat_t *l) {
    free(l->ns);
    l->ns = NULL;
}

/* --- the fleet: n clients on one loop ------------------------------------------------------ */

typedef struct {
    qmp_client *c;
    fleet_t *f;
    int fd;        /* the socket epoll watches, or -1 */
    double due;    /* the timer the client asked for (now_s() time), or < 0 */
} member_t;

struct fleet {
    enum loop_kind kind;
    long n;
    member_t *m;
    GMainContext *ctx;
    int epfd;
    double earliest;  /* no member's timer is due before this (may be early: then a scan finds none) */
    long connected, failed, settled;  /* settled: connected + failed */
    char why[160];
};

static void on_watch(qmp_client *c, int fd, int events, void *user_data) {
    (void)c;
    member_t *m = user_data;
    int ep = m->f->epfd;
    if (m->fd >= 0 && (fd != m->fd || events == 0)) {
        epoll_ctl(ep, EPOLL_CTL_DEL, m->fd, NULL);
        m->fd = -1;
    }
    if (events == 0) return;
    struct epoll_event e = {.events = EPOLLIN | ((events & QMP_POLL_OUT) ? EPOLLOUT : 0), .data.ptr = m};
    if (m->fd == fd) {
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
    } else {
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
        m->fd = fd;
    }
}

static void on_timer(qmp_client *c, int timeout_ms, void *user_data) {
    (void)c;
    member_t *m = user_data;
    m->due = timeout_ms < 0 ? -1 : now_s() + timeout_ms / 1000.0;
    if (m->due >= 0 && m->due < m->f->earliest) m->f->earliest = m->due;
}

fleet_t *fleet_new(enum loop_kind kind, long n) {
    fleet_t *f = calloc(1, sizeof *f);
    f->kind = kind;
    f->n = n;
    f->m = calloc((size_t)n, sizeof *f->m);
    f->earliest = 1e300;
    if (kind == LOOP_GLIB) f->ctx = g_main_context_new();
    else f->epfd = epoll_create1(EPOLL_CLOEXEC);
    for (long i = 0; i < n; i++) {
        member_t *m = &f->m[i];
        m->f = f;
        m->fd = -1;
        m->due = -1;
        m->c = qmp_client_new();
        if (kind == LOOP_GLIB) qmp_client_attach(m->c, f->ctx);
        else qmp_client_set_loop_callbacks(m->c, on_watch, on_timer, m, NULL);
    }
    return f;
}

qmp_client *fleet_client(fleet_t *f, long i) { return f->m[i].c; }

/* One round of the application's epoll loop. */
static void epoll_round(fleet_t *f, int max_wait_ms) {
    struct epoll_event evs[256];
    double now = now_s();
    int wait = max_wait_ms;
    if (f->earliest < 1e300) {
        double left = (f->earliest - now) * 1000;
        wait = left <= 0 ? 0 : (int)left + 1 < wait ? (int)left + 1 : wait;
    }
    int k = epoll_wait(f->epfd, evs, 256, wait);
    for (int i = 0; i < k; i++) {
        member_t *m = evs[i].data.ptr;
        int rev = ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ? QMP_POLL_IN : 0) |
                  ((evs[i].events & EPOLLOUT) ? QMP_POLL_OUT : 0);
        qmp_client_process(m->c, rev);
    }
    /* Timers: a scan of all only when the earliest one is due. */
    now = now_s();
    if (f->earliest <= now) {
        f->earliest = 1e300;
        for (long i = 0; i < f->n; i++) {
            member_t *m = &f->m[i];
            if (m->due >= 0 && m->due <= now) {
                m->due = -1;
                qmp_client_process(m->c, 0);  /* tells the timer again */
            }
            if (m->due >= 0 && m->due < f->earliest) f->earliest = m->due;
        }
    }
}

static gboolean on_glib_timeout(gpointer user_data) {
    *(int *)user_data = 1;
    return G_SOURCE_REMOVE;
}

int fleet_run_until(fleet_t *f, const long *counter, long target, double timeout_s) {
    double end = now_s() + timeout_s;
    int expired = 0;
    GSource *timer = NULL;
    if (f->kind == LOOP_GLIB) {
        /* so that an iteration with nothing to do wakes up at the end */
        timer = g_timeout_source_new((guint)(timeout_s * 1000) + 1);
        g_source_set_callback(timer, on_glib_timeout, &expired, NULL);
        g_source_attach(timer, f->ctx);
    }
    while (*counter < target) {
        double left = end - now_s();
        if (left < 0 || expired) break;
        if (f->kind == LOOP_GLIB) g_main_context_iteration(f->ctx, TRUE);
        else epoll_round(f, left * 1000 < 100 ? (int)(left * 1000) + 1 : 100);
    }
    if (timer) {
        g_source_destroy(timer);
        g_source_unref(timer);
    }
    return *counter >= target ? 0 : -1;
}

static void on_connected(qmp_client *c, int status, void *user_data) {
    (void)c;
    fleet_t *f = user_data;
    f->settled++;
    if (status == 0) {
        f->connected++;
    } else {
        if (!f->why[0]) snprintf(f->why, sizeof f->why, "%s", qmp_strerror(status));
        f->failed++;
    }
}

double fleet_connect(fleet_t *f, const char *const *socks, long nsocks, sample_t *s) {
    double t0 = now_s();
    for (long i = 0; i < f->n; i++) {
        if (qmp_client_connect_unix_async(f->m[i].c, socks[nsocks == 1 ? 0 : i], 30000, on_connected, f, NULL) < 0) {
            sample_fail(s, "connect_unix_async: %s", qmp_error_last()->message);
            return -1;
        }
    }
    fleet_run_until(f, &f->settled, f->n, 60);
    double t = now_s() - t0;
    if (f->failed || f->connected < f->n) {
        sample_fail(s, "%ld of %ld connected: %s", f->connected, f->n, f->why[0] ? f->why : "timed out");
        return -1;
    }
    return t;
}

void fleet_free(fleet_t *f) {
    if (!f) return;
    for (long i = 0; i < f->n; i++) qmp_client_free(f->m[i].c);
    if (f->ctx) {
        while (g_main_context_iteration(f->ctx, FALSE)) {}
        g_main_context_unref(f->ctx);
    } else {
        close(f->epfd);
    }
    free(f->m);
    free(f);
}

/* --- fan-in against the mock ------------------------------------------------------------- */

typedef struct {
    lat_t *lat;
    long ends;      /* BENCH_END events seen */
    long events;
    long long sum;  /* read from the data, so the reads are kept */
    long replies, reply_failed;
} fanin_t;

/* The handler: reads the event's data (its "n" and its send time "t"). */
void paced_figures(double *out, lat_t *lat, long long cpu0, long long wait0, long ticks) {
    long long cpu1, wait1;
    sched_ns(&cpu1, &wait1);
    out[SCALE_RUNQ] = (double)(wait1 - wait0) / 1e6 / (double)ticks;
    out[SCALE_CPU_TICK] = (double)(cpu1 - cpu0) / 1e6 / (double)ticks;
    out[SCALE_PACED_P50] = lat_pct(lat, 50);
    out[SCALE_PACED_P99] = lat_pct(lat, 99);
}

void left_after_free(double *out, long fds1, long rss0) {
    malloc_trim(0);
    out[SCALE_LEAK_FDS] = (double)(open_fds() - fds1);
    out[SCALE_RSS_AFTER] = (double)(rss_bytes() - rss0);
}

static void on_bench_event(qmp_client *c, const qmp_event *ev, void *user_data) {
    (void)c;
    fanin_t *fi = user_data;
    const json_t *data = qmp_event_data(ev);
    fi->sum += json_integer_value(json_object_get(data, "n"));
    json_int_t t = json_integer_value(json_object_get(data, "t"));
    if (t > 0) lat_add(fi->lat, (double)(mono_ns() - t));
    fi->events++;
    if (strcmp(qmp_event_name(ev), "BENCH_END") == 0) fi->ends++;
}

static void on_reply(qmp_client *c, int status, const json_t *result, void *user_data) {
    (void)c;
    (void)result;
    fanin_t *fi = user_data;
    fi->replies++;
    if (status != 0) fi->reply_failed++;
}

/* What the loop thread and the server spent during a fan-in. */
typedef struct {
    double loop_pct, loop_sys_ms, faults, server_pct;
} fanin_cost_t;

static double tv_ms(struct timeval a, struct timeval b) {
    return (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_usec - a.tv_usec) / 1e3;
}

/* Arms a flood of count events on every client, then starts them all at once
   (bench-start from ctl, a client of its own outside the loop); runs the loop
   until every client has its BENCH_END.  Returns the seconds from the start
   to the last BENCH_END, or < 0 with s failed. */
static double fanin(fleet_t *f, qmp_client *ctl, fanin_t *fi, long count, long interval_us, int server_pid,
                    fanin_cost_t *cost, sample_t *s) {
    fi->replies = fi->reply_failed = fi->ends = fi->events = 0;
    for (long i = 0; i < f->n; i++) {
        json_t *cmd = qmp_command_new("bench-flood", "I:count", (long long)count, "b:stamp", 1, "b:armed", 1,
                                      "I:interval-us", (long long)interval_us, NULL);
        if (qmp_client_execute_async(fleet_client(f, i), cmd, NULL, on_reply, fi, NULL) < 0) {
            sample_fail(s, "bench-flood: %s", qmp_error_last()->message);
            return -1;
        }
    }
    if (fleet_run_until(f, &fi->replies, f->n, 60) < 0 || fi->reply_failed) {
        sample_fail(s, "bench-flood: %ld of %ld answered, %ld failed", fi->replies, f->n, fi->reply_failed);
        return -1;
    }
    long long loop0, loop1, waited, server0 = proc_cpu_ns(server_pid);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_THREAD, &ru0);
    sched_ns(&loop0, &waited);
    double t0 = now_s();
    if (qmp_client_execute(ctl, qmp_command_new("bench-start", NULL), NULL) < 0) {
        sample_fail(s, "bench-start: %s", qmp_error_last()->message);
        return -1;
    }
    if (fleet_run_until(f, &fi->ends, f->n, 120) < 0) {
        sample_fail(s, "%ld of %ld floods ended (%ld events)", fi->ends, f->n, fi->events);
        return -1;
    }
    double t = now_s() - t0;
    sched_ns(&loop1, &waited);
    getrusage(RUSAGE_THREAD, &ru1);
    if (cost) {
        cost->loop_pct = (double)(loop1 - loop0) / 1e9 / t * 100;
        cost->loop_sys_ms = tv_ms(ru0.ru_stime, ru1.ru_stime);
        cost->faults = (double)(ru1.ru_minflt - ru0.ru_minflt);
        cost->server_pct = (double)(proc_cpu_ns(server_pid) - server0) / 1e9 / t * 100;
    }
    if (fi->events != f->n * count) {
        sample_fail(s, "received %ld of %ld events", fi->events, f->n * count);
        return -1;
    }
    return t;
}

void scale_mock(const char *sock, int mock_pid, enum loop_kind kind, long n, long flood_per_client, long paced_per_client,
                long interval_us, scale_sample_t *r) {
    sample_t *s = &r->s;
    double *out = r->fig;
    raise_fd_limit();
    long total = n * flood_per_client > n * paced_per_client ? n * flood_per_client : n * paced_per_client;
    lat_t lat;
    lat_init(&lat, total + 16);
    fanin_t fi = {.lat = &lat};
    long fds0 = open_fds();
    fleet_t *f = NULL;
    const char *socks[1] = {sock};

    /* The control client, and a first fleet of one connected and freed, so
       the library's and the loop's one-time setup (the per-thread read
       buffer, GLib's) are not counted as the fleet's memory. */
    qmp_client *ctl = lib_open(sock, s);
    if (!ctl) goto out;
    f = fleet_new(kind, 1);
    if (fleet_connect(f, socks, 1, s) < 0) goto out;
    fleet_free(f);
    f = NULL;
    malloc_trim(0);
    long rss0 = rss_bytes(), fds1 = open_fds();

    f = fleet_new(kind, n);
    double storm = fleet_connect(f, socks, 1, s);
    if (storm < 0) goto out;
    out[SCALE_STORM] = storm * 1e3;
    long never = 0;
    fleet_run_until(f, &never, 1, 0.05);  /* a few idle rounds */
    out[SCALE_MEM] = (double)(rss_bytes() - rss0) / (double)n;

    for (long i = 0; i < n; i++)
        qmp_client_on_event(fleet_client(f, i), NULL, on_bench_event, &fi, NULL, NULL);
    fanin_cost_t cost;
    double t = fanin(f, ctl, &fi, flood_per_client, 0, mock_pid, &cost, s);
    if (t < 0) goto out;
    out[SCALE_RATE] = (double)fi.events / t;
    out[SCALE_LOOP_CPU] = cost.loop_pct;
    out[SCALE_LOOP_SYS] = cost.loop_sys_ms;
    out[SCALE_FAULTS] = cost.faults;
    out[SCALE_SERVER_CPU] = cost.server_pct;
    out[SCALE_FLOOD_P50] = lat_pct(&lat, 50);
    out[SCALE_FLOOD_P99] = lat_pct(&lat, 99);
    out[SCALE_RSS_FLOOD] = (double)(rss_bytes() - rss0) / (double)n;

    lat.n = 0;
    long long cpu0, wait0;
    sched_ns(&cpu0, &wait0);
    if (fanin(f, ctl, &fi, paced_per_client, interval_us, mock_pid, NULL, s) < 0) goto out;
    paced_figures(out, &lat, cpu0, wait0, paced_per_client);
    fleet_free(f);
    f = NULL;
    left_after_free(out, fds1, rss0);
out:
    fleet_free(f);
    qmp_client_free(ctl);
    lat_free(&lat);
    if (!s->error[0] && open_fds() != fds0) sample_fail(s, "%ld fds left after freeing everything", open_fds() - fds0);
}
