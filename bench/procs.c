/* The processes around the benchmarks: the mock, real QEMU, the go-qemu peer, and
   children that measure memory from a clean start; plus timing and RSS. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "scale.h"

void sample_fail(sample_t *s, const char *fmt, ...) {
    if (s->error[0]) return;  /* the first reason is the one to report */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof s->error, fmt, ap);
    va_end(ap);
    for (char *p = s->error; *p; p++)
        if (*p == '\n' || *p == '|') *p = ' ';
}

double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * sysconf(_SC_PAGESIZE);
}

void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

void in_child_sized(void (*fn)(void *arg, sample_t *s), void *arg, sample_t *s, size_t size) {
    int p[2];
    if (pipe(p) < 0) {
        sample_fail(s, "pipe: %s", strerror(errno));
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        sample_t *r = calloc(1, size);
        if (!r) _exit(1);
        fn(arg, r);
        ssize_t w = write(p[1], r, size);
        _exit(w == (ssize_t)size ? 0 : 1);
    }
    close(p[1]);
    sample_t *r = malloc(size);
    ssize_t n = pid < 0 || !r ? -1 : read(p[0], r, size);
    close(p[0]);
    if (pid > 0) waitpid(pid, NULL, 0);
    if (n == (ssize_t)size)
        memcpy(s, r, size);
    else
        sample_fail(s, "the measuring child died");
    free(r);
}

void in_child(void (*fn)(void *arg, sample_t *s), void *arg, sample_t *s) { in_child_sized(fn, arg, s, sizeof *s); }

static int make_dir(server_t *srv, const char *name) {
    const char *tmp = getenv("TMPDIR");
    snprintf(srv->dir, sizeof srv->dir, "%s/qmp-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(srv->dir)) return -1;
    snprintf(srv->sock, sizeof srv->sock, "%s/%s", srv->dir, name);
    return 0;
}

int mock_start(server_t *m, const char *mock_bin, const char *schema) {
    memset(m, 0, sizeof *m);
    m->pid = -1;
    if (make_dir(m, "mock.sock") < 0) return -1;
    int p[2];
    if (pipe(p) < 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl(mock_bin, mock_bin, m->sock, schema, (char *)NULL);
        fprintf(stderr, "qmp-bench: %s: %s\n", mock_bin, strerror(errno));
        _exit(127);
    }
    close(p[1]);
    char line[16] = "";
    ssize_t n = pid < 0 ? -1 : read(p[0], line, sizeof line - 1);
    close(p[0]);
    m->pid = pid;
    if (n < 5 || strncmp(line, "ready", 5) != 0) {
        server_stop(m);
        return -1;
    }
    return 0;
}

static int can_connect(const char *path) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) return 0;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

/* The extra monitors of qemu_start(): DIR/qmp2.sock, DIR/qmp3.sock. */
void qemu_monitor_path(const server_t *q, int k, char *out, size_t n) {
    if (k <= 1) snprintf(out, n, "%s", q->sock);
    else snprintf(out, n, "%s/qmp%d.sock", q->dir, k);
}

static int qemu_spawn_n(server_t *q, const char *qemu_bin, int monitors) {
    memset(q, 0, sizeof *q);
    q->pid = -1;
    if (make_dir(q, "qmp.sock") < 0) return -1;
    char monitor[sizeof q->sock + 40];
    snprintf(monitor, sizeof monitor, "unix:%s,server=on,wait=off", q->sock);
    char extra[2][sizeof q->dir + 60];
    for (int k = 2; k <= 3; k++) {
        char path[sizeof q->dir + 20];
        qemu_monitor_path(q, k, path, sizeof path);
        snprintf(extra[k - 2], sizeof extra[k - 2], "unix:%s,server=on,wait=off", path);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);  /* "terminating on signal 15" */
        }
        if (monitors >= 3)
            execlp(qemu_bin, qemu_bin, "-M", "none", "-nodefaults", "-display", "none", "-qmp", monitor,
                   "-qmp", extra[0], "-qmp", extra[1], (char *)NULL);
        else
            execlp(qemu_bin, qemu_bin, "-M", "none", "-nodefaults", "-display", "none", "-qmp", monitor,
                   (char *)NULL);
        fprintf(stderr, "qmp-bench: %s: %s\n", qemu_bin, strerror(errno));
        _exit(127);
    }
    q->pid = pid;
    return pid < 0 ? -1 : 0;
}

