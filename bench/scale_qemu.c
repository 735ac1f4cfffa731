/* Many real monitors in one process: n `qemu-system-x86_64 -M none`
   processes, each with its own monitor socket, started and stopped here; n
   libqmp clients on one loop.  Events on demand: `stop` makes QEMU emit STOP
   and `cont` RESUME, each before the command's reply.  Latency is from the
   event's QEMU timestamp (g_get_real_time(): wall clock, microseconds) to
   the handler's CLOCK_REALTIME. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scale.h"

int qemu_fleet_start(qemu_fleet_t *q, const char *qemu_bin, long n, char *why, size_t why_size) {
    q->n = 0;
    q->srv = calloc((size_t)n, sizeof *q->srv);
    q->socks = calloc((size_t)n, sizeof *q->socks);
    if (!q->srv || !q->socks) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    /* All spawned first, then waited for: they start in parallel. */
    long spawned = 0;
    for (; spawned < n; spawned++)
        if (qemu_spawn(&q->srv[spawned], qemu_bin) < 0) break;
    long ready = 0;
    for (long i = 0; i < spawned; i++) ready += qemu_wait_ready(&q->srv[i], 60) == 0;
    if (ready < n) {
        snprintf(why, why_size, "%ld of %ld `%s -M none` started", ready, n, qemu_bin);
        q->n = n;
        qemu_fleet_stop(q);
        return -1;
    }
    for (long i = 0; i < n; i++) q->socks[i] = q->srv[i].sock;
    q->n = n;
    return 0;
}

void qemu_fleet_stop(qemu_fleet_t *q) {
    /* SIGTERM to all, then reap all: they exit in parallel. */
    for (long i = 0; i < q->n; i++)
        if (q->srv[i].pid > 0) kill(q->srv[i].pid, SIGTERM);
    for (long i = 0; i < q->n; i++) server_stop(&q->srv[i]);
    free(q->srv);
    free(q->socks);
    q->srv = NULL;
    q->socks = NULL;
    q->n = 0;
}

typedef struct {
    lat_t *lat;
    long events, replies, failed, want;  /* want: commands per client */
} drive_t;

typedef struct {
    drive_t *d;
    long sent;
} stopcont_t;

static void send_next(qmp_client *c, stopcont_t *sc);

static void on_state_event(qmp_client *c, const qmp_event *ev, void *user_data) {
    (void)c;
    drive_t *d = user_data;
    long long t = qmp_event_seconds(ev) * 1000000LL + qmp_event_microseconds(ev);
    lat_add(d->lat, (double)(real_us() - t) * 1e3);
    d->events++;
}

static void on_stopcont(qmp_client *c, int status, const json_t *result, void *user_data) {
    (void)result;
    stopcont_t *sc = user_data;
    sc->d->replies++;
    if (status != 0) sc->d->failed++;
    else if (sc->sent < sc->d->want) send_next(c, sc);
}

static void send_next(qmp_client *c, stopcont_t *sc) {
    const char *cmd = sc->sent % 2 == 0 ? "stop" : "cont";
    sc->sent++;
    if (qmp_client_execute_async(c, qmp_command_new(cmd, NULL), NULL, on_stopcont, sc, NULL) < 0) {
        sc->d->replies++;
        sc->d->failed++;
    }
}

void scale_qemu(qemu_fleet_t *q, enum loop_kind kind, long n, long events_per_client, long paced_ticks,
                long interval_us, scale_sample_t *r) {
    sample_t *s = &r->s;
    double *out = r->fig;
    raise_fd_limit();
    if (events_per_client % 2) events_per_client++;  /* stop, cont, ...: each QEMU ends running */
    if (paced_ticks % 2) paced_ticks++;
    lat_t lat;
    lat_init(&lat, n * (events_per_client > paced_ticks ? events_per_client : paced_ticks) + 16);
    drive_t d = {.lat = &lat, .want = events_per_client};
    stopcont_t *sc = calloc((size_t)n, sizeof *sc);
    long fds0 = open_fds();

    /* A first fleet of one, connected and freed: the one-time setup is not the fleet's memory. */
    fleet_t *f = fleet_new(kind, 1);
    if (fleet_connect(f, q->socks, 1, s) < 0) goto out;
    fleet_free(f);
    f = NULL;
    malloc_trim(0);
    long rss0 = rss_bytes(), fds1 = open_fds();

    f = fleet_new(kind, n);
    double storm = fleet_connect(f, q->socks, n, s);
    if (storm < 0) goto out;
    out[SCALE_STORM] = storm * 1e3;
    long never = 0;
    fleet_run_until(f, &never, 1, 0.05);
    out[SCALE_MEM] = (double)(rss_bytes() - rss0) / (double)n;

    for (long i = 0; i < n; i++) {
        qmp_client_on_event(fleet_client(f, i), "STOP", on_state_event, &d, NULL, NULL);
        qmp_client_on_event(fleet_client(f, i), "RESUME", on_state_event, &d, NULL, NULL);
    }
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        sc[i].d = &d;
        send_next(fleet_client(f, i), &sc[i]);
    }
    long total = n * events_per_client;
    if (fleet_run_until(f, &d.replies, total, 120) < 0 || d.failed) {
        sample_fail(s, "stop/cont: %ld of %ld answered, %ld failed", d.replies, total, d.failed);
        goto out;
    }
    fleet_run_until(f, &d.events, total, 5);  /* each event comes before its reply; to be sure */
    double t = now_s() - t0;
    if (d.events != total) {
        sample_fail(s, "%ld of %ld STOP/RESUME events", d.events, total);
        goto out;
    }
    out[SCALE_RATE] = (double)d.events / t;
    out[SCALE_FLOOD_P50] = lat_pct(&lat, 50);
    out[SCALE_FLOOD_P99] = lat_pct(&lat, 99);

    /* Paced: every tick, one stop or cont to every QEMU at the same instant. */
    lat.n = 0;
    d.events = 0;
    long long cpu0, wait0;
    sched_ns(&cpu0, &wait0);
    for (long tick = 0; tick < paced_ticks; tick++) {
        double due = now_s();
        for (long i = 0; i < n; i++) {
            sc[i].sent = tick % 2;  /* stop, then cont */
            d.want = sc[i].sent + 1;  /* one command, no follow-up */
            send_next(fleet_client(f, i), &sc[i]);
        }
        if (fleet_run_until(f, &d.events, n * (tick + 1), 10) < 0) {
            sample_fail(s, "paced stop/cont: %ld of %ld events", d.events, n * (tick + 1));
            goto out;
        }
        long never = 0;
        fleet_run_until(f, &never, 1, due + interval_us / 1e6 - now_s());
    }
    paced_figures(out, &lat, cpu0, wait0, paced_ticks);
    fleet_free(f);
    f = NULL;
    left_after_free(out, fds1, rss0);
out:
    fleet_free(f);
    free(sc);
    lat_free(&lat);
    if (!s->error[0] && open_fds() != fds0) sample_fail(s, "%ld fds left after freeing everything", open_fds() - fds0);
}
