/*
 * The fd another thread is polling is closed late, by that thread, once
 * its poll() returns (closing it under the poller could hand its number to
 * a new socket that the poller then mistakes for its own).  Every other fd
 * the client lets go of must still be closed: here a thread drives the
 * connection and, while its poll() is held back, another thread closes,
 * reconnects and closes again.  Both server ends must then see EOF, and no
 * fd may be left open.
 *
 * The hold: this program defines poll() itself (exported with -rdynamic),
 * so libqmp.so's call lands here first; a poll() on the gated fd waits at a
 * gate after it returns until the test opens it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "robust.h"

/* --- the gate -------------------------------------------------------------------- */

static atomic_int gate_fd = -1;    /* a poll() including this fd is held */
static atomic_int gate_open = 0;   /* set by the test to let it go */
static atomic_int gate_polls = 0;  /* how many held poll() calls have started */

int poll(struct pollfd *fds, nfds_t nfds, int timeout) {
    static int (*next)(struct pollfd *, nfds_t, int);
    if (!next) {
        *(void **)&next = dlsym(RTLD_NEXT, "poll");
        if (!next) abort();
    }
    int g = atomic_load(&gate_fd);
    int held = 0;
    for (nfds_t i = 0; g >= 0 && i < nfds; i++)
        if (fds[i].fd == g) held = 1;
    if (held) atomic_fetch_add(&gate_polls, 1);
    int rc = next(fds, nfds, timeout);
    int saved = errno;
    while (held && !atomic_load(&gate_open)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    errno = saved;
    return rc;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* True when the other end of the server's socket has been closed (EOF, not just quiet). */
static int peer_closed(int server_fd) {
    char c;
    for (int i = 0; i < 100; i++) {
        ssize_t n = recv(server_fd, &c, 1, MSG_DONTWAIT);
        if (n == 0) return 1;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return 0;
        if (n < 0) return 0;
        /* Bytes the client sent (qmp_capabilities): read past them. */
    }
    return 0;
}

/* --- the driver thread ------------------------------------------------------------ */

struct driver {
    qmp_client *c;
    int status;
};

static void *drive(void *arg) {
    struct driver *d = arg;
    /* Waits for an event that never comes: the thread drives, polling the socket. */
    d->status = qmp_client_wait_event(d->c, "STOP", NULL, 0, 60000, NULL);
    return NULL;
}

static void on_connected(qmp_client *c, int status, void *user_data) {
    (void)c;
    *(int *)user_data = status;
}

/* Close, reconnect and close again while the driver's poll() of the first socket is held. */
static void test_close_reconnect_close_while_polled(void **state) {
    (void)state;
    int fds_before = robust_fd_count();
    qmp_client *c = qmp_client_new();
    assert_non_null(c);
    int server_a = -1;
    assert_int_equal(robust_connect_pair(c, &server_a), QMP_OK);

    atomic_store(&gate_open, 0);
    atomic_store(&gate_polls, 0);
    atomic_store(&gate_fd, qmp_client_get_fd(c));
    struct driver d = {c, 1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, drive, &d), 0);
    for (int i = 0; i < 10000 && atomic_load(&gate_polls) == 0; i++) sleep_ms(1);
    assert_int_not_equal(atomic_load(&gate_polls), 0);

    /* The driver is in poll() on the first socket: it cannot close it yet. */
    assert_int_equal(qmp_client_close(c), QMP_OK);

    /* A second connection, up to the greeting (the held driver cannot read it further). */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int connected = 1;
    assert_int_equal(qmp_client_connect_fd_async(c, sv[0], 60000, on_connected, &connected, NULL), QMP_OK);
    int server_b = sv[1];

    /* Closed again: this socket nobody polls, so it is closed now. */
    assert_int_equal(qmp_client_close(c), QMP_OK);
    assert_true(peer_closed(server_b));

    /* The driver's poll() returns; it closes the first socket and its wait ends. */
    atomic_store(&gate_open, 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    atomic_store(&gate_fd, -1);
    assert_int_equal(d.status, QMP_ECANCELLED);
    assert_true(peer_closed(server_a));

    qmp_client_free(c);
    assert_int_equal(connected, QMP_ECANCELLED);
    close(server_a);
    close(server_b);
    assert_int_equal(robust_fd_count(), fds_before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_reconnect_close_while_polled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
