/*
 * loop-libuv: libqmp in a libuv loop (uv_poll_t for the socket, uv_timer_t
 * for the deadline), driven by the loop callbacks.  libuv handles may only
 * be touched in the loop's thread, so watch() and timer() record what they
 * were told and uv_async_send() hands it to the loop, which applies it: a
 * deadline set in another thread wakes the loop at once.
 *
 * The socket may close in another thread only after the loop has stopped
 * polling it: here the connection is closed by the loop's own thread
 * (qmp_client_free() after the loop ends).  A toolstack that closes from
 * other threads makes watch(fd, 0) stop its poller synchronously instead.
 *
 *   loop-libuv /path/to/qmp.sock
 */
/* The shared part: connecting, the thread that submits, the on-time check. */
#include "loop-demo.h"

#include <stdlib.h>
#include <uv.h>

/* --- the loop --------------------------------------------------------------------------- */

struct loop {
    uv_loop_t *uv;
    uv_async_t async;  /* "the callbacks said something" */
    uv_poll_t *poll;   /* polls poll_fd, or NULL */
    int poll_fd;
    uv_timer_t timer;
    qmp_client *c;

    pthread_mutex_t mu;  /* guards what the callbacks said */
    int fd, events;
    int timeout_ms;      /* -2: unchanged */
};

static void stop_if_finished(struct loop *l)
{
    if (demo_finished()) uv_stop(l->uv);
}

static void on_poll(uv_poll_t *h, int status, int what)
{
    struct loop *l = h->data;
    int revents = 0;
    if (status < 0 || (what & (UV_READABLE | UV_DISCONNECT))) revents |= QMP_POLL_IN;
    if (what & UV_WRITABLE) revents |= QMP_POLL_OUT;
    qmp_client_process(l->c, revents);
    stop_if_finished(l);
}

static void on_timer(uv_timer_t *h)
{
    struct loop *l = h->data;
    qmp_client_process(l->c, 0);
    stop_if_finished(l);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

/* In the loop's thread: make the handles match what the callbacks said. */
static void on_async(uv_async_t *h)
{
    struct loop *l = h->data;
    pthread_mutex_lock(&l->mu);
    int fd = l->fd, events = l->events, timeout_ms = l->timeout_ms;
    l->timeout_ms = -2;
    pthread_mutex_unlock(&l->mu);
    if (l->poll && (fd != l->poll_fd || events == 0)) {
        uv_poll_stop(l->poll);
        uv_close((uv_handle_t *)l->poll, free_handle);
        l->poll = NULL;
    }
    if (events && !l->poll) {
        l->poll = malloc(sizeof *l->poll);
        uv_poll_init(l->uv, l->poll, fd);
        l->poll->data = l;
        l->poll_fd = fd;
    }
    if (events)
        uv_poll_start(l->poll, ((events & QMP_POLL_IN) ? UV_READABLE | UV_DISCONNECT : 0) |
                                   ((events & QMP_POLL_OUT) ? UV_WRITABLE : 0), on_poll);
    if (timeout_ms == -1)
        uv_timer_stop(&l->timer);
    else if (timeout_ms >= 0)
        uv_timer_start(&l->timer, on_timer, (uint64_t)timeout_ms, 0);
    stop_if_finished(l);
}

static void watch(qmp_client *c, int fd, int events, void *user_data)
{
    (void)c;
    struct loop *l = user_data;
    pthread_mutex_lock(&l->mu);
    l->fd = fd;
    l->events = events;
    pthread_mutex_unlock(&l->mu);
    uv_async_send(&l->async);
}

static void timer(qmp_client *c, int timeout_ms, void *user_data)
{
    (void)c;
    struct loop *l = user_data;
    pthread_mutex_lock(&l->mu);
    l->timeout_ms = timeout_ms;
    pthread_mutex_unlock(&l->mu);
    uv_async_send(&l->async);
}

int main(int argc, char **argv)
{
    qmp_client *c = demo_connect(argc, argv);
    static struct loop l;
    l.uv = uv_default_loop();
    l.fd = -1;
    l.timeout_ms = -2;
    pthread_mutex_init(&l.mu, NULL);
    uv_async_init(l.uv, &l.async, on_async);
    l.async.data = &l;
    uv_timer_init(l.uv, &l.timer);
    l.timer.data = &l;
    l.c = c;
    qmp_client_set_loop_callbacks(l.c, watch, timer, &l, NULL);
    pthread_t thread = demo_start(l.c);
    uv_run(l.uv, UV_RUN_DEFAULT);
    demo_join(thread);

    /* Remove the callbacks (the loop stops polling the socket), then close. */
    qmp_client_set_loop_callbacks(l.c, NULL, NULL, NULL, NULL);
    on_async(&l.async);
    qmp_client_free(l.c);
    uv_close((uv_handle_t *)&l.async, NULL);
    uv_close((uv_handle_t *)&l.timer, NULL);
    uv_run(l.uv, UV_RUN_DEFAULT);  /* runs the closes */
    uv_loop_close(l.uv);
    pthread_mutex_destroy(&l.mu);
    return demo_exit_status();
}