int qemu_spawn(server_t *q, const char *qemu_bin) { return qemu_spawn_n(q, qemu_bin, 1); }

int qemu_wait_ready(server_t *q, double timeout_s) {
    /* A probe connection costs QEMU one greeting; it accepts the next client once it is gone. */
    double end = now_s() + timeout_s;
    while (q->pid > 0 && now_s() < end) {
        if (can_connect(q->sock)) return 0;
        if (waitpid(q->pid, NULL, WNOHANG) == q->pid) {
            q->pid = -1;
            break;
        }
        usleep(10000);
    }
    server_stop(q);
    return -1;
}

int qemu_start(server_t *q, const char *qemu_bin) {
    if (qemu_spawn_n(q, qemu_bin, 3) < 0) {
        server_stop(q);
        return -1;
    }
    return qemu_wait_ready(q, 5);
}

void server_stop(server_t *srv) {
    if (srv->pid > 0) {
        kill(srv->pid, SIGTERM);
        waitpid(srv->pid, NULL, 0);
        srv->pid = -1;
    }
    if (srv->sock[0]) unlink(srv->sock);
    if (srv->dir[0]) {
        for (int k = 2; k <= 3; k++) {
            char path[sizeof srv->dir + 20];
            qemu_monitor_path(srv, k, path, sizeof path);
            unlink(path);  /* qemu_start()'s extra monitors, if any */
        }
        rmdir(srv->dir);
    }
    srv->sock[0] = srv->dir[0] = 0;
}

/* Runs a peer's command and reads its one line of result: "TAG figures..."
   puts the figures into line and returns 0; "FAIL reason", no output or
   anything else fails the sample and returns -1. */
static int peer_line(const char *cmd, const char *prog, const char *tag, char *line, size_t n, sample_t *s) {
    FILE *f = popen(cmd, "r");
    int ok = -1;
    line[0] = 0;
    if (!f || !fgets(line, (int)n, f)) {
        sample_fail(s, "no output from %s", prog);
    } else if (strncmp(line, tag, strlen(tag)) == 0) {
        memmove(line, line + strlen(tag), strlen(line + strlen(tag)) + 1);
        ok = 0;
    } else if (strncmp(line, "FAIL ", 5) == 0) {
        line[strcspn(line, "\n")] = 0;
        sample_fail(s, "%s", line + 5);
    } else {
        sample_fail(s, "bad output: %s", line);
    }
    if (f) pclose(f);
    return ok;
}

void go_sample(const char *go_bin, const char *sock, const char *workload, long count, sample_t *s) {
    if (access(go_bin, X_OK) != 0) {
        sample_fail(s, "not built (%s)", go_bin);
        return;
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' -socket '%s' -workload %s -count %ld 2>&1", go_bin, sock, workload, count);
    char line[512];
    if (peer_line(cmd, go_bin, "SAMPLE ", line, sizeof line, s) == 0 &&
        sscanf(line, "%lf %lf", &s->value, &s->extra) < 1)
        sample_fail(s, "bad output: SAMPLE %s", line);
}

void scale_peer(const char *prog, int python, const char *sock, long clients, long flood, long paced, long interval_us,
                scale_sample_t *r) {
    sample_t *s = &r->s;
    if (!prog || access(prog, python ? R_OK : X_OK) != 0) {
        sample_fail(s, "not built (%s)", prog ? prog : "?");
        return;
    }
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "%s'%s' -socket '%s' -workload fanin -clients %ld -count %ld -paced %ld -interval %ld 2>&1",
             python ? "/usr/bin/python3 " : "", prog, sock, clients, flood, paced, interval_us);
    char line[512];
    double *v = r->fig;
    if (peer_line(cmd, prog, "SCALE ", line, sizeof line, s) == 0 &&
        sscanf(line, "%lf %lf %lf %lf %lf %lf %lf", &v[SCALE_STORM], &v[SCALE_MEM], &v[SCALE_RATE],
               &v[SCALE_FLOOD_P50], &v[SCALE_FLOOD_P99], &v[SCALE_PACED_P50], &v[SCALE_PACED_P99]) != 7)
        sample_fail(s, "bad output: SCALE %s", line);
}
