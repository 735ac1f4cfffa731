/*
 * The socket misbehaves in every allowed way at every point: recv(),
 * sendmsg() and poll() on the client's socket fail with EINTR, recv() and
 * sendmsg() with EAGAIN although poll() said ready, and they read or write a
 * single byte.  The client must still complete every command correctly.
 *
 * The interposer: this program defines recv, sendmsg and poll itself
 * (exported with -rdynamic), so libqmp.so's calls, which go through its PLT,
 * land here first (the same effect as an LD_PRELOAD shim, with no preload to
 * fight ASan's interceptors over).  They pass through to the next definition
 * (libc's, or a sanitizer's) except on the client's fd while a schedule is
 * armed: the n-th call there gets fault (n + phase) % cycle.  Each case runs
 * the whole conversation once per phase, so every fault lands on every call.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "peer.h"
#include "robust.h"

/* --- the interposer ---------------------------------------------------------- */

static atomic_int target_fd = -1;
static atomic_uint recv_calls, send_calls, poll_calls;
static unsigned recv_phase, send_phase, poll_phase;
static atomic_uint n_eintr, n_eagain, n_short;

/* Faults by position in the cycle (recv and sendmsg: 4; poll: 3). */
enum { F_EINTR, F_EAGAIN, F_SHORT, F_NONE };

static void *next_symbol(const char *name) {
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        fprintf(stderr, "dlsym(RTLD_NEXT, %s): %s\n", name, dlerror());
        abort();
    }
    return f;
}

ssize_t recv(int fd, void *buf, size_t len, int flags) {
    static ssize_t (*next)(int, void *, size_t, int);
    if (!next) *(void **)&next = next_symbol("recv");
    if (fd >= 0 && fd == atomic_load(&target_fd)) {
        unsigned n = atomic_fetch_add(&recv_calls, 1) + recv_phase;
        switch (n % 4) {
        case F_EINTR: atomic_fetch_add(&n_eintr, 1); errno = EINTR; return -1;
        case F_EAGAIN: atomic_fetch_add(&n_eagain, 1); errno = EAGAIN; return -1;
        case F_SHORT:
            if (len > 1) {
                atomic_fetch_add(&n_short, 1);
                len = 1;
            }
            break;
        }
    }
    return next(fd, buf, len, flags);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
    static ssize_t (*next)(int, const struct msghdr *, int);
    if (!next) *(void **)&next = next_symbol("sendmsg");
    if (fd >= 0 && fd == atomic_load(&target_fd)) {
        unsigned n = atomic_fetch_add(&send_calls, 1) + send_phase;
        switch (n % 4) {
        case F_EINTR: atomic_fetch_add(&n_eintr, 1); errno = EINTR; return -1;
        case F_EAGAIN: atomic_fetch_add(&n_eagain, 1); errno = EAGAIN; return -1;
        case F_SHORT: {
            /* One byte: the first of the first non-empty buffer (fds ride along). */
            for (size_t i = 0; i < msg->msg_iovlen; i++) {
                if (msg->msg_iov[i].iov_len == 0) continue;
                struct iovec one = {msg->msg_iov[i].iov_base, 1};
                struct msghdr m = *msg;
                m.msg_iov = &one;
                m.msg_iovlen = 1;
                atomic_fetch_add(&n_short, 1);
                return next(fd, &m, flags);
            }
            break;
        }
        }
    }
    return next(fd, msg, flags);
}

int poll(struct pollfd *fds, nfds_t nfds, int timeout) {
    static int (*next)(struct pollfd *, nfds_t, int);
    if (!next) *(void **)&next = next_symbol("poll");
    int t = atomic_load(&target_fd);
    for (nfds_t i = 0; t >= 0 && i < nfds; i++) {
        if (fds[i].fd != t) continue;
        unsigned n = atomic_fetch_add(&poll_calls, 1) + poll_phase;
        if (n % 3 == 0) {
            atomic_fetch_add(&n_eintr, 1);
            errno = EINTR;
            return -1;
        }
        break;
    }
    return next(fds, nfds, timeout);
}

static void arm(int fd, unsigned phase) {
    recv_phase = phase % 4;
    send_phase = (phase / 4 + phase) % 4;
    poll_phase = phase % 3;
    atomic_store(&recv_calls, 0);
    atomic_store(&send_calls, 0);
    atomic_store(&poll_calls, 0);
    atomic_store(&target_fd, fd);
}

static void disarm(void) { atomic_store(&target_fd, -1); }

/* --- the conversation ---------------------------------------------------------- */

/* Callbacks record; the test asserts (a failed assert must not longjmp through the library). */
static int replies, bad_replies;
static void on_reply(qmp_client *c, int status, const json_t *result, void *user_data) {
    (void)c;
    (void)user_data;
    if (status != QMP_OK || json_integer_value(json_object_get(result, "n")) != 42) bad_replies++;
    replies++;
}

