/*
 * loop-epoll-callbacks: an edge-triggered epoll loop driven by the loop
 * callbacks (qmp_client_set_loop_callbacks): watch() adds, modifies or
 * removes the socket in the epoll set, timer() arms a timerfd.  Both may be
 * called in the thread that submits; epoll_ctl() and timerfd_settime() may
 * be, so a deadline set there wakes the loop at once.
 *
 *   loop-epoll-callbacks /path/to/qmp.sock
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* struct ucred */
#endif
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include <qmp/qmp.h>

/* --- another thread submits while the loop sleeps ------------------------------------ */

static atomic_int status_done, deadline_done, finished;
static atomic_llong sent_at;
static atomic_int failed;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void on_status(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    (void)user_data;
    if (status == QMP_OK) {
        char *text = qmp_json_dumps(result);
        printf("query-status -> %s\n", text);
        qmp_free(text);
    } else {
        printf("query-status failed: %s\n", qmp_error_last()->message);
        failed = 1;
    }
    atomic_store(&status_done, 1);
}

static void on_deadline(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    (void)result;
    (void)user_data;
    long long took = now_ms() - atomic_load(&sent_at);
    if (status == QMP_ETIMEDOUT && took <= 1000) {
        printf("deadline fired after %lld ms (timeout 300 ms, QEMU frozen)\n", took);
    } else {
        printf("deadline: status %d after %lld ms, expected QMP_ETIMEDOUT within 1000 ms\n", status, took);
        failed = 1;
    }
    atomic_store(&deadline_done, 1);
}

static void on_last(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    (void)result;
    (void)user_data;
    if (status != QMP_OK) {
        printf("query-version failed: %s\n", qmp_error_last()->message);
        failed = 1;
    }
    atomic_store(&finished, 1);
}

static int send_async(qmp_client *c, const char *name, int timeout_ms, qmp_reply_fn cb)
{
    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    opts.timeout_ms = timeout_ms;
    if (qmp_client_execute_async(c, qmp_command_new(name, NULL), &opts, cb, NULL, NULL) < 0) {
        fprintf(stderr, "%s: %s\n", name, qmp_error_last()->message);
        return -1;
    }
    return 0;
}

static void wait_flag(atomic_int *flag)
{
    while (!atomic_load(flag))
        usleep(1000);
}

/*
 * Runs in a thread of its own while the loop sleeps with nothing to wait for:
 * a command, then one with a 300 ms timeout while QEMU is stopped (SIGSTOP
 * to the peer of the socket), whose deadline must fire on time although no
 * byte arrives; then a last command whose reply ends the loop.
 */
static void *submitter(void *arg)
{
    qmp_client *c = arg;
    usleep(200 * 1000);
    if (send_async(c, "query-status", 0, on_status) < 0)
        goto out;
    wait_flag(&status_done);

    struct ucred peer;
    socklen_t len = sizeof peer;
    if (getsockopt(qmp_client_get_fd(c), SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0 || kill(peer.pid, SIGSTOP) < 0) {
        perror("stopping QEMU");
        goto out;
    }
    usleep(100 * 1000);  /* the loop is asleep again, with no deadline */
    atomic_store(&sent_at, now_ms());
    int sent = send_async(c, "query-name", 300, on_deadline);
    if (sent == 0)
        wait_flag(&deadline_done);
    kill(peer.pid, SIGCONT);
    if (sent < 0)
        goto out;
    /* QEMU's late answer to query-name matches no call any more and is dropped. */
    if (send_async(c, "query-version", 0, on_last) == 0)
        return NULL;
out:
    failed = 1;
    atomic_store(&finished, 1);
    qmp_client_close(c);  /* wakes the loop, which then sees `finished` */
    return NULL;
}

/* --- the loop --------------------------------------------------------------------------- */

struct loop {
    int ep;       /* the epoll set */
    int timer;    /* a timerfd in it */
    int watched;  /* the socket in it, or -1 (changed by watch() only) */
};

static void watch(qmp_client *c, int fd, int events, void *user_data)
{
    (void)c;
    struct loop *l = user_data;
    struct epoll_event ev = {.events = EPOLLET, .data.fd = fd};
    if (events & QMP_POLL_IN) ev.events |= EPOLLIN;
    if (events & QMP_POLL_OUT) ev.events |= EPOLLOUT;
    if (events == 0) {
        epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);  /* the socket is still open here */
        l->watched = -1;
    } else if (l->watched == fd) {
        epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &ev);   /* re-arms: a pending edge is reported again */
    } else {
        epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev);
        l->watched = fd;
    }
}

static void timer(qmp_client *c, int timeout_ms, void *user_data)
{
    (void)c;
    struct loop *l = user_data;
    struct itimerspec its = {{0, 0}, {0, 0}};  /* -1: disarmed */
    if (timeout_ms == 0) {
        its.it_value.tv_nsec = 1;  /* as soon as possible (0 would disarm) */
    } else if (timeout_ms > 0) {
        its.it_value.tv_sec = timeout_ms / 1000;
        its.it_value.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
    }
    timerfd_settime(l->timer, 0, &its, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s QMP_SOCKET\n", argv[0]);
        return 2;
    }
    struct loop l = {epoll_create1(EPOLL_CLOEXEC), timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK), -1};
    struct epoll_event tev = {.events = EPOLLIN, .data.fd = l.timer};
    epoll_ctl(l.ep, EPOLL_CTL_ADD, l.timer, &tev);

    qmp_client *c = qmp_client_new();
    if (qmp_client_connect_unix(c, argv[1], 5000) < 0) {
        fprintf(stderr, "connect: %s\n", qmp_error_last()->message);
        qmp_client_free(c);
        return 1;
    }
    /* Tells watch() and timer() the current state at once. */
    qmp_client_set_loop_callbacks(c, watch, timer, &l, NULL);
    pthread_t thread;
    pthread_create(&thread, NULL, submitter, c);

    while (!atomic_load(&finished)) {
        struct epoll_event evs[4];
        int n = epoll_wait(l.ep, evs, 4, -1);  /* no timeout of its own: the timerfd is it */
        for (int i = 0; i < n; i++) {
            int revents = 0;
            if (evs[i].data.fd == l.timer) {
                uint64_t expirations;
                if (read(l.timer, &expirations, sizeof expirations) < 0) { /* raced with a re-arm */ }
            } else {
                if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) revents |= QMP_POLL_IN;
                if (evs[i].events & EPOLLOUT) revents |= QMP_POLL_OUT;
            }
            qmp_client_process(c, revents);  /* reads all there is: the edge comes once */
        }
    }
    pthread_join(thread, NULL);
    qmp_client_free(c);  /* watch(fd, 0) runs before the socket closes */
    close(l.timer);
    close(l.ep);
    return failed ? 1 : 0;
}
