/*
 * The interop tests' QEMU harness: starts qemu-system-x86_64 or
 * qemu-storage-daemon with a QMP monitor on a Unix socket in a private
 * temporary directory, and stops or kills it.
 *
 * The binaries are $QEMU_SYSTEM / $QEMU_STORAGE_DAEMON when set, else
 * qemu-system-x86_64 / qemu-storage-daemon from PATH.  Without them a test
 * program fails, unless LIBQMP_QEMU_OPTIONAL=1, where it exits 77 (skipped):
 * see qemu_require().
 */
#ifndef LIBQMP_TEST_QEMU_H
#define LIBQMP_TEST_QEMU_H

#include <sys/types.h>

#include <qmp/qmp.h>

typedef enum {
    QEMU_SYSTEM,         /* qemu-system-x86_64 -M none */
    QEMU_STORAGE_DAEMON  /* qemu-storage-daemon */
} qemu_kind;

typedef struct qemu_proc {
    qemu_kind kind;
    pid_t pid;              /* -1 once reaped */
    int stopped;            /* SIGSTOPped by qemu_freeze() */
    char dir[128];          /* private mkdtemp() directory (short: sun_path is 108 bytes) */
    char sock[160];         /* the QMP socket, in dir */
    char log[160];          /* QEMU's stdout and stderr, in dir */
} qemu_proc;

/* The binary to run for kind (from the environment or PATH), or NULL. */
const char *qemu_binary(qemu_kind kind);

/*
 * Called first thing in main(): returns 0 when every binary in kinds is
 * there; otherwise prints what is missing and returns the exit status the
 * program should end with: 77 (skipped) when LIBQMP_QEMU_OPTIONAL=1, else 1.
 */
int qemu_require(const qemu_kind *kinds, int nkinds);

/*
 * Starts a server of this kind with a QMP monitor on q->sock (listening
 * before it accepts, wait=off), plus extra_args (NULL-terminated, may be
 * NULL).  Returns 0, or -1 with a message on stderr.  Does not wait for the
 * socket: qmp_client_connect_unix() retries until it is there.
 */
int qemu_start(qemu_proc *q, qemu_kind kind, const char *const *extra_args);

/* SIGTERM, wait up to 5 s, SIGKILL, reap, print QEMU's log, remove the directory.  Idempotent. */
void qemu_stop(qemu_proc *q);

/* SIGKILL now and reap: the server dies without a word (the "crashed mid-command" case). */
void qemu_kill(qemu_proc *q);

/* SIGSTOP / SIGCONT: the server stays connected but answers nothing while frozen. */
void qemu_freeze(qemu_proc *q);
void qemu_thaw(qemu_proc *q);

/*
 * A new client connected to q (30 s for the socket to appear and the
 * handshake), negotiating "oob" if oob; fails the test on error.
 */
qmp_client *qemu_connect(qemu_proc *q, int oob);

/* The version printed by `BINARY --version` ("... version 7.2.22 ..."); 0 or -1. */
int qemu_binary_version(qemu_kind kind, int *major, int *minor, int *micro);

/* Monotonic milliseconds, for asserting how long a call took. */
long long now_ms(void);

#endif /* LIBQMP_TEST_QEMU_H */
