/*
 * qmp-bench: the benchmarks in one run and one table.
 *
 *   qmp-bench [--quick] [--reps N] [--mock PATH] [--go PATH] [--schema PATH] [--qemu BIN]
 *             [--only rt|pipe|big|flood|qemu|clients|schema|scale|scale-qemu] [--client TEXT]
 *
 * (The "schema" rows measure command validation and schema loading; "scale"
 * many monitors in one process against the mock, the peers and real QEMU,
 * "scale-qemu" only the real QEMU part: bench/scale.c, bench/scale_qemu.c.)
 *
 * Starts the mock (qmp-mock) and a real `qemu-system-x86_64 -M none`, then
 * measures every workload with the raw C baseline, libqmp through each path
 * and the go-qemu peer, interleaved within each repetition so they all see
 * the same machine.  Prints each figure's median over the repetitions, its
 * ratio to the raw baseline of the same run, the target and PASS/MISS.
 * --quick uses small counts (for CI: it checks that everything runs, not how
 * fast).  Memory figures are measured in a fresh child process each.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"
#include "scale.h"

#ifndef BENCH_DATA_DIR
#define BENCH_DATA_DIR "bench/data"
#endif
#define MAX_REPS 51

typedef struct {
    long rt, pipe, big, flood, qemu_rt, qemu_pipe, clients, validate;
    int reps;
    /* many monitors: clients, flood and paced events per client, the pacing, QEMUs, events per QEMU */
    long fleet, fleet_flood, fleet_paced, pace_us, qemus, qemu_events;
} counts_t;

static const counts_t full_counts = {20000, 200000, 100, 1000000, 3000, 20000, 1000, 200000, 5,
                                     1000, 300, 10, 100000, 100, 40};
static const counts_t quick_counts = {200, 2000, 3, 5000, 50, 200, 50, 2000, 1,
                                      50, 100, 10, 10000, 2, 10};

enum target_kind { T_NONE, T_RATIO_MAX, T_RATIO_MIN, T_ABS_MAX };

typedef struct row row_t;
struct row {
    const char *workload;
    const char *client;
    const char *unit;
    enum target_kind tkind;
    double target;
    int ref;        /* the raw row this one is compared with, or -1 */
    int derived;    /* filled from another row, not measured */
    double scale;   /* the figure shown is value * scale */
    double samples[MAX_REPS];
    int n;
    int failed;  /* repetitions that failed; error is the first one's reason */
    char error[200];
};

enum {
    RT_RAW, RT_JSON, RT_STR, RT_CALL, RT_LOOP_WAKE, RT_LOOP_CB, RT_GO,
    PIPE_RAW, PIPE_LIB, PIPE_GO,
    BIG_RAW, BIG_STR, BIG_JSON, BIG_GO,
    FLOOD_RAW, FLOOD_NAMEONLY, FLOOD_DATAREAD, FLOOD_WAITEV, FLOOD_LOOP, FLOOD_GO,
    RSS_RAW, RSS_NAME, RSS_DATA, RSS_GO,
    QRT_RAW, QRT_JSON, QRT_STR, QRT_GO, QPIPE_RAW, QPIPE_LIB, QPIPE_OOB,
    CLI_LIB, CLI_GO,
    VRT_OFF, VRT_ON, VCPU_BA_BUILD, VCPU_BA, VCPU_DM_BUILD, VCPU_DM, SCHEMA_RAW, SCHEMA_LOAD,
    /* scale: per loop, a run of one client alone (the baseline) and one of the fleet */
#define SCALE_ROWS(P) P##_STORM1, P##_STORM, P##_MEM, P##_RATE1, P##_RATE, P##_LOOP_CPU1, P##_LOOP_SYS1, P##_FAULTS1, \
        P##_SERVER_CPU1, P##_LOOP_CPU, P##_LOOP_SYS, P##_FAULTS, P##_SERVER_CPU, P##_PACED1_P99, P##_PACED_P50, \
        P##_PACED_P99, P##_CPU_TICK, P##_RUNQ, P##_FLOOD_P50, P##_FLOOD_P99, P##_RSS_FLOOD, P##_LEAK, P##_RSS_AFTER
    SCALE_ROWS(SG), SCALE_ROWS(SE),
    SGO_STORM, SGO_MEM, SGO_RATE, SGO_PACED_P50, SGO_PACED_P99,
    SPY_STORM, SPY_MEM, SPY_RATE, SPY_PACED_P50, SPY_PACED_P99,
    SQ_STORM1, SQ_STORM, SQ_MEM, SQ_RATE1, SQ_RATE, SQ_P99_1, SQ_P50, SQ_P99, SQ_CPU_TICK, SQ_RUNQ, SQ_FLOOD_P50, SQ_FLOOD_P99, SQ_LEAK,
    NROWS
};

