/*
 * loop-libxl-style: the mapping a toolstack makes between libqmp's loop
 * callbacks and a libxl-style registration interface, where the
 * application provides fd_register / fd_modify / fd_deregister and
 * timeout_register / timeout_modify hooks and reports what happened
 * through "occurred" calls.
 *
 * The first half is the adapter (what a toolstack writes once); the second
 * is an application's loop implementing the hooks with poll(), a
 * registration table under a mutex and an eventfd that wakes it when a
 * hook is called from another thread.
 *
 *   loop-libxl-style /path/to/qmp.sock
 */
/* The shared part: connecting, the thread that submits, the on-time check. */
#include "loop-demo.h"

#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/time.h>

/* --- the registration interface (as libxl's libxl_osevent_hooks) ------------------------- */

struct osevent_hooks {
    int (*fd_register)(void *user, int fd, void **for_app_registration_out, short events, void *for_lib);
    int (*fd_modify)(void *user, int fd, void **for_app_registration_update, short events);
    void (*fd_deregister)(void *user, int fd, void *for_app_registration);
    int (*timeout_register)(void *user, void **for_app_registration_out, struct timeval abs, void *for_lib);
    /* abs {0, 0}: fire at once.  A timeout fires once; the library registers the next. */
    int (*timeout_modify)(void *user, void **for_app_registration_update, struct timeval abs);
};

/* --- the adapter: libqmp's callbacks onto the hooks ------------------------------------------ */

struct adapter {
    qmp_client *c;
    const struct osevent_hooks *hooks;
    void *user;
    int fd;             /* registered fd, or -1 */
    void *fd_reg;       /* the application's registration of it */
    int timeout_live;   /* a timeout is registered and has not fired */
    void *timeout_reg;
};

static void adapter_watch(qmp_client *c, int fd, int events, void *user_data)
{
    (void)c;
    struct adapter *a = user_data;
    short pev = (short)(((events & QMP_POLL_IN) ? POLLIN : 0) | ((events & QMP_POLL_OUT) ? POLLOUT : 0));
    if (events == 0) {
        if (a->fd == fd) {
            a->hooks->fd_deregister(a->user, fd, a->fd_reg);  /* before the socket closes */
            a->fd = -1;
        }
    } else if (a->fd == fd) {
        a->hooks->fd_modify(a->user, fd, &a->fd_reg, pev);
    } else {
        if (a->fd >= 0) a->hooks->fd_deregister(a->user, a->fd, a->fd_reg);
        a->fd = a->hooks->fd_register(a->user, fd, &a->fd_reg, pev, a) == 0 ? fd : -1;
    }
}

static void adapter_timer(qmp_client *c, int timeout_ms, void *user_data)
{
    (void)c;
    struct adapter *a = user_data;
    struct timeval abs = {0, 0};
    if (timeout_ms < 0) {
        /* No deadline: push the registration far out (the hooks have no deregister). */
        if (!a->timeout_live) return;
        gettimeofday(&abs, NULL);
        abs.tv_sec += 24 * 3600;
    } else if (timeout_ms > 0) {
        gettimeofday(&abs, NULL);
        abs.tv_sec += timeout_ms / 1000;
        abs.tv_usec += (timeout_ms % 1000) * 1000;
        if (abs.tv_usec >= 1000000) {
            abs.tv_sec++;
            abs.tv_usec -= 1000000;
        }
    }
    if (a->timeout_live)
        a->hooks->timeout_modify(a->user, &a->timeout_reg, abs);
    else if (a->hooks->timeout_register(a->user, &a->timeout_reg, abs, a) == 0)
        a->timeout_live = 1;
}

/* What the application calls back ("libxl_osevent_occurred_fd/_timeout"). */
static void adapter_fd_occurred(struct adapter *a, int fd, short revents)
{
    (void)fd;
    int ev = 0;
    if (revents & (POLLIN | POLLHUP | POLLERR)) ev |= QMP_POLL_IN;
    if (revents & POLLOUT) ev |= QMP_POLL_OUT;
    qmp_client_process(a->c, ev);
}

static void adapter_timeout_occurred(struct adapter *a)
{
    a->timeout_live = 0;  /* it fired: process() registers the next one */
    qmp_client_process(a->c, 0);
}

/* --- the application's loop implementing the hooks ------------------------------------------- */

