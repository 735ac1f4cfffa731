/* Many monitors in one process (scale.c, scale_qemu.c): a fleet of libqmp
   clients on one loop, a GMainContext or the application's own epoll loop. */
#ifndef BENCH_SCALE_H
#define BENCH_SCALE_H

#include <qmp/qmp.h>

#include "bench.h"

enum loop_kind { LOOP_GLIB, LOOP_EPOLL };

typedef struct fleet fleet_t;

/* n clients (not yet connected) on one new loop of the given kind. */
fleet_t *fleet_new(enum loop_kind kind, long n);
qmp_client *fleet_client(fleet_t *f, long i);
/* Connects every client at once (qmp_client_connect_unix_async) to socks[i]
   (or socks[0] for all when nsocks is 1), then runs the loop until all are
   connected.  Returns the wall time in seconds, or < 0 with s failed. */
double fleet_connect(fleet_t *f, const char *const *socks, long nsocks, sample_t *s);
/* Runs the loop until *counter >= target or timeout_s passes; 0 or -1 (timed out). */
int fleet_run_until(fleet_t *f, const long *counter, long target, double timeout_s);
/* Frees the clients, then the loop. */
void fleet_free(fleet_t *f);

/* Latencies in ns, kept in an array made before the clients (so it is not
   counted as their memory). */
typedef struct {
    double *ns;
    long n, cap;
} lat_t;
void lat_init(lat_t *l, long cap);
void lat_add(lat_t *l, double ns);
double lat_pct(lat_t *l, double pct); /* in ms; sorts */
void lat_free(lat_t *l);

/* The figures of one run of a fleet (each run in a fresh child process). */
enum {
    SCALE_STORM,      /* ms: every client connected (greeting + negotiation), from cold */
    SCALE_MEM,        /* bytes of RSS per idle connected client */
    SCALE_RATE,       /* events/s over all clients, every server flooding at once */
    SCALE_FLOOD_P50,  /* ms from an event's send to its handler, inside the flood */
    SCALE_FLOOD_P99,
    SCALE_PACED_P50,  /* the same when every server sends one event per tick, all at once */
    SCALE_PACED_P99,
    SCALE_RSS_FLOOD,  /* bytes of RSS per client after the flood (the event rings) */
    SCALE_LEAK_FDS,   /* fds open after freeing the clients, minus before */
    SCALE_RSS_AFTER,  /* bytes of RSS after freeing the clients (and malloc_trim), minus before */
    SCALE_RUNQ,       /* ms per paced tick the loop was runnable but waited for a CPU (schedstat) */
    SCALE_CPU_TICK,   /* ms of CPU the loop used per paced tick (schedstat) */
    SCALE_LOOP_CPU,   /* % of one CPU the loop thread used during the fan-in flood */
    SCALE_LOOP_SYS,   /* ms of that in the kernel (getrusage) */
    SCALE_FAULTS,     /* minor page faults of the loop thread during the flood */
    SCALE_SERVER_CPU, /* % of one CPU the server (the mock) used during the fan-in flood */
    SCALE_NFIG
};
typedef struct {
    sample_t s;  /* first: in_child_sized() */
    double fig[SCALE_NFIG];
} scale_sample_t;

/* n clients on one loop against the mock at sock: connect storm, idle
   memory, a fan-in flood of flood_per_client events each, a paced fan-in of
   paced_per_client events each one every interval_us, leaks. */
void scale_mock(const char *sock, int mock_pid, enum loop_kind kind, long n, long flood_per_client, long paced_per_client,
                long interval_us, scale_sample_t *r);

/* A peer (go-qemu's qmp-bench-go, or bench/python/scale_qmp.py for qemu.qmp
   when python) on the same workload: it prints "SCALE storm_ms mem_bytes
   rate flood_p50 flood_p99 paced_p50 paced_p99" or "FAIL reason" (procs.c). */
void scale_peer(const char *prog, int python, const char *sock, long clients, long flood, long paced, long interval_us,
                scale_sample_t *r);

/* n real QEMUs (scale_qemu.c), started and stopped by the benchmark. */
typedef struct {
    long n;
    server_t *srv;
    const char **socks;
} qemu_fleet_t;
int qemu_fleet_start(qemu_fleet_t *q, const char *qemu_bin, long n, char *why, size_t why_size);
void qemu_fleet_stop(qemu_fleet_t *q);
/* n clients on one loop, client i on QEMU i: connect storm, idle memory, a
   fan-in of events_per_client STOP/RESUME events each (stop and cont, one
   command in flight per client), then paced_ticks ticks interval_us apart,
   each sending one stop or cont to every QEMU at once; latency from QEMU's
   event timestamp to the handler. */
void scale_qemu(qemu_fleet_t *q, enum loop_kind kind, long n, long events_per_client, long paced_ticks,
                long interval_us, scale_sample_t *r);

long open_fds(void);
/* The paced run's figures into out: the loop's CPU time and run-queue wait
   per tick since sched_ns(&cpu0, &wait0), and lat's p50 and p99. */
void paced_figures(double *out, lat_t *lat, long long cpu0, long long wait0, long ticks);
/* What freeing a fleet left, into out: fds against fds1 and RSS (after
   malloc_trim) against rss0, both taken before the fleet was made. */
void left_after_free(double *out, long fds1, long rss0);
/* ns this thread has run on a CPU and waited on a run queue (/proc/thread-self/schedstat), or 0. */
void sched_ns(long long *on_cpu, long long *waiting);
/* CPU time (ns) of process pid's main thread, from /proc/PID/schedstat; 0 if unknown. */
long long proc_cpu_ns(int pid);
long long mono_ns(void);
long long real_us(void);

#endif
