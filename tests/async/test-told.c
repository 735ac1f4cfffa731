/*
 * test-told: loops that are told, not asked (qmp-client.h,
 * qmp_client_get_wakeup_fd() and qmp_client_set_loop_callbacks()), against
 * the echo peer, with the loop in a thread of its own and work submitted
 * from others:
 *
 *   - a deadline set from another thread fires on time (a 300 ms timeout
 *     runs its callback within 1 s) although the loop slept with no
 *     deadline, with the wakeup fd and with the callbacks;
 *   - commands submitted from several threads while the loop sleeps are all
 *     sent and answered; 100,000 from 4 threads lose no wakeup;
 *   - closing from another thread unwatches the fd before it is closed;
 *   - submitting from inside the watch and timer callbacks does not deadlock;
 *   - set, replace, remove and free run each destroy exactly once;
 *   - a reconnect announces the new fd and the wakeup fd stays;
 *   - an edge-triggered epoll loop gets replies far bigger than one read;
 *   - a client attached to a GMainContext in another thread (woken through
 *     the same wakeup fd) fires a deadline set from this thread on time.
 *
 * LIBQMP_TEST_VALGRIND=1 and ThreadSanitizer builds run fewer commands,
 * and under valgrind "on time" allows 3 s instead of 1 s (everything runs
 * some 20 times slower there).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <qmp/qmp.h>

#include <qmp/qmp-glib.h>

#include "echo-peer.h"
#include "helpers.h"
#include "loop-thread.h"

static int on_time_ms(void) { return t_valgrind() ? 3000 : 1000; }

static void signal_fd(int fd)
{
    uint64_t one = 1;
    ssize_t r = write(fd, &one, sizeof one);
    (void)r;
}

static void drain_fd(int fd)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
}

/* A connected client on a new echo peer. */
static qmp_client *connect_echo(echo_peer **peer)
{
    int fd = -1;
    *peer = echo_peer_new(&fd, 0, 0);
    assert_non_null(*peer);
    qmp_client *c = qmp_client_new();
    assert_non_null(c);
    assert_int_equal(qmp_client_connect_fd(c, fd, t_io_timeout_ms()), QMP_OK);
    return c;
}

static void free_echo(qmp_client *c, echo_peer *peer)
{
    qmp_client_free(c);
    assert_int_equal(echo_peer_finish(peer), 0);
}

/* --- a poll() loop that watches the wakeup fd ------------------------------------------- */

struct wake_loop {
    qmp_client *c;
    int stop_fd;          /* an eventfd that ends the loop */
    pthread_t thread;
    atomic_int rounds;    /* poll() calls so far */
    atomic_int sleeping;  /* 1 while in poll() with no deadline (timeout -1) */
};

