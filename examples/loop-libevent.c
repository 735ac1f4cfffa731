/*
 * loop-libevent: libqmp in a libevent loop (event_new for the socket, an
 * evtimer for the deadline), driven by the loop callbacks.  With
 * evthread_use_pthreads(), event_add() and event_del() may be called from
 * the thread that submits and wake the loop, so a deadline set there fires
 * on time.
 *
 *   loop-libevent /path/to/qmp.sock
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
#include <event2/event.h>
#include <event2/thread.h>

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
    if (atomic_load(&finished)) event_base_loopbreak(l->base);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct loop *l = arg;
    qmp_client_process(l->c, 0);
    if (atomic_load(&finished)) event_base_loopbreak(l->base);
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
    if (argc != 2) {
        fprintf(stderr, "usage: %s QMP_SOCKET\n", argv[0]);
        return 2;
    }
    evthread_use_pthreads();
    struct loop l = {event_base_new(), NULL, NULL, qmp_client_new()};
    l.timer = evtimer_new(l.base, on_timer, &l);
    if (qmp_client_connect_unix(l.c, argv[1], 5000) < 0) {
        fprintf(stderr, "connect: %s\n", qmp_error_last()->message);
        return 1;
    }
    qmp_client_set_loop_callbacks(l.c, watch, timer, &l, NULL);
    pthread_t thread;
    pthread_create(&thread, NULL, submitter, l.c);
    event_base_loop(l.base, EVLOOP_NO_EXIT_ON_EMPTY);
    pthread_join(thread, NULL);
    qmp_client_free(l.c);  /* watch(fd, 0) frees the socket's event first */
    event_free(l.timer);
    event_base_free(l.base);
    return failed ? 1 : 0;
}
