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

void in_child(void (*fn)(void *arg, sample_t *s), void *arg, sample_t *s) {
    int p[2];
    if (pipe(p) < 0) {
        sample_fail(s, "pipe: %s", strerror(errno));
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        sample_t r = {0};
        fn(arg, &r);
        ssize_t w = write(p[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(p[1]);
    sample_t r;
    ssize_t n = pid < 0 ? -1 : read(p[0], &r, sizeof r);
    close(p[0]);
    if (pid > 0) waitpid(pid, NULL, 0);
    if (n == (ssize_t)sizeof r)
        *s = r;
    else
        sample_fail(s, "the measuring child died");
}

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

int qemu_start(server_t *q, const char *qemu_bin) {
    memset(q, 0, sizeof *q);
    q->pid = -1;
    if (make_dir(q, "qmp.sock") < 0) return -1;
    char monitor[sizeof q->sock + 40];
    snprintf(monitor, sizeof monitor, "unix:%s,server=on,wait=off", q->sock);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);  /* "terminating on signal 15" */
        }
        execlp(qemu_bin, qemu_bin, "-M", "none", "-nodefaults", "-display", "none", "-qmp", monitor,
               (char *)NULL);
        fprintf(stderr, "qmp-bench: %s: %s\n", qemu_bin, strerror(errno));
        _exit(127);
    }
    q->pid = pid;
    /* A probe connection costs QEMU one greeting; it accepts the next client once it is gone. */
    for (int i = 0; i < 500; i++) {
        if (can_connect(q->sock)) return 0;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            q->pid = -1;
            break;
        }
        usleep(10000);
    }
    server_stop(q);
    return -1;
}

void server_stop(server_t *srv) {
    if (srv->pid > 0) {
        kill(srv->pid, SIGTERM);
        waitpid(srv->pid, NULL, 0);
        srv->pid = -1;
    }
    if (srv->sock[0]) unlink(srv->sock);
    if (srv->dir[0]) rmdir(srv->dir);
    srv->sock[0] = srv->dir[0] = 0;
}

void go_sample(const char *go_bin, const char *sock, const char *workload, long count, sample_t *s) {
    if (access(go_bin, X_OK) != 0) {
        sample_fail(s, "not built (%s)", go_bin);
        return;
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' -socket '%s' -workload %s -count %ld 2>&1", go_bin, sock, workload, count);
    FILE *f = popen(cmd, "r");
    char line[512] = "";
    if (!f || !fgets(line, sizeof line, f)) {
        sample_fail(s, "no output from %s", go_bin);
    } else if (strncmp(line, "SAMPLE ", 7) == 0) {
        if (sscanf(line + 7, "%lf %lf", &s->value, &s->extra) < 1) sample_fail(s, "bad output: %s", line);
    } else if (strncmp(line, "FAIL ", 5) == 0) {
        line[strcspn(line, "\n")] = 0;
        sample_fail(s, "%s", line + 5);
    } else {
        sample_fail(s, "bad output: %s", line);
    }
    if (f) pclose(f);
}
