#include "loop.h"

#include <errno.h>
#include <time.h>

long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long deadline_after(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

int ms_left(long long deadline)
{
    if (deadline < 0) return -1;
    long long left = deadline - now_ms();
    return left < 0 ? 0 : left > 1000000000 ? 1000000000 : (int)left;
}

struct pollfd loop_pollfd(qmp_client *c)
{
    int ev = qmp_client_get_events(c);
    struct pollfd p = {qmp_client_get_fd(c), 0, 0};
    if (ev & QMP_POLL_IN) p.events |= POLLIN;
    if (ev & QMP_POLL_OUT) p.events |= POLLOUT;
    return p;
}

int loop_revents(const struct pollfd *p)
{
    int r = 0;
    if (p->revents & (POLLIN | POLLHUP | POLLERR)) r |= QMP_POLL_IN;
    if (p->revents & POLLOUT) r |= QMP_POLL_OUT;
    return r;
}

/* The shorter of two poll() timeouts, -1 meaning none. */
static int min_timeout(int a, int b)
{
    if (a < 0) return b;
    if (b < 0) return a;
    return a < b ? a : b;
}

int loop_run(qmp_client *c, const int *stop, long long deadline)
{
    while (!*stop) {
        if (deadline >= 0 && ms_left(deadline) == 0) return QMP_ETIMEDOUT;
        struct pollfd p = loop_pollfd(c);
        if (p.fd < 0) return QMP_ECLOSED;
        int r = poll(&p, 1, min_timeout(ms_left(deadline), qmp_client_get_timeout_ms(c)));
        if (r < 0 && errno != EINTR) return QMP_ECLOSED;
        if (qmp_client_process(c, r > 0 ? loop_revents(&p) : 0) == QMP_ECLOSED) return QMP_ECLOSED;
    }
    return 0;
}
