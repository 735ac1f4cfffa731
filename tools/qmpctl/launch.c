#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exitcode.h"
#include "signals.h"

/* Plain arrays and a pid: what a signal handler may touch. */
static volatile pid_t qemu_pid;
static volatile sig_atomic_t dir_made;
static char dir[PATH_MAX - 32];
static char sock_path[PATH_MAX];
static char log_path[PATH_MAX];

static void remove_dir(void)
{
    if (!dir_made) return;
    unlink(sock_path);
    unlink(log_path);
    rmdir(dir);
    dir_made = 0;
}

void launch_kill_from_signal(void)
{
    pid_t pid = qemu_pid;
    if (pid > 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        qemu_pid = 0;
    }
    remove_dir();
}

void launch_stop(void)
{
    signals_block(1);
    launch_kill_from_signal();
    signals_block(0);
}

static void exec_qemu(const char *qemu, char *const *extra, int n_extra, int log_fd)
{
    /* In the child: own process group (a terminal's ^C goes to qmpctl, which
       cleans up), dies with its parent, output to the log. */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    signals_block(0);

    char qmp_arg[PATH_MAX + 64];
    snprintf(qmp_arg, sizeof qmp_arg, "unix:%s,server=on,wait=off", sock_path);
    char **argv = calloc((size_t)n_extra + 10, sizeof *argv);
    if (!argv) _exit(127);
    int n = 0;
    argv[n++] = (char *)qemu;
    argv[n++] = "-M";
    argv[n++] = "none";
    argv[n++] = "-nodefaults";
    argv[n++] = "-display";
    argv[n++] = "none";
    argv[n++] = "-qmp";
    argv[n++] = qmp_arg;
    for (int i = 0; i < n_extra; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    execvp(qemu, argv);
    fprintf(stderr, "cannot run %s: %s\n", qemu, strerror(errno));
    _exit(127);
}

int launch_start(char *const *extra, int n_extra, int verbose, const char **socket_path)
{
    const char *qemu = getenv("QEMU_SYSTEM");
    if (!qemu || !*qemu) qemu = "qemu-system-x86_64";
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";

    atexit(launch_stop);
    signals_block(1);
    int n = snprintf(dir, sizeof dir, "%s/qmpctl.XXXXXX", tmp);
    if (n < 0 || (size_t)n >= sizeof dir - 16 || !mkdtemp(dir)) {
        signals_block(0);
        warn_msg("cannot create a directory in %s: %s", tmp, strerror(errno));
        return -1;
    }
    dir_made = 1;
    snprintf(sock_path, sizeof sock_path, "%s/qmp.sock", dir);
    snprintf(log_path, sizeof log_path, "%s/qemu.log", dir);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log_fd < 0) {
        warn_msg("cannot create %s: %s", log_path, strerror(errno));
        remove_dir();
        signals_block(0);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) exec_qemu(qemu, extra, n_extra, log_fd);
    int fork_errno = errno;
    close(log_fd);
    if (pid < 0) {
        remove_dir();
        signals_block(0);
        warn_msg("cannot start QEMU: %s", strerror(fork_errno));
        return -1;
    }
    qemu_pid = pid;
    signals_block(0);
    if (verbose) fprintf(stderr, "qmpctl: launched %s (pid %d), QMP at %s\n", qemu, (int)pid, sock_path);
    *socket_path = sock_path;
    return 0;
}

int launch_alive(char *why, size_t why_size)
{
    if (qemu_pid <= 0) {
        snprintf(why, why_size, "is not running");
        return 0;
    }
    int status;
    pid_t r = waitpid(qemu_pid, &status, WNOHANG);
    if (r == 0) return 1;
    signals_block(1);
    qemu_pid = 0;
    signals_block(0);
    if (r < 0) snprintf(why, why_size, "is gone (%s)", strerror(errno));
    else if (WIFEXITED(status)) snprintf(why, why_size, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) snprintf(why, why_size, "was killed by signal %d", WTERMSIG(status));
    else snprintf(why, why_size, "stopped");
    return 0;
}

void launch_show_log(void)
{
    FILE *f = dir_made ? fopen(log_path, "r") : NULL;
    if (!f) return;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stderr);
    fclose(f);
}
