/* The cost of the wakeup: libqmp driven by a loop thread (qmp_client_get_wakeup_fd()
   or qmp_client_set_loop_callbacks()) while another thread submits and waits. */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <qmp/qmp.h>

#include "bench.h"

/* --- the loop thread ------------------------------------------------------------------------ */

typedef struct {
    qmp_client *c;
    int callbacks;   /* 0: poll the wakeup fd; 1: told by the loop callbacks */
    int stop_fd;     /* eventfd: the loop ends; with callbacks, also "something changed" */
    pthread_t thread;

    pthread_mutex_t mu;  /* what the callbacks said */
    int fd, events;
    double due;          /* absolute, now_s(); < 0: none */
    int stop;
} loop_t;

static void kick(int fd) {
    uint64_t one = 1;
    if (write(fd, &one, sizeof one) < 0) perror("eventfd");
}

static void on_watch(qmp_client *c, int fd, int events, void *user_data) {
    (void)c;
    loop_t *l = user_data;
    pthread_mutex_lock(&l->mu);
    l->fd = events ? fd : -1;
    l->events = events;
    pthread_mutex_unlock(&l->mu);
    kick(l->stop_fd);
}

static void on_timer(qmp_client *c, int timeout_ms, void *user_data) {
    (void)c;
    loop_t *l = user_data;
    pthread_mutex_lock(&l->mu);
    l->due = timeout_ms < 0 ? -1 : now_s() + timeout_ms / 1000.0;
    pthread_mutex_unlock(&l->mu);
    kick(l->stop_fd);
}

static short poll_events(int events) {
    return (short)(((events & QMP_POLL_IN) ? POLLIN : 0) | ((events & QMP_POLL_OUT) ? POLLOUT : 0));
}

static int to_revents(short r) {
    return ((r & (POLLIN | POLLHUP | POLLERR)) ? QMP_POLL_IN : 0) | ((r & POLLOUT) ? QMP_POLL_OUT : 0);
}

static void *loop_main(void *arg) {
    loop_t *l = arg;
    int wake = l->callbacks ? -1 : qmp_client_get_wakeup_fd(l->c);
    for (;;) {
        int fd, events, timeout = -1;
        if (l->callbacks) {
            pthread_mutex_lock(&l->mu);
            if (l->stop) {
                pthread_mutex_unlock(&l->mu);
                break;
            }
            fd = l->fd;
            events = l->events;
            if (l->due >= 0) {
                double left = l->due - now_s();
                timeout = left <= 0 ? 0 : (int)(left * 1000) + 1;
            }
            pthread_mutex_unlock(&l->mu);
        } else {
            fd = qmp_client_get_fd(l->c);
            events = qmp_client_get_events(l->c);
            timeout = qmp_client_get_timeout_ms(l->c);
        }
        struct pollfd p[3] = {{l->stop_fd, POLLIN, 0}, {fd, poll_events(events), 0}, {wake, POLLIN, 0}};
        if (fd < 0) p[1].fd = -1;  /* poll() skips negative fds */
        poll(p, wake >= 0 ? 3 : 2, timeout);
        if (p[0].revents) {
            uint64_t v;
            if (read(l->stop_fd, &v, sizeof v) < 0) perror("eventfd");
            if (!l->callbacks) break;
        }
        int due = 0;
        if (l->callbacks) {
            pthread_mutex_lock(&l->mu);
            if (l->due >= 0 && now_s() >= l->due) {
                l->due = -1;
                due = 1;
            }
            pthread_mutex_unlock(&l->mu);
        }
        if (p[1].revents || p[2].revents || due || (!l->callbacks && timeout == 0))
            qmp_client_process(l->c, to_revents(p[1].revents));
    }
    return NULL;
}

static int loop_start(loop_t *l, qmp_client *c, int callbacks) {
    memset(l, 0, sizeof *l);
    l->c = c;
    l->callbacks = callbacks;
    l->fd = -1;
    l->due = -1;
    pthread_mutex_init(&l->mu, NULL);
    l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->stop_fd < 0) return -1;
    if (callbacks && qmp_client_set_loop_callbacks(c, on_watch, on_timer, l, NULL) < 0) return -1;
    return pthread_create(&l->thread, NULL, loop_main, l) == 0 ? 0 : -1;
}