static void *wake_loop_main(void *arg)
{
    struct wake_loop *l = arg;
    int wake = qmp_client_get_wakeup_fd(l->c);
    for (;;) {
        int fd = qmp_client_get_fd(l->c);
        int events = qmp_client_get_events(l->c);
        int timeout = qmp_client_get_timeout_ms(l->c);
        struct pollfd p[3] = {
            {l->stop_fd, POLLIN, 0},
            {wake, POLLIN, 0},
            {fd, (short)((events & QMP_POLL_IN ? POLLIN : 0) | (events & QMP_POLL_OUT ? POLLOUT : 0)), 0},
        };
        atomic_store(&l->sleeping, timeout < 0);
        int n = poll(p, fd >= 0 ? 3 : 2, timeout);
        atomic_store(&l->sleeping, 0);
        atomic_fetch_add(&l->rounds, 1);
        if (n < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            break;
        int rev = 0;
        if (fd >= 0 && (p[2].revents & (POLLIN | POLLHUP | POLLERR)))
            rev |= QMP_POLL_IN;
        if (fd >= 0 && (p[2].revents & POLLOUT))
            rev |= QMP_POLL_OUT;
        qmp_client_process(l->c, rev);
    }
    return NULL;
}

static void wake_loop_start(struct wake_loop *l, qmp_client *c)
{
    memset(l, 0, sizeof *l);
    l->c = c;
    l->stop_fd = eventfd(0, EFD_CLOEXEC);
    assert_true(l->stop_fd >= 0);
    assert_int_equal(pthread_create(&l->thread, NULL, wake_loop_main, l), 0);
}

static void wake_loop_stop(struct wake_loop *l)
{
    signal_fd(l->stop_fd);
    pthread_join(l->thread, NULL);
    close(l->stop_fd);
}

/* Waits until the loop sleeps in poll() with no deadline at all. */
static void wait_sleeping(atomic_int *sleeping)
{
    long long until = t_now_ms() + t_io_timeout_ms();
    while (!atomic_load(sleeping) && t_now_ms() < until)
        t_sleep_ms(1);
    assert_true(atomic_load(sleeping));
    t_sleep_ms(50);  /* and is well asleep */
}

/* --- a loop driven by the callbacks (a registration loop, as libxl's) ---------------------- */

struct reg_loop {
    qmp_client *c;
    pthread_mutex_t mu;
    int fd;                 /* registered fd (-1: none), guarded by mu */
    int events;
    long long due_at;       /* absolute ms of the one-shot timer (-1: none) */
    dev_t dev;              /* what fd was when it was registered */
    ino_t ino;
    int wake_fd;            /* the loop's own wakeup (as uv_async_t, event_active) */
    int stop;
    pthread_t thread;
    int running;
    atomic_int sleeping;
    atomic_int watches, unwatches, timers;
    atomic_int unwatch_closed;  /* watch(fd, 0) for an fd already closed or reused */
    atomic_int destroyed;
    /* A hook run inside watch() / timer() (outside mu), for the re-entrancy test. */
    void (*on_watch)(struct reg_loop *l, int fd, int events);
    void (*on_timer)(struct reg_loop *l, int timeout_ms);
    void *data;
};

static void reg_watch(qmp_client *c, int fd, int events, void *user_data)
{
    struct reg_loop *l = user_data;
    (void)c;
    struct stat st;
    pthread_mutex_lock(&l->mu);
    if (events == 0) {
        atomic_fetch_add(&l->unwatches, 1);
        if (fstat(fd, &st) != 0 || st.st_ino != l->ino || st.st_dev != l->dev)
            atomic_fetch_add(&l->unwatch_closed, 1);
        if (l->fd == fd)
            l->fd = -1;
    } else {
        atomic_fetch_add(&l->watches, 1);
        if (fstat(fd, &st) == 0) {
            l->dev = st.st_dev;
            l->ino = st.st_ino;
        }
        l->fd = fd;
        l->events = events;
    }
    pthread_mutex_unlock(&l->mu);
    signal_fd(l->wake_fd);
    if (l->on_watch)
        l->on_watch(l, fd, events);
}

static void reg_timer(qmp_client *c, int timeout_ms, void *user_data)
{
    struct reg_loop *l = user_data;
    (void)c;
    atomic_fetch_add(&l->timers, 1);
    pthread_mutex_lock(&l->mu);
    l->due_at = timeout_ms < 0 ? -1 : t_now_ms() + timeout_ms;
    pthread_mutex_unlock(&l->mu);
    signal_fd(l->wake_fd);
    if (l->on_timer)
        l->on_timer(l, timeout_ms);
}

static void reg_destroy(void *user_data)
{
    struct reg_loop *l = user_data;
    atomic_fetch_add(&l->destroyed, 1);
}

static void *reg_loop_main(void *arg)
{
    struct reg_loop *l = arg;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        int stop = l->stop;
        int fd = l->fd, events = l->events;
        long long due = l->due_at;
        pthread_mutex_unlock(&l->mu);
        if (stop)
            break;
        int timeout = -1;
        if (due >= 0) {
            long long left = due - t_now_ms();
            timeout = left < 0 ? 0 : (int)left;
        }
        struct pollfd p[2] = {
            {l->wake_fd, POLLIN, 0},
            {fd, (short)((events & QMP_POLL_IN ? POLLIN : 0) | (events & QMP_POLL_OUT ? POLLOUT : 0)), 0},
        };
        atomic_store(&l->sleeping, timeout < 0);
        poll(p, fd >= 0 ? 2 : 1, timeout);
        atomic_store(&l->sleeping, 0);
        if (p[0].revents)
            drain_fd(l->wake_fd);
        int rev = 0;
        if (fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
            rev |= QMP_POLL_IN;
        if (fd >= 0 && (p[1].revents & POLLOUT))
            rev |= QMP_POLL_OUT;
        int fired = 0;
        pthread_mutex_lock(&l->mu);
        if (l->due_at >= 0 && t_now_ms() >= l->due_at) {
            l->due_at = -1;  /* one-shot: process() tells the next one */
            fired = 1;
        }
        pthread_mutex_unlock(&l->mu);
        if (rev || fired)
            qmp_client_process(l->c, rev);
    }
    return NULL;
}

static void reg_loop_init(struct reg_loop *l, qmp_client *c)
{
    memset(l, 0, sizeof *l);
    l->c = c;
    pthread_mutex_init(&l->mu, NULL);
    l->fd = -1;
    l->due_at = -1;
    l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(l->wake_fd >= 0);
}

static void reg_loop_start(struct reg_loop *l)
{
    assert_int_equal(qmp_client_set_loop_callbacks(l->c, reg_watch, reg_timer, l, reg_destroy), QMP_OK);
    assert_int_equal(pthread_create(&l->thread, NULL, reg_loop_main, l), 0);
    l->running = 1;
}

static void reg_loop_stop(struct reg_loop *l)
{
    if (l->running) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_mutex_unlock(&l->mu);
        signal_fd(l->wake_fd);
        pthread_join(l->thread, NULL);
        l->running = 0;
    }
}

