/*
 * test-fd-ownership: the copies the client makes of a command's fds
 * (qmp_exec_options.fds) are closed whatever happens once they exist.
 *
 * An allocation fails at each point in turn between the client's first
 * copy of the fds and the sendmsg() that carries them; each time the call
 * must fail with QMP_ENOMEM, exactly the fds that were open before it must
 * be open after it, and the client must then send the same command with its
 * fds as if nothing had happened.
 *
 * The interposer: this program replaces the global operator new and
 * delete (as C++ allows), and defines fcntl64 and sendmsg itself (exported
 * with -rdynamic), so libqmp.so's calls land here first.  A test arms the
 * calling thread with k; the thread's next fcntl(F_DUPFD_CLOEXEC) opens a
 * window in which its k-th allocation throws std::bad_alloc; a sendmsg()
 * with SCM_RIGHTS from that thread closes the window.  Other threads (the
 * scripted peer) are never affected.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <new>

extern "C" {
#include <cmocka.h>

#include "peer.h"
#include "robust.h"
}

/* --- the interposer ---------------------------------------------------------- */

static thread_local int arm_k;       // > 0: the window opens at this thread's next fd copy
static thread_local bool window;     // allocations are being counted
static thread_local int countdown;   // the allocation that fails when it reaches 0
static thread_local int injected;    // failures injected in this thread

void *operator new(std::size_t n) {
    if (window && --countdown == 0) {
        window = false;
        injected++;
        throw std::bad_alloc();
    }
    void *p = std::malloc(n ? n : 1);
    if (!p) throw std::bad_alloc();
    return p;
}

void operator delete(void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }

static void *next_symbol(const char *name) {
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        fprintf(stderr, "dlsym(RTLD_NEXT, %s): %s\n", name, dlerror());
        abort();
    }
    return f;
}

extern "C" int fcntl64(int fd, int cmd, ...) {
    static int (*next)(int, int, ...);
    if (!next) *(void **)&next = next_symbol("fcntl64");
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);  // as glibc reads it: every fcntl argument fits a pointer
    va_end(ap);
    if (cmd == F_DUPFD_CLOEXEC && arm_k > 0) {
        window = true;
        countdown = arm_k;
        arm_k = 0;
    }
    return next(fd, cmd, arg);
}

extern "C" ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
    static ssize_t (*next)(int, const struct msghdr *, int);
    if (!next) *(void **)&next = next_symbol("sendmsg");
    if (msg->msg_controllen > 0) window = false;
    return next(fd, msg, flags);
}

/* --- the tests --------------------------------------------------------------------- */

static void arm(int k) {
    arm_k = k;
    window = false;
    injected = 0;
}

static void disarm(void) {
    arm_k = 0;
    window = false;
}

static void replied(qmp_client *, int status, const json_t *, void *user_data) {
    if (status == QMP_OK) (*static_cast<int *>(user_data))++;
}

/*
 * Runs add-fd with two fds once per allocation after the first copy,
 * synchronously or asynchronously; returns how many failures were injected.
 */
static int sweep(bool async) {
    peer *p;
    qmp_client *c = connect_client(&p);
    int pipefd[2];
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    opts.fds = pipefd;
    opts.nfds = 2;

    int points = 0;
    for (int k = 1;; k++) {
        peer_expect_fds(p, "add-fd", PEER_NO_ARGS, 2, pipefd);
        peer_return(p, "{\"fdset-id\": 0, \"fd\": 25}");
        int before = robust_fd_count();
        int replies = 0;
        arm(k);
        int rc = async ? qmp_client_execute_async(c, qmp_command_new("add-fd", NULL), &opts, replied, &replies, NULL)
                       : qmp_client_execute_full(c, qmp_command_new("add-fd", NULL), &opts, NULL);
        disarm();
        if (!injected) {
            // k is past the last allocation before the send: the command went out.
            assert_status(rc, QMP_OK);
            if (async) {
                peer_expect(p, "query-status", PEER_NO_ARGS);
                peer_return(p, "{\"status\": \"running\"}");
                assert_status(qmp_client_execute(c, qmp_command_new("query-status", NULL), NULL), QMP_OK);
                assert_int_equal(replies, 1);
            }
            break;
        }
        points++;
        assert_status(rc, QMP_ENOMEM);
        assert_int_equal(replies, 0);
        // The copies are gone with the failed call; the caller's fds stay open.
        assert_int_equal(robust_fd_count(), before);
        assert_true(fcntl(pipefd[0], F_GETFD) != -1);
        assert_true(fcntl(pipefd[1], F_GETFD) != -1);
        // Nothing of the failed call was queued: the same command goes out now, with its fds.
        assert_status(qmp_client_execute_full(c, qmp_command_new("add-fd", NULL), &opts, NULL), QMP_OK);
        assert_int_equal(robust_fd_count(), before);
    }
    assert_client_usable(c, p);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
    close(pipefd[0]);
    close(pipefd[1]);
    return points;
}

static void test_sync_call_closes_its_copies(void **) {
    int before = robust_fd_count();
    int points = sweep(false);
    printf("# execute_full: %d allocation failures after the fds were copied\n", points);
    assert_true(points > 0);
    assert_int_equal(robust_fd_count(), before);
}

static void test_async_call_closes_its_copies(void **) {
    int before = robust_fd_count();
    int points = sweep(true);
    printf("# execute_async: %d allocation failures after the fds were copied\n", points);
    assert_true(points > 0);
    assert_int_equal(robust_fd_count(), before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_call_closes_its_copies),
        cmocka_unit_test(test_async_call_closes_its_copies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
