/* The interop tests' QEMU harness (see qemu.h). */
#include "qemu.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static const char *const default_names[] = {
    [QEMU_SYSTEM] = "qemu-system-x86_64",
    [QEMU_STORAGE_DAEMON] = "qemu-storage-daemon",
};
static const char *const env_names[] = {
    [QEMU_SYSTEM] = "QEMU_SYSTEM",
    [QEMU_STORAGE_DAEMON] = "QEMU_STORAGE_DAEMON",
};

long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* name itself if it has a slash, else the first executable of that name in PATH. */
static int find_executable(const char *name, char *out, size_t outlen)
{
    if (strchr(name, '/')) {
        if (access(name, X_OK) != 0)
            return -1;
        snprintf(out, outlen, "%s", name);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len > 0 && (size_t)snprintf(out, outlen, "%.*s/%s", (int)len, path, name) < outlen) {
            struct stat st;
            if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
                return 0;
        }
        path += len;
        if (*path == ':')
            path++;
    }
    return -1;
}

const char *qemu_binary(qemu_kind kind)
{
    static char found[2][PATH_MAX];
    const char *name = getenv(env_names[kind]);
    if (!name || !*name)
        name = default_names[kind];
    if (find_executable(name, found[kind], sizeof found[kind]) < 0)
        return NULL;
    return found[kind];
}

int qemu_require(const qemu_kind *kinds, int nkinds)
{
    int missing = 0;
    for (int i = 0; i < nkinds; i++) {
        if (!qemu_binary(kinds[i])) {
            const char *env = getenv(env_names[kinds[i]]);
            if (env && *env)
                fprintf(stderr, "interop: %s not found: %s=%s is not executable\n",
                        default_names[kinds[i]], env_names[kinds[i]], env);
            else
                fprintf(stderr, "interop: %s not found in PATH: install %s (scripts/setup.sh) "
                        "or set %s\n", default_names[kinds[i]],
                        kinds[i] == QEMU_SYSTEM ? "qemu-system-x86" : "qemu-system-common",
                        env_names[kinds[i]]);
            missing = 1;
        }
    }
    if (!missing)
        return 0;
    const char *optional = getenv("LIBQMP_QEMU_OPTIONAL");
    if (optional && strcmp(optional, "1") == 0) {
        fprintf(stderr, "interop: LIBQMP_QEMU_OPTIONAL=1: skipping\n");
        return 77;
    }
    fprintf(stderr, "interop: QEMU is required (set LIBQMP_QEMU_OPTIONAL=1 to skip instead)\n");
    return 1;
}

static int make_private_dir(qemu_proc *q)
{
    /* sun_path holds 108 bytes: keep the socket path short. */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > 60)
        tmp = "/tmp";
    snprintf(q->dir, sizeof q->dir, "%s/libqmp-interop-XXXXXX", tmp);
    if (!mkdtemp(q->dir)) {
        fprintf(stderr, "interop: mkdtemp(%s): %s\n", q->dir, strerror(errno));
        q->dir[0] = '\0';
        return -1;
    }
    snprintf(q->sock, sizeof q->sock, "%s/qmp.sock", q->dir);
    snprintf(q->log, sizeof q->log, "%s/qemu.log", q->dir);
    return 0;
}