static void reg_loop_clear(struct reg_loop *l)
{
    close(l->wake_fd);
    pthread_mutex_destroy(&l->mu);
}

/* --- a deadline set from another thread ------------------------------------------------------ */

struct timed {
    atomic_int status;
    atomic_llong at;    /* when cb ran (ms) */
    atomic_int done;
};

static void timed_cb(qmp_client *c, int status, const json_t *result, void *user_data)
{
    struct timed *t = user_data;
    (void)c;
    (void)result;
    atomic_store(&t->status, status);
    atomic_store(&t->at, t_now_ms());
    atomic_store(&t->done, 1);
}

/* Sends "hold" (never answered) with a 300 ms timeout; checks its callback runs in [300 ms, on time]. */
static void check_deadline_fires(qmp_client *c)
{
    struct timed t;
    atomic_init(&t.status, 0);
    atomic_init(&t.at, 0);
    atomic_init(&t.done, 0);
    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    opts.timeout_ms = 300;
    long long sent = t_now_ms();
    assert_int_equal(qmp_client_execute_async(c, qmp_command_new("hold", NULL), &opts, timed_cb, &t, NULL), QMP_OK);
    assert_true(wait_until(&t.done, 1, t_io_timeout_ms()));
    long long took = atomic_load(&t.at) - sent;
    assert_int_equal(atomic_load(&t.status), QMP_ETIMEDOUT);
    assert_true(took >= 299);
    if (took > on_time_ms())
        fail_msg("the 300 ms deadline fired after %lld ms", took);
}

static void test_wakeup_fd_deadline_from_thread(void **state)
{
    (void)state;
    echo_peer *peer;
    qmp_client *c = connect_echo(&peer);
    int wake = qmp_client_get_wakeup_fd(c);
    assert_true(wake >= 0);
    assert_int_equal(qmp_client_get_wakeup_fd(c), wake);
    assert_true(fcntl(wake, F_GETFD) & FD_CLOEXEC);
    struct wake_loop l;
    wake_loop_start(&l, c);
    wait_sleeping(&l.sleeping);  /* asleep with no deadline */
    check_deadline_fires(c);
    /* A second one, after the loop went back to sleep with none. */
    wait_sleeping(&l.sleeping);
    check_deadline_fires(c);
    wake_loop_stop(&l);
    free_echo(c, peer);
}

static void test_callbacks_deadline_from_thread(void **state)
{
    (void)state;
    echo_peer *peer;
    qmp_client *c = connect_echo(&peer);
    struct reg_loop l;
    reg_loop_init(&l, c);
    reg_loop_start(&l);
    /* Setting them told both the current state. */
    assert_int_equal(atomic_load(&l.watches), 1);
    assert_int_equal(atomic_load(&l.timers), 1);
    wait_sleeping(&l.sleeping);
    check_deadline_fires(c);
    wait_sleeping(&l.sleeping);
    check_deadline_fires(c);
    reg_loop_stop(&l);
    free_echo(c, peer);
    assert_int_equal(atomic_load(&l.destroyed), 1);
    assert_int_equal(atomic_load(&l.unwatch_closed), 0);
    reg_loop_clear(&l);
}

/* --- many submitters, one sleeping loop ------------------------------------------------------ */

struct storm {
    qmp_client *c;
    int per_thread;
    int index;
    atomic_int *answered;
    atomic_int *wrong;
    atomic_int *refused;
};