static char *big_string(size_t n, char fill) {
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, fill, n);
    s[n] = '\0';
    return s;
}

/* Handshake, sync, string, fds, events, big messages both ways, async: all correct. */
static void conversation(unsigned phase) {
    int fd;
    peer *p = peer_new(&fd);
    arm(fd, phase);
    peer_handshake(p, 0, 0);
    qmp_client *c = qmp_client_new();
    assert_non_null(c);
    assert_status(qmp_client_connect_fd(c, fd, peer_io_timeout_ms()), QMP_OK);

    /* A plain command. */
    peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return(p, "{\"status\": \"running\", \"singlestep\": false, \"running\": true}");
    json_t *r = NULL;
    assert_status(qmp_client_execute(c, qmp_command_new("query-status", NULL), &r), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "running");
    json_decref(r);

    /* A command big enough for many partial writes, an event before its reply. */
    char *arg = big_string(robust_under_valgrind() ? 2000 : 20000, 'a');
    char *args = NULL;
    assert_true(asprintf(&args, "{\"command-line\": \"%s\"}", arg) > 0);
    peer_expect(p, "human-monitor-command", args);
    peer_event(p, "STOP", NULL);
    peer_return(p, "\"ok\"");
    char *out = NULL;
    assert_status(qmp_client_hmp(c, arg, &out), QMP_OK);
    assert_string_equal(out, "ok");
    qmp_free(out);
    free(args);
    free(arg);
    assert_status(qmp_client_wait_event(c, "STOP", NULL, 0, 5000, NULL), QMP_OK);

    /* A big reply, read in pieces. */
    char *blob = big_string(robust_under_valgrind() ? 5000 : 100000, 'z');
    char *ret = NULL;
    assert_true(asprintf(&ret, "{\"blob\": \"%s\"}", blob) > 0);
    peer_expect(p, "query-blob", PEER_NO_ARGS);
    peer_return(p, ret);
    char *text = NULL;
    assert_status(qmp_client_execute_str(c, "{\"execute\": \"query-blob\"}", &text), QMP_OK);
    json_t *v = qmp_json_parse(text, strlen(text));
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "blob")), blob);
    json_decref(v);
    qmp_free(text);
    free(ret);
    free(blob);

    /* An fd on the first byte, even when that byte goes alone. */
    int pipefd[2];
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    peer_expect_fds(p, "getfd", "{\"fdname\": \"f\"}", 1, &pipefd[0]);
    peer_return(p, "{}");
    assert_status(qmp_client_getfd(c, pipefd[0], "f"), QMP_OK);
    close(pipefd[0]);
    close(pipefd[1]);

    /* Async, driven by the application's own poll loop (which also gets EINTR). */
    replies = bad_replies = 0;
    for (int i = 0; i < 3; i++) {
        peer_expect(p, "query-n", PEER_NO_ARGS);
        peer_return(p, "{\"n\": 42}");
        assert_status(qmp_client_execute_async(c, qmp_command_new("query-n", NULL), NULL, on_reply, NULL, NULL),
                      QMP_OK);
    }
    assert_int_equal(drive_until(c, &replies, 3), QMP_OK);
    assert_int_equal(bad_replies, 0);

    unsigned calls = atomic_load(&recv_calls) + atomic_load(&send_calls) + atomic_load(&poll_calls);
    disarm();
    assert_true(calls > 0);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_every_phase(void **state) {
    (void)state;
    atomic_store(&n_eintr, 0);
    atomic_store(&n_eagain, 0);
    atomic_store(&n_short, 0);
    unsigned phases = robust_under_valgrind() ? 4 : 24;
    for (unsigned phase = 0; phase < phases; phase++) conversation(phase);
    /* The schedule did bite: each kind of fault happened. */
    assert_true(atomic_load(&n_eintr) > 0);
    assert_true(atomic_load(&n_eagain) > 0);
    assert_true(atomic_load(&n_short) > 0);
    printf("# injected: %u EINTR, %u EAGAIN, %u one-byte reads/writes\n", atomic_load(&n_eintr),
           atomic_load(&n_eagain), atomic_load(&n_short));
}

/* The interposer really sits in front of libqmp (else the test proves nothing). */
static void test_interposer_active(void **state) {
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    arm(qmp_client_get_fd(c), 0);
    assert_client_usable(c, p);
    unsigned seen = atomic_load(&recv_calls) + atomic_load(&send_calls) + atomic_load(&poll_calls);
    disarm();
    assert_true(seen > 0);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interposer_active),
        cmocka_unit_test(test_every_phase),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