struct app {
    pthread_mutex_t mu;
    int wake;             /* eventfd: a hook was called */
    int fd;               /* one fd registration is enough here */
    short events;
    void *fd_for_lib;
    long long due_ms;     /* -1: no timeout */
    void *timeout_for_lib;
};

static long long tv_ms(struct timeval tv) { return tv.tv_sec * 1000LL + tv.tv_usec / 1000; }

static long long wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv_ms(tv);
}

static void app_changed(struct app *app)
{
    uint64_t one = 1;
    if (write(app->wake, &one, sizeof one) < 0) perror("eventfd");
}

static int app_fd_register(void *user, int fd, void **reg, short events, void *for_lib)
{
    struct app *app = user;
    pthread_mutex_lock(&app->mu);
    app->fd = fd;
    app->events = events;
    app->fd_for_lib = for_lib;
    pthread_mutex_unlock(&app->mu);
    *reg = app;
    app_changed(app);
    return 0;
}

static int app_fd_modify(void *user, int fd, void **reg, short events)
{
    (void)fd;
    (void)reg;
    struct app *app = user;
    pthread_mutex_lock(&app->mu);
    app->events = events;
    pthread_mutex_unlock(&app->mu);
    app_changed(app);
    return 0;
}

static void app_fd_deregister(void *user, int fd, void *reg)
{
    (void)fd;
    (void)reg;
    struct app *app = user;
    pthread_mutex_lock(&app->mu);
    app->fd = -1;
    pthread_mutex_unlock(&app->mu);
    app_changed(app);
}

static int app_timeout_register(void *user, void **reg, struct timeval abs, void *for_lib)
{
    struct app *app = user;
    pthread_mutex_lock(&app->mu);
    app->due_ms = tv_ms(abs);
    app->timeout_for_lib = for_lib;
    pthread_mutex_unlock(&app->mu);
    *reg = app;
    app_changed(app);
    return 0;
}

static int app_timeout_modify(void *user, void **reg, struct timeval abs)
{
    (void)reg;
    struct app *app = user;
    pthread_mutex_lock(&app->mu);
    app->due_ms = tv_ms(abs);
    pthread_mutex_unlock(&app->mu);
    app_changed(app);
    return 0;
}

static const struct osevent_hooks app_hooks = {
    app_fd_register, app_fd_modify, app_fd_deregister, app_timeout_register, app_timeout_modify,
};

int main(int argc, char **argv)
{
    qmp_client *c = demo_connect(argc, argv);
    struct app app = {PTHREAD_MUTEX_INITIALIZER, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), -1, 0, NULL, -1, NULL};
    struct adapter a = {c, &app_hooks, &app, -1, NULL, 0, NULL};
    qmp_client_set_loop_callbacks(a.c, adapter_watch, adapter_timer, &a, NULL);
    pthread_t thread = demo_start(a.c);

    while (!demo_finished()) {
        pthread_mutex_lock(&app.mu);
        int fd = app.fd;
        short events = app.events;
        void *fd_for_lib = app.fd_for_lib;
        long long due = app.due_ms;
        void *timeout_for_lib = app.timeout_for_lib;
        pthread_mutex_unlock(&app.mu);
        int timeout = -1;
        if (due >= 0) {
            long long left = due - wall_ms();
            timeout = left < 0 ? 0 : (int)left;
        }
        struct pollfd p[2] = {{app.wake, POLLIN, 0}, {fd, events, 0}};
        if (poll(p, fd >= 0 ? 2 : 1, timeout) < 0) {
            perror("poll");
            demo_failed = 1;
            break;
        }
        if (p[0].revents) {
            uint64_t v;
            if (read(app.wake, &v, sizeof v) < 0) perror("eventfd");
        }
        if (fd >= 0 && p[1].revents)
            adapter_fd_occurred(fd_for_lib, fd, p[1].revents);
        if (due >= 0 && wall_ms() >= due) {
            pthread_mutex_lock(&app.mu);
            if (app.due_ms == due) app.due_ms = -1;  /* fired, unless re-registered meanwhile */
            pthread_mutex_unlock(&app.mu);
            adapter_timeout_occurred(timeout_for_lib);
        }
    }
    demo_join(thread);
    qmp_client_free(a.c);  /* fd_deregister runs before the socket closes */
    close(app.wake);
    return demo_exit_status();
}