static void loop_stop(loop_t *l) {
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_mutex_unlock(&l->mu);
    kick(l->stop_fd);
    pthread_join(l->thread, NULL);
    if (l->callbacks) qmp_client_set_loop_callbacks(l->c, NULL, NULL, NULL, NULL);
    close(l->stop_fd);
    pthread_mutex_destroy(&l->mu);
}

/* --- what the submitting thread waits for ------------------------------------------------------ */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long done;
    int failed;
} waiter_t;

static void waiter_init(waiter_t *w) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

static void waiter_post(waiter_t *w, int failed) {
    pthread_mutex_lock(&w->mu);
    w->done++;
    if (failed) w->failed = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void waiter_wait(waiter_t *w, long n) {
    pthread_mutex_lock(&w->mu);
    while (w->done < n) pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static void on_status(qmp_client *c, int status, const json_t *result, void *user_data) {
    (void)c;
    waiter_post(user_data, status != 0 || !json_is_string(json_object_get(result, "status")));
}

/* us per query-status sent by this thread and answered through the loop thread. */
void lib_loop_round_trip(const char *sock, long count, int callbacks, sample_t *s) {
    qmp_client *c = lib_open(sock, s);
    if (!c) return;
    loop_t l;
    if (loop_start(&l, c, callbacks) < 0) {
        sample_fail(s, "loop: %s", qmp_error_last()->message);
        qmp_client_free(c);
        return;
    }
    waiter_t w;
    waiter_init(&w);
    long warm = count < 10 ? count : 10;
    double t0 = 0;
    for (long i = 0; i < warm + count; i++) {
        if (i == warm) t0 = now_s();
        if (qmp_client_execute_async(c, qmp_command_new("query-status", NULL), NULL, on_status, &w, NULL) < 0) {
            sample_fail(s, "query-status: %s", qmp_error_last()->message);
            break;
        }
        waiter_wait(&w, i + 1);
    }
    s->value = (now_s() - t0) * 1e6 / (double)count;
    if (w.failed) sample_fail(s, "a query-status failed");
    loop_stop(&l);
    qmp_client_free(c);
}

/* --- event flood, the handler in the loop thread --------------------------------------------- */

typedef struct {
    long events;
    waiter_t *w;
} flood_t;

static void on_event(qmp_client *c, const qmp_event *ev, void *user_data) {
    (void)c;
    flood_t *f = user_data;
    const char *name = qmp_event_name(ev);
    if (name[0] == 'B') f->events++;
    if (strcmp(name, "BENCH_END") == 0) waiter_post(f->w, 0);
}

static void on_flood_reply(qmp_client *c, int status, const json_t *result, void *user_data) {
    (void)c;
    (void)result;
    if (status != 0) waiter_post(user_data, 1);  /* no BENCH_END will come */
}

/* events/s: bench-flood sent by this thread, the events handled in the loop thread. */
void lib_loop_flood(const char *sock, long count, sample_t *s) {
    qmp_client *c = lib_open(sock, s);
    if (!c) return;
    waiter_t w;
    waiter_init(&w);
    flood_t f = {0, &w};
    qmp_client_on_event(c, NULL, on_event, &f, NULL, NULL);
    loop_t l;
    if (loop_start(&l, c, 0) < 0) {
        sample_fail(s, "loop: %s", qmp_error_last()->message);
        qmp_client_free(c);
        return;
    }
    long before = rss_bytes();
    double t0 = now_s();
    json_t *cmd = qmp_command_new("bench-flood", "I:count", (long long)count, NULL);
    if (qmp_client_execute_async(c, cmd, NULL, on_flood_reply, &w, NULL) < 0)
        sample_fail(s, "bench-flood: %s", qmp_error_last()->message);
    else
        waiter_wait(&w, 1);
    double t = now_s() - t0;
    loop_stop(&l);
    s->value = (double)f.events / t;
    s->extra = (double)(rss_bytes() - before);
    if (w.failed)
        sample_fail(s, "bench-flood failed");
    else if (f.events != count)
        sample_fail(s, "received %ld of %ld events", f.events, count);
    qmp_client_free(c);
}