static void storm_cb(qmp_client *c, int status, const json_t *result, void *user_data)
{
    struct storm *s = user_data;
    (void)c;
    if (status != QMP_OK || !json_is_object(result) || !json_object_get(result, "i"))
        atomic_fetch_add(s->wrong, 1);
    atomic_fetch_add(s->answered, 1);
}

static void *storm_main(void *arg)
{
    struct storm *s = arg;
    for (int i = 0; i < s->per_thread; i++) {
        json_t *cmd = qmp_command_new("echo", "i:t", s->index, "i:i", i, NULL);
        if (qmp_client_execute_async(s->c, cmd, NULL, storm_cb, s, NULL) != QMP_OK)
            atomic_fetch_add(s->refused, 1);
    }
    return NULL;
}

/* threads x per_thread async echoes from their own threads; all answered in the loop. */
static void run_storm(qmp_client *c, atomic_int *sleeping, int threads, int per_thread)
{
    atomic_int answered, wrong, refused;
    atomic_init(&answered, 0);
    atomic_init(&wrong, 0);
    atomic_init(&refused, 0);
    struct storm s[8];
    pthread_t th[8];
    assert_true(threads <= 8);
    wait_sleeping(sleeping);
    for (int i = 0; i < threads; i++) {
        s[i] = (struct storm){c, per_thread, i, &answered, &wrong, &refused};
        assert_int_equal(pthread_create(&th[i], NULL, storm_main, &s[i]), 0);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    int total = threads * per_thread;
    long long t0 = t_now_ms();
    if (!wait_until(&answered, total, t_io_timeout_ms() * 3)) {
        int a1 = atomic_load(&answered);
        t_sleep_ms(1000);
        fail_msg("%d (1 s later %d) of %d commands answered; events %d timeout %d", a1, atomic_load(&answered), total,
                 qmp_client_get_events(c), qmp_client_get_timeout_ms(c));
    }
    if (getenv("TOLD_DEBUG"))
        fprintf(stderr, "storm: %d in %lld ms\n", total, t_now_ms() - t0);
    assert_int_equal(atomic_load(&refused), 0);
    assert_int_equal(atomic_load(&wrong), 0);
    /* No more than that (a callback run twice would show here). */
    t_sleep_ms(20);
    assert_int_equal(atomic_load(&answered), total);
}

static void test_wakeup_fd_storm(void **state)
{
    (void)state;
    echo_peer *peer;
    qmp_client *c = connect_echo(&peer);
    struct wake_loop l;
    wake_loop_start(&l, c);
    run_storm(c, &l.sleeping, 4, getenv("TOLD_N") ? atoi(getenv("TOLD_N")) : t_scale(25000, 50, 10));
    wake_loop_stop(&l);
    free_echo(c, peer);
}

static void test_callbacks_storm(void **state)
{
    (void)state;
    echo_peer *peer;
    qmp_client *c = connect_echo(&peer);
    struct reg_loop l;
    reg_loop_init(&l, c);
    reg_loop_start(&l);
    run_storm(c, &l.sleeping, 4, getenv("TOLD_N") ? atoi(getenv("TOLD_N")) : t_scale(25000, 50, 10));
    reg_loop_stop(&l);
    free_echo(c, peer);
    assert_int_equal(atomic_load(&l.destroyed), 1);
    reg_loop_clear(&l);
}

/* Submitted while the peer reads nothing: the output waits in the client, and
   the loop is told to watch for POLLOUT; all go out once the peer reads again. */
static void test_output_pending_is_watched(void **state)
{
    (void)state;
    echo_peer *peer;
    qmp_client *c = connect_echo(&peer);
    struct reg_loop l;
    reg_loop_init(&l, c);
    reg_loop_start(&l);
    wait_sleeping(&l.sleeping);
    echo_peer_pause(peer);
    atomic_int answered, wrong, refused;
    atomic_init(&answered, 0);
    atomic_init(&wrong, 0);
    atomic_init(&refused, 0);
    struct storm s = {c, 0, 0, &answered, &wrong, &refused};
    /* Big arguments fill the socket buffers quickly. */
    char *big = malloc(64 * 1024 + 1);
    memset(big, 'x', 64 * 1024);
    big[64 * 1024] = 0;
    int n = 64, saw_out = 0;
    for (int i = 0; i < n; i++) {
        json_t *cmd = qmp_command_new("echo", "i:i", i, "s:pad", big, NULL);
        assert_int_equal(qmp_client_execute_async(c, cmd, NULL, storm_cb, &s, NULL), QMP_OK);
        pthread_mutex_lock(&l.mu);
        if (l.events & QMP_POLL_OUT)
            saw_out = 1;
        pthread_mutex_unlock(&l.mu);
    }
    free(big);
    assert_true(saw_out);  /* told, by this thread's own call */
    echo_peer_resume(peer);
    if (!wait_until(&answered, n, t_io_timeout_ms()))
        fail_msg("%d of %d commands answered", atomic_load(&answered), n);
    assert_int_equal(atomic_load(&wrong), 0);
    reg_loop_stop(&l);
    free_echo(c, peer);
    reg_loop_clear(&l);
}

/* --- close from another thread ------------------------------------------------------------ */

static void test_close_from_thread_unwatches_first(void **state)
{
    (void)state;
    echo_peer *peer;
    qmp_client *c = connect_echo(&peer);
    struct reg_loop l;
    reg_loop_init(&l, c);
    reg_loop_start(&l);
    wait_sleeping(&l.sleeping);
    int fd = qmp_client_get_fd(c);
    assert_true(fd >= 0);
    assert_int_equal(qmp_client_close(c), QMP_OK);
    /* Told before close() returned, while the socket was still the one it watched. */
    assert_int_equal(atomic_load(&l.unwatches), 1);
    assert_int_equal(atomic_load(&l.unwatch_closed), 0);
    pthread_mutex_lock(&l.mu);
    assert_int_equal(l.fd, -1);
    pthread_mutex_unlock(&l.mu);
    reg_loop_stop(&l);
    assert_int_equal(echo_peer_finish(peer), 0);
    qmp_client_free(c);
    assert_int_equal(atomic_load(&l.unwatches), 1);
    assert_int_equal(atomic_load(&l.destroyed), 1);
    reg_loop_clear(&l);
}

/* The server hangs up: the loop's own process() sees it, and unwatches before closing. */
static void test_peer_close_unwatches_first(void **state)
{
    (void)state;
    echo_peer *peer;
    qmp_client *c = connect_echo(&peer);
    struct reg_loop l;
    reg_loop_init(&l, c);
    reg_loop_start(&l);
    wait_sleeping(&l.sleeping);
    int fd = qmp_client_get_fd(c);
    assert_true(fd >= 0);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);  /* the peer sees EOF and goes */
    assert_int_equal(echo_peer_finish(peer), 0);
    long long until = t_now_ms() + t_io_timeout_ms();
    while (qmp_client_get_fd(c) >= 0 && t_now_ms() < until)
        t_sleep_ms(2);
    assert_int_equal(qmp_client_get_fd(c), -1);
    reg_loop_stop(&l);
    assert_int_equal(atomic_load(&l.unwatches), 1);
    assert_int_equal(atomic_load(&l.unwatch_closed), 0);
    qmp_client_free(c);
    assert_int_equal(atomic_load(&l.destroyed), 1);
    reg_loop_clear(&l);
}

