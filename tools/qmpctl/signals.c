#include "signals.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "launch.h"

static const int handled[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
static volatile sig_atomic_t defer_fd = -1;

static void on_signal(int sig)
{
    int saved = errno;
    if (defer_fd >= 0) {
        unsigned char b = (unsigned char)sig;
        ssize_t n = write(defer_fd, &b, 1);
        (void)n;
        errno = saved;
        return;
    }
    launch_kill_from_signal();
    /* Die of the same signal once the handler returns (it is blocked until then). */
    signal(sig, SIG_DFL);
    raise(sig);
    errno = saved;
}

void signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++) sigaddset(&sa.sa_mask, handled[i]);
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++) sigaction(handled[i], &sa, NULL);
}

void signals_defer_to(int fd)
{
    defer_fd = fd;
}

void signals_block(int block)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++) sigaddset(&set, handled[i]);
    sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}
