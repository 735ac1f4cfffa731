/*
 * loop-epoll-callbacks: an edge-triggered epoll loop driven by the loop
 * callbacks (qmp_client_set_loop_callbacks): watch() adds, modifies or
 * removes the socket in the epoll set, timer() arms a timerfd.  Both may be
 * called in the thread that submits; epoll_ctl() and timerfd_settime() may
 * be, so a deadline set there wakes the loop at once.
 *
 *   loop-epoll-callbacks /path/to/qmp.sock
 */
/* The shared part: connecting, the thread that submits, the on-time check. */
#include "loop-demo.h"

#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

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
    qmp_client *c = demo_connect(argc, argv);
    struct loop l = {epoll_create1(EPOLL_CLOEXEC), timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK), -1};
    struct epoll_event tev = {.events = EPOLLIN, .data.fd = l.timer};
    epoll_ctl(l.ep, EPOLL_CTL_ADD, l.timer, &tev);

    /* Tells watch() and timer() the current state at once. */
    qmp_client_set_loop_callbacks(c, watch, timer, &l, NULL);
    pthread_t thread = demo_start(c);

    while (!demo_finished()) {
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
    demo_join(thread);
    qmp_client_free(c);  /* watch(fd, 0) runs before the socket closes */
    close(l.timer);
    close(l.ep);
    return demo_exit_status();
}