/* --- callbacks that call back into the client ---------------------------------------------- */

struct reentry {
    atomic_int from_watch;   /* submitted from inside watch() */
    atomic_int from_timer;
    atomic_int answered;
    atomic_int wrong;
    atomic_int refused;
};

static void reentry_cb(qmp_client *c, int status, const json_t *result, void *user_data)
{
    struct reentry *r = user_data;
    (void)c;
    (void)result;
    if (status != QMP_OK)
        atomic_fetch_add(&r->wrong, 1);
    atomic_fetch_add(&r->answered, 1);
}

static void submit_from_watch(struct reg_loop *l, int fd, int events)
{
    struct reentry *r = l->data;
    (void)fd;
    if (events && atomic_fetch_add(&r->from_watch, 1) < 3) {
        /* Also asks the client, which must not wait on itself. */
        if (qmp_client_get_events(l->c) == 0 || qmp_client_get_fd(l->c) < 0)
            atomic_fetch_add(&r->wrong, 1);
        if (qmp_client_execute_async(l->c, qmp_command_new("echo", NULL), NULL, reentry_cb, r, NULL) != QMP_OK)
            atomic_fetch_add(&r->refused, 1);
    }
}

static void submit_from_timer(struct reg_loop *l, int timeout_ms)
{
    struct reentry *r = l->data;
    (void)timeout_ms;
    if (atomic_fetch_add(&r->from_timer, 1) < 3) {
        qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
        opts.timeout_ms = 5000;  /* a deadline: the timer is told again from inside */
        if (qmp_client_execute_async(l->c, qmp_command_new("echo", NULL), &opts, reentry_cb, r, NULL) != QMP_OK)
            atomic_fetch_add(&r->refused, 1);
    }
}

