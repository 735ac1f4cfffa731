/*
 * loop-libevent: libqmp in a libevent loop (event_new for the socket, an
 * evtimer for the deadline), driven by the loop callbacks.  With
 * evthread_use_pthreads(), event_add() and event_del() may be called from
 * the thread that submits and wake the loop, so a deadline set there fires
 * on time.
 *
 *   loop-libevent /path/to/qmp.sock
 */
/* The shared part: connecting, the thread that submits, the on-time check. */
#include "loop-demo.h"

#include <event2/event.h>
#include <event2/thread.h>

/* --- the loop --------------------------------------------------------------------------- */

struct loop {
    struct event_base *base;
    struct event *io;     /* the socket's event, or NULL */
    struct event *timer;  /* the deadline */
    qmp_client *c;
};

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct loop *l = arg;
    int revents = 0;
    if (what & EV_READ) revents |= QMP_POLL_IN;
    if (what & EV_WRITE) revents |= QMP_POLL_OUT;
    qmp_client_process(l->c, revents);
    if (demo_finished()) event_base_loopbreak(l->base);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct loop *l = arg;
    qmp_client_process(l->c, 0);
    if (demo_finished()) event_base_loopbreak(l->base);
}

static void watch(qmp_client *c, int fd, int events, void *user_data)
{
    (void)c;
    struct loop *l = user_data;
    if (l->io) {
        event_free(l->io);  /* deletes it first; the socket is still open here */
        l->io = NULL;
    }
    if (events == 0)
        return;
    short what = EV_PERSIST;
    if (events & QMP_POLL_IN) what |= EV_READ;
    if (events & QMP_POLL_OUT) what |= EV_WRITE;
    l->io = event_new(l->base, fd, what, on_io, l);
    event_add(l->io, NULL);
}

static void timer(qmp_client *c, int timeout_ms, void *user_data)
{
    (void)c;
    struct loop *l = user_data;
    if (timeout_ms < 0) {
        evtimer_del(l->timer);
        return;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(l->timer, &tv);  /* replaces the one pending */
}

int main(int argc, char **argv)
{
    qmp_client *c = demo_connect(argc, argv);
    evthread_use_pthreads();
    struct loop l = {event_base_new(), NULL, NULL, c};
    l.timer = evtimer_new(l.base, on_timer, &l);
    qmp_client_set_loop_callbacks(l.c, watch, timer, &l, NULL);
    pthread_t thread = demo_start(l.c);
    event_base_loop(l.base, EVLOOP_NO_EXIT_ON_EMPTY);
    demo_join(thread);
    qmp_client_free(l.c);  /* watch(fd, 0) frees the socket's event first */
    event_free(l.timer);
    event_base_free(l.base);
    return demo_exit_status();
}
