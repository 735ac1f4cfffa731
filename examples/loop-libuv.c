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
#include <uv.h>

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
    if (atomic_load(&finished)) uv_stop(l->uv);
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
    if (argc != 2) {
        fprintf(stderr, "usage: %s QMP_SOCKET\n", argv[0]);
        return 2;
    }
    static struct loop l;
    l.uv = uv_default_loop();
    l.fd = -1;
    l.timeout_ms = -2;
    pthread_mutex_init(&l.mu, NULL);
    uv_async_init(l.uv, &l.async, on_async);
    l.async.data = &l;
    uv_timer_init(l.uv, &l.timer);
    l.timer.data = &l;
    l.c = qmp_client_new();
    if (qmp_client_connect_unix(l.c, argv[1], 5000) < 0) {
        fprintf(stderr, "connect: %s\n", qmp_error_last()->message);
        return 1;
    }
    qmp_client_set_loop_callbacks(l.c, watch, timer, &l, NULL);
    pthread_t thread;
    pthread_create(&thread, NULL, submitter, l.c);
    uv_run(l.uv, UV_RUN_DEFAULT);
    pthread_join(thread, NULL);

    /* Remove the callbacks (the loop stops polling the socket), then close. */
    qmp_client_set_loop_callbacks(l.c, NULL, NULL, NULL, NULL);
    on_async(&l.async);
    qmp_client_free(l.c);
    uv_close((uv_handle_t *)&l.async, NULL);
    uv_close((uv_handle_t *)&l.timer, NULL);
    uv_run(l.uv, UV_RUN_DEFAULT);  /* runs the closes */
    uv_loop_close(l.uv);
    pthread_mutex_destroy(&l.mu);
    return failed ? 1 : 0;
}