static void test_submit_from_callbacks(void **state)
{
    (void)state;
    echo_peer *peer;
    qmp_client *c = connect_echo(&peer);
    struct reentry r;
    memset(&r, 0, sizeof r);
    struct reg_loop l;
    reg_loop_init(&l, c);
    l.on_watch = submit_from_watch;
    l.on_timer = submit_from_timer;
    l.data = &r;
    reg_loop_start(&l);  /* watch and timer run here, in this thread, and submit */
    assert_true(atomic_load(&r.from_watch) >= 1);
    assert_true(atomic_load(&r.from_timer) >= 1);
    /* The timer, told again from inside itself and then in the loop's
       thread as deadlines change, submits up to 3; the watch once (its
       state changes only once here). */
    if (!wait_until(&r.answered, 4, t_io_timeout_ms()))
        fail_msg("%d of 4 answered (watch %d, timer %d)", atomic_load(&r.answered), atomic_load(&r.from_watch),
                 atomic_load(&r.from_timer));
    t_sleep_ms(50);
    int from_watch = atomic_load(&r.from_watch), from_timer = atomic_load(&r.from_timer);
    int submitted = (from_watch < 3 ? from_watch : 3) + (from_timer < 3 ? from_timer : 3);
    assert_int_equal(submitted, 4);
    assert_int_equal(atomic_load(&r.answered), submitted);
    assert_int_equal(atomic_load(&r.refused), 0);
    assert_int_equal(atomic_load(&r.wrong), 0);
    /* Replacing the callbacks from inside one would wait on itself. */
    reg_loop_stop(&l);
    free_echo(c, peer);
    assert_int_equal(atomic_load(&l.destroyed), 1);
    reg_loop_clear(&l);
}

static int replace_status = 1;
static void replace_from_timer(struct reg_loop *l, int timeout_ms)
{
    (void)timeout_ms;
    if (replace_status == 1)
        replace_status = qmp_client_set_loop_callbacks(l->c, reg_watch, reg_timer, l, NULL);
}

static void test_replace_from_callback_refused(void **state)
{
    (void)state;
    echo_peer *peer;
    qmp_client *c = connect_echo(&peer);
    struct reg_loop l;
    reg_loop_init(&l, c);
    l.on_timer = replace_from_timer;
    assert_int_equal(qmp_client_set_loop_callbacks(c, reg_watch, reg_timer, &l, reg_destroy), QMP_OK);
    assert_int_equal(replace_status, QMP_EDEADLK);
    assert_int_equal(atomic_load(&l.destroyed), 0);
    free_echo(c, peer);
    assert_int_equal(atomic_load(&l.destroyed), 1);
    reg_loop_clear(&l);
}

/* --- destroy exactly once ------------------------------------------------------------------ */

static void test_set_replace_remove_destroy_once(void **state)
{
    (void)state;
    echo_peer *peer;
    qmp_client *c = connect_echo(&peer);
    struct reg_loop a, b, d;
    reg_loop_init(&a, c);
    reg_loop_init(&b, c);
    reg_loop_init(&d, c);
    int fd = qmp_client_get_fd(c);

    assert_int_equal(qmp_client_set_loop_callbacks(c, reg_watch, reg_timer, &a, reg_destroy), QMP_OK);
    assert_int_equal(atomic_load(&a.watches), 1);
    assert_int_equal(a.fd, fd);
    assert_int_equal(a.events, QMP_POLL_IN);
    assert_int_equal(atomic_load(&a.timers), 1);
    assert_int_equal(a.due_at, -1);

    /* Replaced: the old ones stop watching, go once; the new ones learn the state. */
    assert_int_equal(qmp_client_set_loop_callbacks(c, reg_watch, reg_timer, &b, reg_destroy), QMP_OK);
    assert_int_equal(atomic_load(&a.unwatches), 1);
    assert_int_equal(atomic_load(&a.destroyed), 1);
    assert_int_equal(atomic_load(&b.watches), 1);
    assert_int_equal(atomic_load(&b.timers), 1);
    assert_int_equal(atomic_load(&b.destroyed), 0);

    /* Removed. */
    assert_int_equal(qmp_client_set_loop_callbacks(c, NULL, NULL, NULL, NULL), QMP_OK);
    assert_int_equal(atomic_load(&b.unwatches), 1);
    assert_int_equal(atomic_load(&b.destroyed), 1);
    assert_int_equal(atomic_load(&b.unwatch_closed), 0);
    /* Removing none is fine. */
    assert_int_equal(qmp_client_set_loop_callbacks(c, NULL, NULL, NULL, NULL), QMP_OK);

    /* Only one of the two: refused, and destroy still runs once. */
    assert_int_equal(qmp_client_set_loop_callbacks(c, reg_watch, NULL, &d, reg_destroy), QMP_EINVAL);
    assert_int_equal(atomic_load(&d.destroyed), 1);
    assert_int_equal(atomic_load(&d.watches), 0);
    assert_int_equal(qmp_client_set_loop_callbacks(NULL, reg_watch, reg_timer, &d, reg_destroy), QMP_EINVAL);
    assert_int_equal(atomic_load(&d.destroyed), 2);

    /* Set, then free: unwatched before the socket closes, destroyed once. */
    struct reg_loop e;
    reg_loop_init(&e, c);
    assert_int_equal(qmp_client_set_loop_callbacks(c, reg_watch, reg_timer, &e, reg_destroy), QMP_OK);
    free_echo(c, peer);
    assert_int_equal(atomic_load(&e.unwatches), 1);
    assert_int_equal(atomic_load(&e.unwatch_closed), 0);
    assert_int_equal(atomic_load(&e.destroyed), 1);
    assert_int_equal(atomic_load(&a.destroyed), 1);
    assert_int_equal(atomic_load(&b.destroyed), 1);
    reg_loop_clear(&a);
    reg_loop_clear(&b);
    reg_loop_clear(&d);
    reg_loop_clear(&e);
}