static void remove_private_dir(qemu_proc *q)
{
    if (!q->dir[0])
        return;
    DIR *d = opendir(q->dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    rmdir(q->dir);
    q->dir[0] = '\0';
}

int qemu_start(qemu_proc *q, qemu_kind kind, const char *const *extra_args)
{
    memset(q, 0, sizeof *q);
    q->kind = kind;
    q->pid = -1;

    const char *bin = qemu_binary(kind);
    if (!bin) {
        fprintf(stderr, "interop: %s not found\n", default_names[kind]);
        return -1;
    }
    if (make_private_dir(q) < 0)
        return -1;

    char monitor[PATH_MAX + 64];
    const char *argv[64];
    int n = 0;
    argv[n++] = bin;
    if (kind == QEMU_SYSTEM) {
        snprintf(monitor, sizeof monitor, "unix:%s,server=on,wait=off", q->sock);
        argv[n++] = "-M";
        argv[n++] = "none";
        argv[n++] = "-nodefaults";
        argv[n++] = "-display";
        argv[n++] = "none";
        argv[n++] = "-qmp";
        argv[n++] = monitor;
    } else {
        snprintf(monitor, sizeof monitor, "socket,id=m,path=%s,server=on,wait=off", q->sock);
        argv[n++] = "--chardev";
        argv[n++] = monitor;
        argv[n++] = "--monitor";
        argv[n++] = "chardev=m,mode=control";
    }
    for (int i = 0; extra_args && extra_args[i]; i++) {
        if (n >= 63) {
            fprintf(stderr, "interop: too many QEMU arguments\n");
            remove_private_dir(q);
            return -1;
        }
        argv[n++] = extra_args[i];
    }
    argv[n] = NULL;

    int logfd = open(q->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (logfd < 0) {
        fprintf(stderr, "interop: %s: %s\n", q->log, strerror(errno));
        remove_private_dir(q);
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "interop: fork: %s\n", strerror(errno));
        close(logfd);
        remove_private_dir(q);
        return -1;
    }
    if (pid == 0) {
        /* QEMU must not outlive a test program that crashed or timed out. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) {
            dup2(null, 0);
            if (null > 0)
                close(null);
        }
        dup2(logfd, 1);
        dup2(logfd, 2);
        /* Signals the test program blocks or ignores must not reach QEMU so. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execv(bin, (char *const *)argv);
        dprintf(2, "interop: exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(logfd);
    q->pid = pid;
    return 0;
}

/* Copies QEMU's log to stderr (the test log), minus the expected goodbye. */
static void print_log(qemu_proc *q)
{
    FILE *f = fopen(q->log, "r");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "terminating on signal"))
            continue;
        fprintf(stderr, "qemu[%s]: %s%s", default_names[q->kind], line,
                strchr(line, '\n') ? "" : "\n");
    }
    fclose(f);
}

static void reap(qemu_proc *q)
{
    int status;
    while (waitpid(q->pid, &status, 0) < 0 && errno == EINTR)
        ;
    q->pid = -1;
    q->stopped = 0;
}

void qemu_kill(qemu_proc *q)
{
    if (q->pid <= 0)
        return;
    kill(q->pid, SIGKILL);
    reap(q);
}

void qemu_freeze(qemu_proc *q)
{
    if (q->pid > 0 && kill(q->pid, SIGSTOP) == 0) {
        /* SIGSTOP is asynchronous: wait until the process really stopped. */
        int status;
        if (waitpid(q->pid, &status, WUNTRACED) == q->pid && WIFSTOPPED(status))
            q->stopped = 1;
    }
}

void qemu_thaw(qemu_proc *q)
{
    if (q->pid > 0 && q->stopped) {
        kill(q->pid, SIGCONT);
        q->stopped = 0;
    }
}

void qemu_stop(qemu_proc *q)
{
    if (q->pid > 0) {
        qemu_thaw(q);
        kill(q->pid, SIGTERM);
        int status;
        pid_t r = 0;
        for (int i = 0; i < 500; i++) {
            r = waitpid(q->pid, &status, WNOHANG);
            if (r != 0)
                break;
            sleep_ms(10);
        }
        if (r == q->pid) {
            q->pid = -1;
        } else {
            fprintf(stderr, "interop: %s ignored SIGTERM for 5 s: SIGKILL\n", default_names[q->kind]);
            qemu_kill(q);
        }
    }
    if (q->dir[0]) {
        print_log(q);
        remove_private_dir(q);
    }
}

qmp_client *qemu_connect(qemu_proc *q, int oob)
{
    qmp_client *c = qmp_client_new();
    assert_non_null(c);
    if (oob)
        assert_int_equal(qmp_client_set_oob(c, 1), QMP_OK);
    /* QEMU may start slowly on a loaded machine: a generous handshake budget. */
    int rc = qmp_client_connect_unix(c, q->sock, 30000);
    if (rc != QMP_OK) {
        fprintf(stderr, "interop: connecting to %s: %d %s\n", q->sock, rc, qmp_error_last()->message);
        qmp_client_free(c);
        print_log(q);
        fail_msg("qmp_client_connect_unix() = %d", rc);
    }
    return c;
}

int qemu_binary_version(qemu_kind kind, int *major, int *minor, int *micro)
{
    const char *bin = qemu_binary(kind);
    if (!bin)
        return -1;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        execl(bin, bin, "--version", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char buf[512];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof buf - 1 && ((r = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0 ||
                                    (r < 0 && errno == EINTR)))
        if (r > 0)
            len += (size_t)r;
    buf[len] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    const char *v = strstr(buf, "version ");
    if (!v || sscanf(v, "version %d.%d.%d", major, minor, micro) != 3)
        return -1;
    return 0;
}
