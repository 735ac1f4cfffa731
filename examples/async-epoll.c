/*
 * async-epoll: drive libqmp from an epoll loop (level-triggered), as a
 * toolstack's own loop would, with a timerfd for the client's deadlines.
 *
 *   async-epoll /path/to/qmp.sock
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <qmp/qmp.h>

static int pending;
static int failed;

static void on_reply(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    if (status == QMP_OK) {
        char *text = qmp_json_dumps(result);
        printf("%s -> %s\n", (const char *)user_data, text);
        qmp_free(text);
    } else {
        printf("%s failed: %s\n", (const char *)user_data, qmp_error_last()->message);
        failed = 1;
    }
    pending--;
}

/* Points the epoll registration at the client's current fd and direction. */
static void rearm(int ep, qmp_client *c, int *watched)
{
    int fd = qmp_client_get_fd(c);
    if (*watched >= 0 && *watched != fd) {
        epoll_ctl(ep, EPOLL_CTL_DEL, *watched, NULL);
        *watched = -1;
    }
    if (fd < 0) return;
    int want = qmp_client_get_events(c);
    struct epoll_event ev = {0};
    ev.events = (want & QMP_POLL_IN ? EPOLLIN : 0) | (want & QMP_POLL_OUT ? EPOLLOUT : 0);
    ev.data.fd = fd;
    epoll_ctl(ep, *watched == fd ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
    *watched = fd;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s QMP_SOCKET\n", argv[0]);
        return 2;
    }
    qmp_client *c = qmp_client_new();
    if (qmp_client_connect_unix(c, argv[1], 5000) < 0) {
        fprintf(stderr, "connect: %s\n", qmp_error_last()->message);
        qmp_client_free(c);
        return 1;
    }
    static const char *const names[] = {"query-version", "query-status", "query-name", "query-kvm"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (qmp_client_execute_async(c, qmp_command_new(names[i], NULL), NULL, on_reply, (void *)names[i], NULL) == 0)
            pending++;
    }

    int ep = epoll_create1(EPOLL_CLOEXEC);
    int timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    struct epoll_event tev = {.events = EPOLLIN, .data.fd = timer};
    epoll_ctl(ep, EPOLL_CTL_ADD, timer, &tev);
    int watched = -1;

    while (pending > 0 && !failed) {
        rearm(ep, c, &watched);
        int ms = qmp_client_get_timeout_ms(c);
        struct itimerspec its = {{0, 0}, {ms / 1000, (ms % 1000) * 1000000L + (ms == 0)}};
        timerfd_settime(timer, 0, ms < 0 ? &(struct itimerspec){{0, 0}, {0, 0}} : &its, NULL);

        struct epoll_event evs[2];
        int n = epoll_wait(ep, evs, 2, -1);
        int revents = 0;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == timer) {
                uint64_t ticks;
                (void)!read(timer, &ticks, sizeof ticks);
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) revents |= QMP_POLL_IN;
            if (evs[i].events & EPOLLOUT) revents |= QMP_POLL_OUT;
        }
        if (qmp_client_process(c, revents) == QMP_ECLOSED) {
            fprintf(stderr, "connection closed: %s\n", qmp_error_last()->message);
            failed = 1;
        }
    }
    close(timer);
    close(ep);
    qmp_client_free(c);
    return failed ? 1 : 0;
}