/* --- reconnect ----------------------------------------------------------------------------- */

static void test_reconnect_announces_new_fd(void **state)
{
    (void)state;
    echo_peer *peer;
    qmp_client *c = connect_echo(&peer);
    int wake = qmp_client_get_wakeup_fd(c);
    assert_true(wake >= 0);
    struct reg_loop l;
    reg_loop_init(&l, c);
    reg_loop_start(&l);
    int fd1 = qmp_client_get_fd(c);
    pthread_mutex_lock(&l.mu);
    assert_int_equal(l.fd, fd1);
    ino_t ino1 = l.ino;
    pthread_mutex_unlock(&l.mu);
    assert_int_equal(qmp_client_close(c), QMP_OK);
    assert_int_equal(echo_peer_finish(peer), 0);
    assert_int_equal(atomic_load(&l.unwatches), 1);

    int fd = -1;
    echo_peer *peer2 = echo_peer_new(&fd, 0, 0);
    assert_int_equal(qmp_client_connect_fd(c, fd, t_io_timeout_ms()), QMP_OK);
    int fd2 = qmp_client_get_fd(c);
    pthread_mutex_lock(&l.mu);
    assert_int_equal(l.fd, fd2);
    assert_int_equal(l.events, QMP_POLL_IN);
    assert_true(l.ino != ino1);
    pthread_mutex_unlock(&l.mu);
    assert_int_equal(atomic_load(&l.watches), 2);
    assert_int_equal(qmp_client_get_wakeup_fd(c), wake);
    /* The new connection works through the loop. */
    check_deadline_fires(c);
    reg_loop_stop(&l);
    free_echo(c, peer2);
    assert_int_equal(atomic_load(&l.unwatches), 2);
    assert_int_equal(atomic_load(&l.unwatch_closed), 0);
    assert_int_equal(atomic_load(&l.destroyed), 1);
    reg_loop_clear(&l);
}

/* --- an edge-triggered epoll loop: process() must read all there is --------------------------- */

struct et_loop {
    qmp_client *c;
    int ep;
    int watched;
    atomic_int stop;
};

