/* qga.c: a real qemu-ga per test, always with -b QGA_BLOCKED_RPCS (see qga.h). */
#include "qga.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static const char *qga_binary(void)
{
    const char *env = getenv("QEMU_GA");
    return env && *env ? env : "qemu-ga";
}

const char *qga_path(const qga *g, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", g->dir, name);
    return buf;
}

void qga_spawn(qga *g)
{
    memset(g, 0, sizeof *g);
    const char *tmp = getenv("TMPDIR");
    snprintf(g->dir, sizeof g->dir, "%s/libqmp-qga-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(g->dir));
    char state[300], pidfile[300], log[300];
    snprintf(g->sock, sizeof g->sock, "%s/qga.sock", g->dir);
    snprintf(state, sizeof state, "%s/state", g->dir);
    snprintf(pidfile, sizeof pidfile, "%s/qga.pid", g->dir);
    snprintf(log, sizeof log, "%s/qga.log", g->dir);
    assert_int_equal(mkdir(state, 0700), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Signals the test program blocks must not reach qemu-ga so. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* -b: every command that changes the machine is blocked. */
        execlp(qga_binary(), "qemu-ga", "-m", "unix-listen", "-p", g->sock, "-t", state, "-f", pidfile,
               "-l", log, "-b", QGA_BLOCKED_RPCS, (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", qga_binary(), strerror(errno));
        _exit(127);
    }
    g->pid = pid;
}

void qga_start(qga *g)
{
    qga_spawn(g);
    struct stat st;
    for (int i = 0; i < 1000; i++) {
        if (stat(g->sock, &st) == 0) return;
        int status;
        if (waitpid(g->pid, &status, WNOHANG) == g->pid) {
            g->pid = 0;
            fail_msg("qemu-ga exited before creating %s (status %d); is qemu-guest-agent installed?", g->sock, status);
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("qemu-ga did not create %s within 10 s", g->sock);
}

static void remove_tree(const char *dir)
{
    char cmd[600];
    /* The directory is ours (mkdtemp): its name holds no shell metacharacters. */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

void qga_stop(qga *g)
{
    if (g->pid > 0) {
        /* qemu-ga may miss a SIGTERM that comes while it is still starting:
           SIGKILL after 5 s. */
        kill(g->pid, SIGTERM);
        int status;
        pid_t r = 0;
        for (int i = 0; i < 500 && r == 0; i++) {
            r = waitpid(g->pid, &status, WNOHANG);
            if (r == 0) {
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
        if (r != g->pid) {
            fprintf(stderr, "qga: qemu-ga ignored SIGTERM for 5 s: SIGKILL\n");
            kill(g->pid, SIGKILL);
            while (waitpid(g->pid, &status, 0) < 0 && errno == EINTR) {
            }
        }
        g->pid = 0;
    }
    if (g->dir[0]) remove_tree(g->dir);
    g->dir[0] = 0;
}