#define MIB (1.0 / 1048576.0)
static row_t rows[NROWS] = {
    [RT_RAW] = {"round trip vs mock (query-status)", "raw C: write() + json_loadb (batches of 100 alternate with the next three rows)", "us", T_NONE, 0, -1, 0, 1},
    [RT_JSON] = {"", "libqmp qmp_client_execute (json_t)", "us", T_RATIO_MAX, 1.10, RT_RAW, 1, 1},
    [RT_STR] = {"", "libqmp qmp_client_execute_str", "us", T_RATIO_MAX, 1.10, RT_RAW, 1, 1},
    [RT_CALL] = {"", "libqmp qmp_call_execute_str (a cancellable handle per call)", "us", T_NONE, 0, RT_RAW, 1, 1},
    [RT_LOOP_WAKE] = {"", "libqmp execute_async, loop thread on the wakeup fd", "us", T_NONE, 0, RT_RAW, 0, 1},
    [RT_LOOP_CB] = {"", "libqmp execute_async, loop thread told by callbacks", "us", T_NONE, 0, RT_RAW, 0, 1},
    [RT_GO] = {"", "go-qemu Run", "us", T_NONE, 0, RT_RAW, 0, 1},
    [PIPE_RAW] = {"throughput vs mock (query-status)", "raw C, sequential (batches alternate with the next row)", "calls/s", T_NONE, 0, -1, 0, 1},
    [PIPE_LIB] = {"", "libqmp execute_async, 64 in flight", "calls/s", T_RATIO_MIN, 4.0, PIPE_RAW, 1, 1},
    [PIPE_GO] = {"", "go-qemu Run from 64 goroutines", "calls/s", T_NONE, 0, PIPE_RAW, 0, 1},
    [BIG_RAW] = {"big reply (QEMU 7.2 query-qmp-schema, 207 KB)", "raw C: json_loadb", "ms", T_NONE, 0, -1, 0, 1},
    [BIG_STR] = {"", "libqmp qmp_client_execute_str", "ms", T_RATIO_MAX, 0.25, BIG_RAW, 0, 1},
    [BIG_JSON] = {"", "libqmp qmp_client_execute (json_t)", "ms", T_RATIO_MAX, 0.80, BIG_RAW, 0, 1},
    [BIG_GO] = {"", "go-qemu Run", "ms", T_NONE, 0, BIG_RAW, 0, 1},
    [FLOOD_RAW] = {"event flood", "raw C: json_loadb per event", "events/s", T_NONE, 0, -1, 0, 1},
    [FLOOD_NAMEONLY] = {"", "libqmp handler reading the name", "events/s", T_RATIO_MIN, 3.0, FLOOD_RAW, 0, 1},
    [FLOOD_DATAREAD] = {"", "libqmp handler reading the data", "events/s", T_RATIO_MIN, 1.0, FLOOD_RAW, 0, 1},
    [FLOOD_WAITEV] = {"", "libqmp qmp_client_wait_event per event", "events/s", T_NONE, 0, FLOOD_RAW, 0, 1},
    [FLOOD_LOOP] = {"", "libqmp handler in a loop thread on the wakeup fd", "events/s", T_NONE, 0, FLOOD_RAW, 0, 1},
    [FLOOD_GO] = {"", "go-qemu Events channel", "events/s", T_NONE, 0, FLOOD_RAW, 0, 1},
    [RSS_RAW] = {"RSS growth over the flood", "raw C", "MiB", T_NONE, 0, -1, 1, MIB},
    [RSS_NAME] = {"", "libqmp handler reading the name", "MiB", T_ABS_MAX, 8.0, -1, 1, MIB},
    [RSS_DATA] = {"", "libqmp handler reading the data", "MiB", T_ABS_MAX, 8.0, -1, 1, MIB},
    [RSS_GO] = {"", "go-qemu", "MiB", T_NONE, 0, -1, 1, MIB},
    [QRT_RAW] = {"round trip vs real QEMU 7.2 (-M none)", "raw C: write() + json_loadb (batches of 100 alternate with the next two rows)", "us", T_NONE, 0, -1, 0, 1},
    [QRT_JSON] = {"", "libqmp qmp_client_execute (json_t)", "us", T_RATIO_MAX, 1.05, QRT_RAW, 1, 1},
    [QRT_STR] = {"", "libqmp qmp_client_execute_str", "us", T_RATIO_MAX, 1.05, QRT_RAW, 1, 1},
    [QRT_GO] = {"", "go-qemu Run", "us", T_NONE, 0, QRT_RAW, 0, 1},
    [QPIPE_RAW] = {"throughput vs real QEMU 7.2 (query-status)", "raw C, sequential (batches alternate with the next two rows)", "calls/s", T_NONE, 0, -1, 0, 1},
    [QPIPE_LIB] = {"", "libqmp execute_async, 64 in flight", "calls/s", T_RATIO_MIN, 1.0, QPIPE_RAW, 1, 1},
    [QPIPE_OOB] = {"", "libqmp execute_async, 64 in flight, oob negotiated", "calls/s", T_RATIO_MIN, 1.0, QPIPE_RAW, 1, 1},
    [CLI_LIB] = {"memory per idle connected client", "libqmp, attached to one GMainContext", "KiB", T_ABS_MAX, 32.0, -1, 0, 1.0 / 1024},
    [CLI_GO] = {"", "go-qemu SocketMonitor", "KiB", T_NONE, 0, -1, 0, 1.0 / 1024},
    [VRT_OFF] = {"validation: round trip vs mock (blockdev-add, qcow2 over file)", "libqmp, validation off", "us", T_NONE, 0, -1, 0, 1},
    [VRT_ON] = {"", "libqmp, QMP_VALIDATE (batches alternate with the row above)", "us", T_RATIO_MAX, 1.10, VRT_OFF, 1, 1},
    [VCPU_BA_BUILD] = {"validation alone, per command: blockdev-add", "building it (qmp_command_new)", "us", T_NONE, 0, -1, 0, 1},
    [VCPU_BA] = {"", "building + qmp_schema_validate", "us", T_RATIO_MAX, 2.0, VCPU_BA_BUILD, 0, 1},
    [VCPU_DM_BUILD] = {"validation alone, per command: libvirt's drive-mirror", "building it (qmp_command_new)", "us", T_NONE, 0, -1, 0, 1},
    [VCPU_DM] = {"", "building + qmp_schema_validate", "us", T_RATIO_MAX, 2.0, VCPU_DM_BUILD, 0, 1},
    [SCHEMA_RAW] = {"schema load, once per connection (207 KB)", "raw C: query-qmp-schema + json_loadb", "ms", T_NONE, 0, -1, 0, 1},
    [SCHEMA_LOAD] = {"", "libqmp: execute_str + qmp_schema_new_str", "ms", T_RATIO_MAX, 1.0, SCHEMA_RAW, 0, 1},
#define SCALE_ROW_DEFS(P, LOOP)                                                                                     \
    [P##_STORM1] = {"1,000 clients vs mock, " LOOP, "connect: one client alone (connect_unix_async)", "ms", T_NONE, 0, -1, 0, 1}, \
    [P##_STORM] = {"", "connect storm: 1,000 at once, from cold", "ms", T_NONE, 0, P##_STORM1, 0, 1},            \
    [P##_MEM] = {"", "memory per idle client (RSS growth / 1,000)", "KiB", T_ABS_MAX, 8.0, -1, 1, 1.0 / 1024},      \
    [P##_RATE1] = {"", "fan-in: one client alone, its flood as big as all 1,000", "events/s", T_NONE, 0, -1, 1, 1}, \
    [P##_RATE] = {"", "fan-in: 1,000 servers flooding at once, handlers read the data", "events/s", T_RATIO_MIN, 0.8, \
                  P##_RATE1, 1, 1},                                                                                 \
    [P##_LOOP_CPU1] = {"", "fan-in, one alone: CPU of the loop thread (% of the flood's wall time)", "%", T_NONE, 0, -1, 1, 1}, \
    [P##_LOOP_SYS1] = {"", "fan-in, one alone: of which in the kernel (getrusage)", "ms", T_NONE, 0, -1, 1, 1}, \
    [P##_FAULTS1] = {"", "fan-in, one alone: minor page faults of the loop thread", "faults", T_NONE, 0, -1, 1, 1}, \
    [P##_SERVER_CPU1] = {"", "fan-in, one alone: CPU of the mock server (% of the wall time)", "%", T_NONE, 0, -1, 1, 1}, \
    [P##_LOOP_CPU] = {"", "fan-in, 1,000: CPU of the loop thread", "%", T_NONE, 0, -1, 1, 1}, \
    [P##_LOOP_SYS] = {"", "fan-in, 1,000: of which in the kernel", "ms", T_NONE, 0, -1, 1, 1}, \
    [P##_FAULTS] = {"", "fan-in, 1,000: minor page faults of the loop thread", "faults", T_NONE, 0, -1, 1, 1}, \
    [P##_SERVER_CPU] = {"", "fan-in, 1,000: CPU of the mock server", "%", T_NONE, 0, -1, 1, 1}, \
    [P##_PACED1_P99] = {"", "latency p99, one client alone, paced", "ms", T_NONE, 0, -1, 1, 1},                    \
    [P##_PACED_P50] = {"", "latency p50 send->handler, paced: every server 1 event / 100 ms, together", "ms", T_NONE, 0, -1, 1, 1}, \
    [P##_PACED_P99] = {"", "latency p99 send->handler, paced", "ms", T_ABS_MAX, 10.0, P##_PACED1_P99, 1, 1},       \
    [P##_CPU_TICK] = {"", "CPU time of the loop thread per tick (schedstat)", "ms", T_NONE, 0, -1, 1, 1},       \
    [P##_RUNQ] = {"", "run-queue wait of the loop thread per tick (schedstat)", "ms", T_NONE, 0, -1, 1, 1}, \
    [P##_FLOOD_P50] = {"", "latency p50 inside the flood (the backlog: see docs)", "ms", T_NONE, 0, -1, 1, 1},     \
    [P##_FLOOD_P99] = {"", "latency p99 inside the flood", "ms", T_NONE, 0, -1, 1, 1},                             \
    [P##_RSS_FLOOD] = {"", "RSS growth per client after the flood (event rings)", "KiB", T_NONE, 0, -1, 1, 1.0 / 1024}, \
    [P##_LEAK] = {"", "leaked fds after freeing all clients", "fds", T_ABS_MAX, 0, -1, 1, 1},                      \
    [P##_RSS_AFTER] = {"", "RSS growth left after freeing all (after malloc_trim)", "MiB", T_NONE, 0, -1, 1, MIB}
    SCALE_ROW_DEFS(SG, "one GMainContext"),
    SCALE_ROW_DEFS(SE, "one epoll loop (told by the loop callbacks)"),
    [SGO_STORM] = {"peers vs mock, 1,000 clients", "go-qemu: connect storm (a goroutine per SocketMonitor)", "ms", T_NONE, 0, SE_STORM, 0, 1},
    [SGO_MEM] = {"", "go-qemu: memory per idle monitor", "KiB", T_NONE, 0, -1, 1, 1.0 / 1024},
    [SGO_RATE] = {"", "go-qemu: fan-in (vs libqmp's one client alone, epoll)", "events/s", T_NONE, 0, SE_RATE1, 1, 1},
    [SGO_PACED_P50] = {"", "go-qemu: latency p50, paced", "ms", T_NONE, 0, -1, 1, 1},
    [SGO_PACED_P99] = {"", "go-qemu: latency p99, paced", "ms", T_NONE, 0, -1, 1, 1},
    [SPY_STORM] = {"", "qemu.qmp (one asyncio loop): connect storm", "ms", T_NONE, 0, SE_STORM, 0, 1},
    [SPY_MEM] = {"", "qemu.qmp: memory per idle client", "KiB", T_NONE, 0, -1, 1, 1.0 / 1024},
    [SPY_RATE] = {"", "qemu.qmp: fan-in (vs libqmp's one client alone, epoll)", "events/s", T_NONE, 0, SE_RATE1, 1, 1},
    [SPY_PACED_P50] = {"", "qemu.qmp: latency p50, paced", "ms", T_NONE, 0, -1, 1, 1},
    [SPY_PACED_P99] = {"", "qemu.qmp: latency p99, paced", "ms", T_NONE, 0, -1, 1, 1},
    [SQ_STORM1] = {"100 real QEMUs (-M none), one GMainContext", "connect: one client alone", "ms", T_NONE, 0, -1, 0, 1},
    [SQ_STORM] = {"", "connect storm: 100 at once, from cold", "ms", T_NONE, 0, SQ_STORM1, 0, 1},
    [SQ_MEM] = {"", "memory per idle client (RSS growth / 100)", "KiB", T_ABS_MAX, 8.0, -1, 1, 1.0 / 1024},
    [SQ_RATE1] = {"", "fan-in: one client alone, stop/cont (STOP/RESUME events)", "events/s", T_NONE, 0, -1, 1, 1},
    [SQ_RATE] = {"", "fan-in: 100 clients at once, stop/cont each", "events/s", T_RATIO_MIN, 0.8, SQ_RATE1, 1, 1},
    [SQ_P99_1] = {"", "latency p99 (QEMU's event timestamp -> handler), one alone, paced", "ms", T_NONE, 0, -1, 1, 1},
    [SQ_P50] = {"", "latency p50, paced: a stop or cont to every QEMU at once, every 100 ms", "ms", T_NONE, 0, -1, 1, 1},
    [SQ_P99] = {"", "latency p99, paced", "ms", T_ABS_MAX, 10.0, SQ_P99_1, 1, 1},
    [SQ_CPU_TICK] = {"", "CPU time of the loop thread per tick (schedstat)", "ms", T_NONE, 0, -1, 1, 1},
    [SQ_RUNQ] = {"", "run-queue wait of the loop thread per tick (schedstat)", "ms", T_NONE, 0, -1, 1, 1},
    [SQ_FLOOD_P50] = {"", "latency p50 inside the fan-in (100 QEMUs busy on the machine's CPUs)", "ms", T_NONE, 0, -1, 1, 1},
    [SQ_FLOOD_P99] = {"", "latency p99 inside the fan-in", "ms", T_NONE, 0, -1, 1, 1},
    [SQ_LEAK] = {"", "leaked fds after freeing all clients", "fds", T_ABS_MAX, 0, -1, 1, 1},
};

static counts_t counts;
static server_t mock, qemu;
static int qemu_up;
static char qemu_error[200];
static const char *go_bin;
static const char *schema_path;

typedef struct {
    int row;
} job_t;

static void flood_job(void *arg, sample_t *s) {
    int row = ((job_t *)arg)->row;
    if (row == FLOOD_RAW) raw_flood(mock.sock, counts.flood, s);
    else if (row == FLOOD_LOOP) lib_loop_flood(mock.sock, counts.flood, s);
    else lib_flood(mock.sock, counts.flood,
                   row == FLOOD_NAMEONLY ? FLOOD_NAME : row == FLOOD_DATAREAD ? FLOOD_DATA : FLOOD_WAIT, s);
}

static void clients_job(void *arg, sample_t *s) {
    (void)arg;
    lib_clients(mock.sock, counts.clients, s);
}

static void record(int row, const sample_t *s);

static void measure(int row, sample_t *s) {
    job_t job = {row};
    switch (row) {
    case RT_RAW: {
        /* raw, json_t, string and a handle per call, each on its own
           connection to the mock, alternating in batches of 100 */
        const char *const socks[4] = {mock.sock, mock.sock, mock.sock, mock.sock};
        const int modes[3] = {0, 1, 2};
        sample_t lib[4];
        memset(lib, 0, sizeof lib);
        alternating_round_trips(socks, modes, 3, counts.rt, 100, lib);
        *s = lib[0];
        record(RT_JSON, &lib[1]);
        record(RT_STR, &lib[2]);
        record(RT_CALL, &lib[3]);
        break;
    }
    case RT_LOOP_WAKE: lib_loop_round_trip(mock.sock, counts.rt, 0, s); break;
    case RT_LOOP_CB: lib_loop_round_trip(mock.sock, counts.rt, 1, s); break;
    case RT_GO: go_sample(go_bin, mock.sock, "rt", counts.rt, s); break;
    case PIPE_RAW: {
        /* raw's sequential calls and libqmp's 64 in flight, alternating */
        sample_t lib = {0};
        const char *const socks[1] = {mock.sock};
        const int oob[1] = {0};
        alternating_pipelined(mock.sock, socks, oob, 1, counts.pipe, 4000, 64, s, &lib);
        record(PIPE_LIB, &lib);
        break;
    }
    case PIPE_GO: go_sample(go_bin, mock.sock, "pipe", counts.pipe / 4, s); break;
    case BIG_RAW: raw_big_reply(mock.sock, counts.big, s); break;
    case BIG_STR: lib_big_reply(mock.sock, counts.big, 1, s); break;
    case BIG_JSON: lib_big_reply(mock.sock, counts.big, 0, s); break;
    case BIG_GO: go_sample(go_bin, mock.sock, "big", counts.big, s); break;
    case FLOOD_RAW: case FLOOD_NAMEONLY: case FLOOD_DATAREAD: case FLOOD_WAITEV: case FLOOD_LOOP:
        in_child(flood_job, &job, s);
        break;
    case FLOOD_GO: go_sample(go_bin, mock.sock, "flood", counts.flood, s); break;
    case QRT_RAW: case QRT_GO:
        if (!qemu_up) {
            sample_fail(s, "%s", qemu_error);
        } else if (row == QRT_RAW) {
            /* raw, json_t and string on three monitors of the QEMU, alternating */
            char mon2[sizeof qemu.dir + 20], mon3[sizeof qemu.dir + 20];
            qemu_monitor_path(&qemu, 2, mon2, sizeof mon2);
            qemu_monitor_path(&qemu, 3, mon3, sizeof mon3);
            const char *const socks[3] = {qemu.sock, mon2, mon3};
            const int modes[2] = {0, 1};
            sample_t lib[3];
            memset(lib, 0, sizeof lib);
            alternating_round_trips(socks, modes, 2, counts.qemu_rt, 100, lib);
            *s = lib[0];
            record(QRT_JSON, &lib[1]);
            record(QRT_STR, &lib[2]);
        } else {
            go_sample(go_bin, qemu.sock, "rt", counts.qemu_rt, s);
        }
        break;
    case QPIPE_RAW:
        if (!qemu_up) {
            sample_fail(s, "%s", qemu_error);
        } else {
            /* raw, the pipeline without "oob" and the one with, each on its own
               monitor of the QEMU, alternating */
            char mon2[sizeof qemu.dir + 20], mon3[sizeof qemu.dir + 20];
            qemu_monitor_path(&qemu, 2, mon2, sizeof mon2);
            qemu_monitor_path(&qemu, 3, mon3, sizeof mon3);
            const char *const socks[2] = {mon2, mon3};
            const int oob[2] = {0, 1};
            sample_t lib[2];
            memset(lib, 0, sizeof lib);
            alternating_pipelined(qemu.sock, socks, oob, 2, counts.qemu_pipe, 500, 64, s, lib);
            record(QPIPE_LIB, &lib[0]);
            record(QPIPE_OOB, &lib[1]);
        }
        break;
    case CLI_LIB: in_child(clients_job, NULL, s); break;
    case CLI_GO: go_sample(go_bin, mock.sock, "clients", counts.clients, s); break;
    case VRT_OFF: lib_validated_round_trip(mock.sock, counts.rt, s); break;
    case VCPU_BA_BUILD: case VCPU_BA: lib_validate_only(schema_path, counts.validate, 0, row == VCPU_BA, s); break;
    case VCPU_DM_BUILD: case VCPU_DM: lib_validate_only(schema_path, counts.validate, 1, row == VCPU_DM, s); break;
    case SCHEMA_RAW: raw_big_reply(mock.sock, counts.big, s); break;
    case SCHEMA_LOAD: lib_schema_load(mock.sock, counts.big, s); break;
    }
}


/* --- many monitors: one run gives many rows ------------------------------------------------ */

typedef struct {
    int primary;       /* the row whose turn starts the run */
    int what;          /* 0 mock fleet, 1 go-qemu, 2 qemu.qmp, 3 QEMU fleet */
    enum loop_kind kind;
    int alone;         /* one client alone: the baseline */
    int rows[SCALE_NFIG];  /* the row of each figure, or 0 (not shown) */
} scale_run_t;

#define ALONE_ROWS(P) {[SCALE_STORM] = P##_STORM1, [SCALE_RATE] = P##_RATE1, [SCALE_PACED_P99] = P##_PACED1_P99, \
        [SCALE_LOOP_CPU] = P##_LOOP_CPU1, [SCALE_LOOP_SYS] = P##_LOOP_SYS1, [SCALE_FAULTS] = P##_FAULTS1, \
        [SCALE_SERVER_CPU] = P##_SERVER_CPU1}
#define FLEET_ROWS(P) {[SCALE_STORM] = P##_STORM, [SCALE_MEM] = P##_MEM, [SCALE_RATE] = P##_RATE, \
        [SCALE_PACED_P50] = P##_PACED_P50, [SCALE_PACED_P99] = P##_PACED_P99, [SCALE_FLOOD_P50] = P##_FLOOD_P50, \
        [SCALE_FLOOD_P99] = P##_FLOOD_P99, [SCALE_RSS_FLOOD] = P##_RSS_FLOOD, [SCALE_LEAK_FDS] = P##_LEAK, \
        [SCALE_RSS_AFTER] = P##_RSS_AFTER, [SCALE_RUNQ] = P##_RUNQ, \
        [SCALE_CPU_TICK] = P##_CPU_TICK, [SCALE_LOOP_CPU] = P##_LOOP_CPU, \
        [SCALE_LOOP_SYS] = P##_LOOP_SYS, [SCALE_FAULTS] = P##_FAULTS, [SCALE_SERVER_CPU] = P##_SERVER_CPU}
#define PEER_ROWS(P) {[SCALE_STORM] = P##_STORM, [SCALE_MEM] = P##_MEM, [SCALE_RATE] = P##_RATE, \
        [SCALE_PACED_P50] = P##_PACED_P50, [SCALE_PACED_P99] = P##_PACED_P99}
static const scale_run_t scale_runs[] = {
    {SG_STORM1, 0, LOOP_GLIB, 1, ALONE_ROWS(SG)},
    {SG_STORM, 0, LOOP_GLIB, 0, FLEET_ROWS(SG)},
    {SE_STORM1, 0, LOOP_EPOLL, 1, ALONE_ROWS(SE)},
    {SE_STORM, 0, LOOP_EPOLL, 0, FLEET_ROWS(SE)},
    {SGO_STORM, 1, LOOP_EPOLL, 0, PEER_ROWS(SGO)},
    {SPY_STORM, 2, LOOP_EPOLL, 0, PEER_ROWS(SPY)},
    {SQ_STORM1, 3, LOOP_GLIB, 1, {[SCALE_STORM] = SQ_STORM1, [SCALE_RATE] = SQ_RATE1, [SCALE_PACED_P99] = SQ_P99_1}},
    {SQ_STORM, 3, LOOP_GLIB, 0, {[SCALE_STORM] = SQ_STORM, [SCALE_MEM] = SQ_MEM, [SCALE_RATE] = SQ_RATE,
                                 [SCALE_PACED_P50] = SQ_P50, [SCALE_PACED_P99] = SQ_P99, [SCALE_FLOOD_P50] = SQ_FLOOD_P50,
                                 [SCALE_FLOOD_P99] = SQ_FLOOD_P99, [SCALE_LEAK_FDS] = SQ_LEAK, [SCALE_RUNQ] = SQ_RUNQ,
                                 [SCALE_CPU_TICK] = SQ_CPU_TICK}},
};

static const char *py_peer;     /* bench/python/scale_qmp.py */
static const char *qemus_bin;
static qemu_fleet_t qemus;      /* started for the scale-qemu rows of each repetition, stopped after them */
static int qemus_failed;        /* they could not be started: not tried again */
static char qemus_error[200];

static void scale_job(void *arg, sample_t *s) {
    const scale_run_t *run = arg;
    scale_sample_t *r = (scale_sample_t *)s;
    if (run->what == 0) {
        long n = run->alone ? 1 : counts.fleet;
        long flood = run->alone ? counts.fleet * counts.fleet_flood : counts.fleet_flood;
        scale_mock(mock.sock, mock.pid, run->kind, n, flood, counts.fleet_paced, counts.pace_us, r);
    } else {
        scale_qemu(&qemus, run->kind, run->alone ? 1 : qemus.n,
                   run->alone ? qemus.n * counts.qemu_events : counts.qemu_events, counts.fleet_paced, counts.pace_us, r);
    }
}

static int scale_measure(int row) {
    const scale_run_t *run = NULL;
    for (size_t i = 0; i < sizeof scale_runs / sizeof scale_runs[0]; i++)
        if (scale_runs[i].primary == row) run = &scale_runs[i];
    if (!run) return 0;
    scale_sample_t r;
    memset(&r, 0, sizeof r);
    if (run->what == 3 && qemus.n == 0 && !qemus_failed) {
        double t0 = now_s();
        raise_fd_limit();
        if (qemu_fleet_start(&qemus, qemus_bin, counts.qemus, qemus_error, sizeof qemus_error) < 0)
            qemus_failed = 1;
        else if (getenv("QMP_BENCH_VERBOSE"))
            fprintf(stderr, "%ld QEMUs started in %.1fs\n", counts.qemus, now_s() - t0);
    }
    if (run->what == 3 && qemus.n == 0) sample_fail(&r.s, "%s", qemus_error);
    else if (run->what == 1 || run->what == 2)
        scale_peer(run->what == 1 ? go_bin : py_peer, run->what == 2, mock.sock, counts.fleet, counts.fleet_flood,
                   counts.fleet_paced, counts.pace_us, &r);
    else in_child_sized(scale_job, (void *)run, &r.s, sizeof r);
    for (int k = 0; k < SCALE_NFIG; k++) {
        if (!run->rows[k]) continue;
        sample_t d = r.s;
        d.value = r.fig[k];
        record(run->rows[k], &d);
    }
    /* The QEMUs go as soon as their fleet is measured: 100 idle QEMUs left
       running through the next repetitions perturbed every row measured
       after them (the mock fan-in's kernel time grew from ~90 ms to
       ~350-480 ms from the second repetition on). */
    if (run->what == 3 && !run->alone && qemus.n) qemu_fleet_stop(&qemus);
    return 1;
}

static void record(int row, const sample_t *s) {
    row_t *r = &rows[row];
    if (s->error[0]) {
        if (!r->error[0]) snprintf(r->error, sizeof r->error, "%s", s->error);
        r->failed++;
        return;
    }
    r->samples[r->n++] = s->value;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const row_t *r) {
    if (r->n == 0) return NAN;
    double v[MAX_REPS];
    memcpy(v, r->samples, sizeof(double) * (size_t)r->n);
    qsort(v, (size_t)r->n, sizeof v[0], cmp_double);
    return r->n % 2 ? v[r->n / 2] : (v[r->n / 2 - 1] + v[r->n / 2]) / 2;
}

/* --only GROUP and --client TEXT pick rows, for profiling one path. */
static const char *only_group, *only_client;
static const struct {
    const char *name;
    int first, last;
} groups[] = {
    {"rt", RT_RAW, RT_GO}, {"pipe", PIPE_RAW, PIPE_GO}, {"big", BIG_RAW, BIG_GO},
    {"flood", FLOOD_RAW, RSS_GO}, {"qemu", QRT_RAW, QPIPE_OOB}, {"clients", CLI_LIB, CLI_GO},
    {"schema", VRT_OFF, SCHEMA_LOAD}, {"scale", SG_STORM1, SQ_LEAK}, {"scale-qemu", SQ_STORM1, SQ_LEAK},
};

static int selected(int row) {
    if (only_client && !strstr(rows[row].client, only_client)) return 0;
    if (!only_group) return 1;
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        if (strcmp(groups[g].name, only_group) == 0) return row >= groups[g].first && row <= groups[g].last;
    return 0;
}

static void one_repetition(int rep) {
    for (int row = 0; row < NROWS; row++) {
        if (rows[row].derived || !selected(row)) continue;
        sample_t s = {0};
        double t0 = now_s();
        if (scale_measure(row)) {
            if (getenv("QMP_BENCH_VERBOSE"))
                fprintf(stderr, "rep %d %-40s %-42s (%.1fs)\n", rep + 1, rows[row].workload, rows[row].client,
                        now_s() - t0);
            continue;
        }
        measure(row, &s);
        record(row, &s);
        if (getenv("QMP_BENCH_VERBOSE"))
            fprintf(stderr, "rep %d %-40s %-42s %12.3f %s (%.1fs)\n", rep + 1, rows[row].workload,
                    rows[row].client, s.value, s.error, now_s() - t0);
        /* The figures that come out of another row's sample. */
        if (row == VRT_OFF) {
            sample_t d = s;
            d.value = s.extra;
            record(VRT_ON, &d);
        }
        int rss_row = row == FLOOD_RAW ? RSS_RAW : row == FLOOD_NAMEONLY ? RSS_NAME
                    : row == FLOOD_DATAREAD ? RSS_DATA : row == FLOOD_GO ? RSS_GO : -1;
        if (rss_row >= 0) {
            sample_t d = s;
            d.value = s.extra;
            record(rss_row, &d);
        }
    }
}

static void fmt_value(char *out, size_t n, double v, const char *unit) {
    if (isnan(v)) snprintf(out, n, "-");
    else if (fabs(v) >= 1000) snprintf(out, n, "%.0f %s", v, unit);
    else if (fabs(v) >= 100) snprintf(out, n, "%.1f %s", v, unit);
    else snprintf(out, n, "%.2f %s", v, unit);
}

static void print_table(void) {
    printf("| workload | client | median | vs raw | target | result |\n");
    printf("|---|---|---:|---:|---|---|\n");
    for (int i = 0; i < NROWS; i++) {
        const row_t *r = &rows[i];
        if (!selected(i)) continue;
        double v = median(r);
        char value[64], ratio[32] = "", target[48] = "", result[260] = "";
        fmt_value(value, sizeof value, v * r->scale, r->unit);
        double q = NAN;
        if (r->ref >= 0) {
            double base = median(&rows[r->ref]);
            q = v / base;
            if (!isnan(q)) snprintf(ratio, sizeof ratio, "%.2fx", q);
        } else if (r->tkind == T_NONE && strncmp(r->client, "raw", 3) == 0 && i != RSS_RAW && !isnan(v)) {
            snprintf(ratio, sizeof ratio, "1.00x");
        }
        int pass = 0;
        switch (r->tkind) {
        case T_NONE: break;
        case T_RATIO_MAX: snprintf(target, sizeof target, "<= %.2fx", r->target); pass = q <= r->target; break;
        case T_RATIO_MIN: snprintf(target, sizeof target, ">= %.1fx", r->target); pass = q >= r->target; break;
        case T_ABS_MAX: snprintf(target, sizeof target, "<= %g %s", r->target, r->unit); pass = v * r->scale <= r->target; break;
        }
        if (r->error[0] && r->n == 0) snprintf(result, sizeof result, "FAIL: %s", r->error);
        else if (r->error[0]) snprintf(result, sizeof result, "failed %d of %d: %s", r->failed, r->failed + r->n, r->error);
        else if (r->tkind != T_NONE) snprintf(result, sizeof result, "%s", pass ? "PASS" : "MISS");
        printf("| %s | %s | %s | %s | %s | %s |\n", r->workload, r->client, value, ratio, target, result);
    }
}

static void print_machine(void) {
    struct utsname u;
    uname(&u);
    char model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p) snprintf(model, sizeof model, "%s", p + 2);
            model[strcspn(model, "\n")] = 0;
            break;
        }
    }
    if (f) fclose(f);
    double load[3] = {0};
    if (getloadavg(load, 3) < 0) load[0] = -1;
    printf("machine: %ld CPUs (nproc), %s, Linux %s; load average %.2f at the start\n",
           sysconf(_SC_NPROCESSORS_ONLN), model, u.release, load[0]);
}

static void exe_dir(char *out, size_t n) {
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len < 0) len = 0;
    self[len] = 0;
    char *slash = strrchr(self, '/');
    if (slash) *slash = 0;
    snprintf(out, n, "%s", self);
}

int main(int argc, char **argv) {
    static char dir[PATH_MAX], mock_path[PATH_MAX + 32], go_path[PATH_MAX + 32];
    exe_dir(dir, sizeof dir);
    snprintf(mock_path, sizeof mock_path, "%s/qmp-mock", dir);
    snprintf(go_path, sizeof go_path, "%s/qmp-bench-go", dir);
    const char *mock_bin = mock_path, *schema = BENCH_DATA_DIR "/qemu-7.2-query-qmp-schema.json";
    const char *qemu_bin = "qemu-system-x86_64";
    go_bin = go_path;
    counts = full_counts;
    int reps = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) counts = quick_counts;
        else if (strcmp(a, "--reps") == 0 && v) reps = atoi(argv[++i]);
        else if (strcmp(a, "--mock") == 0 && v) mock_bin = argv[++i];
        else if (strcmp(a, "--go") == 0 && v) go_bin = argv[++i];
        else if (strcmp(a, "--schema") == 0 && v) schema = argv[++i];
        else if (strcmp(a, "--qemu") == 0 && v) qemu_bin = argv[++i];
        else if (strcmp(a, "--only") == 0 && v) only_group = argv[++i];
        else if (strcmp(a, "--client") == 0 && v) only_client = argv[++i];
        else {
            fprintf(stderr, "usage: qmp-bench [--quick] [--reps N] [--mock PATH] [--go PATH] "
                            "[--schema PATH] [--qemu BIN]\n"
                            "                 [--only rt|pipe|big|flood|qemu|clients|schema|scale|scale-qemu] [--client TEXT]\n");
            return 2;
        }
    }
    if (reps > 0) counts.reps = reps < MAX_REPS ? reps : MAX_REPS;
    schema_path = schema;

    if (mock_start(&mock, mock_bin, schema) < 0) {
        fprintf(stderr, "qmp-bench: cannot start the mock %s\n", mock_bin);
        return 1;
    }
    qemu_up = qemu_start(&qemu, qemu_bin) == 0;
    if (!qemu_up) snprintf(qemu_error, sizeof qemu_error, "could not start %s -M none", qemu_bin);
    static char py_path[PATH_MAX + 64];
    snprintf(py_path, sizeof py_path, "%s/../python/scale_qmp.py", BENCH_DATA_DIR);
    py_peer = py_path;
    qemus_bin = qemu_bin;

    print_machine();
    printf("counts: round trip %ld calls, pipelined %ld calls (go-qemu %ld), big reply %ld calls, "
           "flood %ld events, QEMU round trip %ld calls, QEMU pipelined %ld calls, %ld idle clients; "
           "median of %d repetition%s\n",
           counts.rt, counts.pipe, counts.pipe / 4, counts.big, counts.flood, counts.qemu_rt, counts.qemu_pipe, counts.clients,
           counts.reps, counts.reps == 1 ? "" : "s");
    printf("many monitors: %ld clients, fan-in %ld events each, paced %ld events each (one per %ld us), "
           "%ld QEMUs with %ld events each; \"vs raw\" of these rows: vs the row of one client alone\n\n",
           counts.fleet, counts.fleet_flood, counts.fleet_paced, counts.pace_us, counts.qemus, counts.qemu_events);
    fflush(stdout);
    for (int rep = 0; rep < counts.reps; rep++) one_repetition(rep);
    print_table();

    server_stop(&mock);
    server_stop(&qemu);
    if (qemus.n) qemu_fleet_stop(&qemus);
    /* Everything libqmp and the raw client do must have worked; peers may fail. */
    int bad = 0;
    for (int i = 0; i < NROWS; i++) {
        int peer = strstr(rows[i].client, "go-qemu") != NULL || strstr(rows[i].client, "qemu.qmp") != NULL ||
                   (i >= QRT_RAW && i <= QPIPE_OOB) || (i >= SQ_STORM1 && i <= SQ_LEAK);
        if (rows[i].error[0] && !peer && selected(i)) bad = 1;
    }
    return bad;
}