static void et_watch(qmp_client *c, int fd, int events, void *user_data)
{
    (void)c;
    struct et_loop *l = user_data;
    struct epoll_event ev = {.events = EPOLLET, .data.fd = fd};
    if (events & QMP_POLL_IN) ev.events |= EPOLLIN;
    if (events & QMP_POLL_OUT) ev.events |= EPOLLOUT;
    if (events == 0) {
        epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
        l->watched = -1;
    } else {
        epoll_ctl(l->ep, l->watched == fd ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
        l->watched = fd;
    }
}

static void et_timer(qmp_client *c, int timeout_ms, void *user_data)
{
    (void)c;
    (void)user_data;
    /* Nothing here has a deadline; "callbacks due" (0) is handled below by
       calling process() after every wakeup anyway. */
    (void)timeout_ms;
}

/* Replies far bigger than one read, to an edge-triggered loop: each edge is
   reported once, so every byte must be read when it is. */
static void test_edge_triggered_reads_everything(void **state)
{
    (void)state;
    echo_peer *peer;
    qmp_client *c = connect_echo(&peer);
    struct et_loop l = {c, epoll_create1(EPOLL_CLOEXEC), -1, 0};
    assert_true(l.ep >= 0);
    assert_int_equal(qmp_client_set_loop_callbacks(c, et_watch, et_timer, &l, NULL), QMP_OK);
    atomic_int answered, wrong, refused;
    atomic_init(&answered, 0);
    atomic_init(&wrong, 0);
    atomic_init(&refused, 0);
    struct storm s = {c, 0, 0, &answered, &wrong, &refused};
    size_t size = 300 * 1024;
    char *big = malloc(size + 1);
    memset(big, 'y', size);
    big[size] = 0;
    int n = 20;
    for (int i = 0; i < n; i++) {
        json_t *cmd = qmp_command_new("echo", "i:i", i, "s:pad", big, NULL);
        assert_int_equal(qmp_client_execute_async(c, cmd, NULL, storm_cb, &s, NULL), QMP_OK);
    }
    free(big);
    long long until = t_now_ms() + t_io_timeout_ms();
    while (atomic_load(&answered) < n && t_now_ms() < until) {
        struct epoll_event evs[2];
        int k = epoll_wait(l.ep, evs, 2, 100);
        int rev = 0;
        for (int i = 0; i < k; i++) {
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) rev |= QMP_POLL_IN;
            if (evs[i].events & EPOLLOUT) rev |= QMP_POLL_OUT;
        }
        /* Timeouts (k == 0) are not reported as input: only an edge says there is some. */
        if (k > 0 || qmp_client_get_timeout_ms(c) == 0)
            qmp_client_process(c, rev);
    }
    if (atomic_load(&answered) != n)
        fail_msg("%d of %d big replies answered", atomic_load(&answered), n);
    assert_int_equal(atomic_load(&wrong), 0);
    free_echo(c, peer);
    close(l.ep);
}

/* --- GLib: the source is woken through the same wakeup fd ------------------------------------ */

static void test_glib_deadline_from_thread(void **state)
{
    (void)state;
    echo_peer *peer;
    qmp_client *c = connect_echo(&peer);
    struct loop_thread lt;
    loop_thread_start(&lt);
    assert_int_equal(qmp_client_attach(c, lt.ctx), QMP_OK);
    t_sleep_ms(100);  /* the context is asleep, with no deadline */
    check_deadline_fires(c);
    t_sleep_ms(100);
    check_deadline_fires(c);
    qmp_client_detach(c);
    loop_thread_stop(&lt);
    free_echo(c, peer);
}

static void test_wakeup_fd_null_client(void **state)
{
    (void)state;
    assert_int_equal(qmp_client_get_wakeup_fd(NULL), -1);
    assert_int_equal(qmp_error_last()->code, QMP_EINVAL);
    /* Made before connecting, and the same after. */
    echo_peer *peer;
    int fd = -1;
    peer = echo_peer_new(&fd, 0, 0);
    qmp_client *c = qmp_client_new();
    int wake = qmp_client_get_wakeup_fd(c);
    assert_true(wake >= 0);
    assert_int_equal(qmp_client_connect_fd(c, fd, t_io_timeout_ms()), QMP_OK);
    assert_int_equal(qmp_client_get_wakeup_fd(c), wake);
    free_echo(c, peer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wakeup_fd_null_client),
        cmocka_unit_test(test_wakeup_fd_deadline_from_thread),
        cmocka_unit_test(test_callbacks_deadline_from_thread),
        cmocka_unit_test(test_wakeup_fd_storm),
        cmocka_unit_test(test_callbacks_storm),
        cmocka_unit_test(test_output_pending_is_watched),
        cmocka_unit_test(test_close_from_thread_unwatches_first),
        cmocka_unit_test(test_peer_close_unwatches_first),
        cmocka_unit_test(test_submit_from_callbacks),
        cmocka_unit_test(test_replace_from_callback_refused),
        cmocka_unit_test(test_set_replace_remove_destroy_once),
        cmocka_unit_test(test_reconnect_announces_new_fd),
        cmocka_unit_test(test_edge_triggered_reads_everything),
        cmocka_unit_test(test_glib_deadline_from_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
