/* The benchmarks' shared pieces: one sample, timing, memory, the clients' entry points. */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>

#include <qmp/qmp.h>

/* One measurement: value (and, for floods, extra = RSS growth in bytes), or
   error[0] != 0 when the client could not do it. */
typedef struct {
    double value;
    double extra;
    char error[200];
} sample_t;

void sample_fail(sample_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
double now_s(void);
long rss_bytes(void);
void raise_fd_limit(void);

/* Runs fn(arg, s) in a child process, so memory figures start clean. */
void in_child(void (*fn)(void *arg, sample_t *s), void *arg, sample_t *s);
/* The same for a result of size bytes that starts with its sample_t (the error). */
void in_child_sized(void (*fn)(void *arg, sample_t *s), void *arg, sample_t *s, size_t size);

/* The raw baseline (raw.c): blocking socket, one write(), json_loadb per reply. */
void raw_big_reply(const char *sock, long count, sample_t *s);       /* ms per call */
void raw_flood(const char *sock, long count, sample_t *s);           /* events/s, RSS growth */

/* One raw client, for measurements that interleave it with libqmp's (raw.c). */
typedef struct raw raw_t;
raw_t *raw_connect(const char *sock, sample_t *s);  /* NULL with the sample failed */
int raw_status_call(raw_t *r);                      /* query-status; 0 or -1 */
void raw_disconnect(raw_t *r);

/* libqmp through each path (paths.c). */
/* query-status through execute (str_api 0) or execute_str (1), or a qmp_call handle (2); 0 or a QMP_E* code */
int lib_status_call(qmp_client *c, int str_api);
/* A client connected to sock (10 s to connect), or NULL with the sample failed. */
qmp_client *lib_open(const char *sock, sample_t *s);
/* calls/s; oob: negotiate "oob" (then at most 7 in-band commands are unanswered at a time) */
void lib_pipelined(const char *sock, long count, int in_flight, int oob, sample_t *s);
/* The same (up to 4 clients, "oob" as oob[i] asks) against raw's sequential
   calls, in alternating batches: every rate, from the same stretch of time. */
void alternating_pipelined(const char *raw_sock, const char *const *lib_socks, const int *oob, int nlib, long count,
                           long batch, int in_flight, sample_t *raw_s, sample_t *lib_s);
void lib_big_reply(const char *sock, long count, int str_api, sample_t *s);   /* ms per call */
/* The round trip of raw and of libqmp clients, each on its own connection
   or monitor, in alternating batches of `batch` calls (alternate.c):
   socks[0] for raw, socks[1..nlib] for libqmp clients calling as
   lib_status_call(c, modes[k]) (nlib <= 4); out[0..nlib]: us per call. */
void alternating_round_trips(const char *const *socks, const int *modes, int nlib, long count, long batch,
                             sample_t *out);
enum flood_kind { FLOOD_NAME, FLOOD_DATA, FLOOD_WAIT };
void lib_flood(const char *sock, long count, enum flood_kind kind, sample_t *s); /* events/s, RSS growth */
void lib_clients(const char *sock, long count, sample_t *s);                 /* bytes per client */
/* A loop thread drives the client (callbacks 0: on the wakeup fd; 1: told by the loop callbacks)
   while the calling thread submits (loop.c). */
void lib_loop_round_trip(const char *sock, long count, int callbacks, sample_t *s); /* us per call */
void lib_loop_flood(const char *sock, long count, sample_t *s);                     /* events/s, RSS growth */

/* Schema intelligence (schema.c). */
/* us per call: value without validation, extra with it (measured in alternating batches) */
void lib_validated_round_trip(const char *sock, long count, sample_t *s);
/* which: 0 blockdev-add (qcow2 over file), 1 libvirt's drive-mirror; validate 0: build only */
void lib_validate_only(const char *schema_path, long count, int which, int validate, sample_t *s); /* us per command */
void lib_schema_load(const char *sock, long count, sample_t *s);  /* ms per fetch + resolve */

/* Processes (procs.c): the mock, real QEMU, the go-qemu peer. */
typedef struct {
    int pid;
    char dir[256];
    char sock[300];
} server_t;
int mock_start(server_t *m, const char *mock_bin, const char *schema);
/* QEMU with three monitors: q->sock and the two of qemu_monitor_path(q, 2 or 3). */
int qemu_start(server_t *q, const char *qemu_bin);
void qemu_monitor_path(const server_t *q, int k, char *out, size_t n);
/* qemu_start in two steps, for starting many at once. */
int qemu_spawn(server_t *q, const char *qemu_bin);
int qemu_wait_ready(server_t *q, double timeout_s);
void server_stop(server_t *srv);
void go_sample(const char *go_bin, const char *sock, const char *workload, long count, sample_t *s);

#endif
