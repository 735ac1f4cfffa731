/*
 * qga.h: starts and stops a real qemu-ga for the tests, safely.
 *
 * qemu-ga run on the host acts on the host, so every instance started here
 * gets -b (--block-rpcs) with QGA_BLOCKED_RPCS, every command that changes
 * the machine; the tests then only use read-only commands, guest-exec of
 * harmless programs, and files in the instance's private directory.
 * The command line is
 *   qemu-ga -m unix-listen -p DIR/qga.sock -t DIR/state -f DIR/qga.pid -b QGA_BLOCKED_RPCS
 * with DIR a fresh private directory; the agent is stopped by its pid.
 */
#ifndef QMP_TEST_QGA_H
#define QMP_TEST_QGA_H

#include <sys/types.h>

/* The one list of the commands no test instance may run (qemu-ga -b). */
#define QGA_BLOCKED_RPCS                                                             \
    "guest-shutdown,guest-suspend-disk,guest-suspend-ram,guest-suspend-hybrid,"      \
    "guest-set-time,guest-fsfreeze-freeze,guest-fsfreeze-freeze-list,"               \
    "guest-fsfreeze-thaw,guest-fstrim,guest-set-user-password,guest-set-vcpus,"      \
    "guest-set-memory-blocks,guest-ssh-add-authorized-keys,"                         \
    "guest-ssh-remove-authorized-keys"

typedef struct qga {
    pid_t pid;
    char dir[256];    /* private directory: socket, state, pid file, files for the tests */
    char sock[300];   /* the agent's socket */
} qga;

/* Makes the private directory and starts qemu-ga (with -b); does not wait for its socket. */
void qga_spawn(qga *g);
/* qga_spawn(), then waits until the socket exists.  Fails the test if qemu-ga is missing or dies. */
void qga_start(qga *g);
/* Stops it by pid (SIGTERM, then waits) and removes the private directory. */
void qga_stop(qga *g);
/* A path in the private directory (static buffer per call site: copy it). */
const char *qga_path(const qga *g, const char *name, char *buf, size_t size);

#endif /* QMP_TEST_QGA_H */
