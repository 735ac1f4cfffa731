/*
 * qmp-bench: the benchmarks in one run and one table.
 *
 *   qmp-bench [--quick] [--reps N] [--mock PATH] [--go PATH] [--schema PATH] [--qemu BIN]
 *             [--only rt|pipe|big|flood|qemu|clients|schema] [--client TEXT]
 *
 * (The "schema" rows measure command validation and schema loading.)
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

#ifndef BENCH_DATA_DIR
#define BENCH_DATA_DIR "bench/data"
#endif
#define MAX_REPS 51

typedef struct {
    long rt, pipe, big, flood, qemu_rt, clients, validate;
    int reps;
} counts_t;

static const counts_t full_counts = {20000, 200000, 100, 1000000, 3000, 1000, 200000, 5};
static const counts_t quick_counts = {200, 2000, 3, 5000, 50, 50, 2000, 1};

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
    QRT_RAW, QRT_JSON, QRT_STR, QRT_GO,
    CLI_LIB, CLI_GO,
    VRT_OFF, VRT_ON, VCPU_BA_BUILD, VCPU_BA, VCPU_DM_BUILD, VCPU_DM, SCHEMA_RAW, SCHEMA_LOAD,
    NROWS
};

#define MIB (1.0 / 1048576.0)
static row_t rows[NROWS] = {
    [RT_RAW] = {"round trip vs mock (query-status)", "raw C: write() + json_loadb", "us", T_NONE, 0, -1, 0, 1},
    [RT_JSON] = {"", "libqmp qmp_client_execute (json_t)", "us", T_RATIO_MAX, 1.10, RT_RAW, 0, 1},
    [RT_STR] = {"", "libqmp qmp_client_execute_str", "us", T_RATIO_MAX, 1.10, RT_RAW, 0, 1},
    [RT_CALL] = {"", "libqmp qmp_call_execute_str (a cancellable handle per call)", "us", T_NONE, 0, RT_RAW, 0, 1},
    [RT_LOOP_WAKE] = {"", "libqmp execute_async, loop thread on the wakeup fd", "us", T_NONE, 0, RT_RAW, 0, 1},
    [RT_LOOP_CB] = {"", "libqmp execute_async, loop thread told by callbacks", "us", T_NONE, 0, RT_RAW, 0, 1},
    [RT_GO] = {"", "go-qemu Run", "us", T_NONE, 0, RT_RAW, 0, 1},
    [PIPE_RAW] = {"throughput vs mock (query-status)", "raw C, sequential (from its round trip)", "calls/s", T_NONE, 0, -1, 1, 1},
    [PIPE_LIB] = {"", "libqmp execute_async, 64 in flight", "calls/s", T_RATIO_MIN, 4.0, PIPE_RAW, 0, 1},
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
    [QRT_RAW] = {"round trip vs real QEMU 7.2 (-M none)", "raw C: write() + json_loadb", "us", T_NONE, 0, -1, 0, 1},
    [QRT_JSON] = {"", "libqmp qmp_client_execute (json_t)", "us", T_RATIO_MAX, 1.05, QRT_RAW, 0, 1},
    [QRT_STR] = {"", "libqmp qmp_client_execute_str", "us", T_RATIO_MAX, 1.05, QRT_RAW, 0, 1},
    [QRT_GO] = {"", "go-qemu Run", "us", T_NONE, 0, QRT_RAW, 0, 1},
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

static void measure(int row, sample_t *s) {
    job_t job = {row};
    switch (row) {
    case RT_RAW: raw_round_trip(mock.sock, counts.rt, s); break;
    case RT_JSON: lib_round_trip(mock.sock, counts.rt, 0, s); break;
    case RT_STR: lib_round_trip(mock.sock, counts.rt, 1, s); break;
    case RT_CALL: lib_round_trip(mock.sock, counts.rt, 2, s); break;
    case RT_LOOP_WAKE: lib_loop_round_trip(mock.sock, counts.rt, 0, s); break;
    case RT_LOOP_CB: lib_loop_round_trip(mock.sock, counts.rt, 1, s); break;
    case RT_GO: go_sample(go_bin, mock.sock, "rt", counts.rt, s); break;
    case PIPE_LIB: lib_pipelined(mock.sock, counts.pipe, 64, s); break;
    case PIPE_GO: go_sample(go_bin, mock.sock, "pipe", counts.pipe / 4, s); break;
    case BIG_RAW: raw_big_reply(mock.sock, counts.big, s); break;
    case BIG_STR: lib_big_reply(mock.sock, counts.big, 1, s); break;
    case BIG_JSON: lib_big_reply(mock.sock, counts.big, 0, s); break;
    case BIG_GO: go_sample(go_bin, mock.sock, "big", counts.big, s); break;
    case FLOOD_RAW: case FLOOD_NAMEONLY: case FLOOD_DATAREAD: case FLOOD_WAITEV: case FLOOD_LOOP:
        in_child(flood_job, &job, s);
        break;
    case FLOOD_GO: go_sample(go_bin, mock.sock, "flood", counts.flood, s); break;
    case QRT_RAW: case QRT_JSON: case QRT_STR: case QRT_GO:
        if (!qemu_up) {
            sample_fail(s, "%s", qemu_error);
        } else if (row == QRT_RAW) {
            raw_round_trip(qemu.sock, counts.qemu_rt, s);
        } else if (row == QRT_GO) {
            go_sample(go_bin, qemu.sock, "rt", counts.qemu_rt, s);
        } else {
            lib_round_trip(qemu.sock, counts.qemu_rt, row == QRT_STR, s);
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
    {"flood", FLOOD_RAW, RSS_GO}, {"qemu", QRT_RAW, QRT_GO}, {"clients", CLI_LIB, CLI_GO},
    {"schema", VRT_OFF, SCHEMA_LOAD},
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
        measure(row, &s);
        record(row, &s);
        if (getenv("QMP_BENCH_VERBOSE"))
            fprintf(stderr, "rep %d %-40s %-42s %12.3f %s (%.1fs)\n", rep + 1, rows[row].workload,
                    rows[row].client, s.value, s.error, now_s() - t0);
        /* The figures that come out of another row's sample. */
        if (row == RT_RAW) {
            sample_t d = s;
            d.value = s.value > 0 ? 1e6 / s.value : 0;
            record(PIPE_RAW, &d);
        }
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
                            "                 [--only rt|pipe|big|flood|qemu|clients|schema] [--client TEXT]\n");
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

    print_machine();
    printf("counts: round trip %ld calls, pipelined %ld calls (go-qemu %ld), big reply %ld calls, "
           "flood %ld events, QEMU round trip %ld calls, %ld idle clients; median of %d repetition%s\n\n",
           counts.rt, counts.pipe, counts.pipe / 4, counts.big, counts.flood, counts.qemu_rt, counts.clients,
           counts.reps, counts.reps == 1 ? "" : "s");
    fflush(stdout);
    for (int rep = 0; rep < counts.reps; rep++) one_repetition(rep);
    print_table();

    server_stop(&mock);
    server_stop(&qemu);
    /* Everything libqmp and the raw client do must have worked; peers may fail. */
    int bad = 0;
    for (int i = 0; i < NROWS; i++) {
        int peer = strstr(rows[i].client, "go-qemu") != NULL || (i >= QRT_RAW && i <= QRT_GO);
        if (rows[i].error[0] && !peer && selected(i)) bad = 1;
    }
    return bad;
}
