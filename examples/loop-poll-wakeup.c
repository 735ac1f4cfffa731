/*
 * loop-poll-wakeup: a plain poll() loop that sleeps while another thread
 * submits commands.  Beside the socket it watches qmp_client_get_wakeup_fd(),
 * which becomes readable whenever another thread changes what the loop must
 * do (here: a new deadline), so a 300 ms timeout fires on time although the
 * loop went to sleep with no deadline at all.
 *
 *   loop-poll-wakeup /path/to/qmp.sock
 */
/* The shared part: connecting, the thread that submits, the on-time check. */
#include "loop-demo.h"

#include <poll.h>

/* --- the loop --------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    qmp_client *c = demo_connect(argc, argv);
    int wake = qmp_client_get_wakeup_fd(c);
    if (wake < 0) {
        fprintf(stderr, "wakeup fd: %s\n", qmp_error_last()->message);
        qmp_client_free(c);
        return 1;
    }
    pthread_t thread = demo_start(c);

    while (!demo_finished()) {
        /* Asked every round; the wakeup fd says when to ask early. */
        int fd = qmp_client_get_fd(c);
        int events = qmp_client_get_events(c);
        struct pollfd p[2] = {{wake, POLLIN, 0}, {fd, 0, 0}};
        if (events & QMP_POLL_IN) p[1].events |= POLLIN;
        if (events & QMP_POLL_OUT) p[1].events |= POLLOUT;
        if (poll(p, fd >= 0 ? 2 : 1, qmp_client_get_timeout_ms(c)) < 0) {
            perror("poll");
            demo_failed = 1;
            break;
        }
        int revents = 0;
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) revents |= QMP_POLL_IN;
        if (p[1].revents & POLLOUT) revents |= QMP_POLL_OUT;
        qmp_client_process(c, revents);  /* also drains the wakeup fd */
    }
    demo_join(thread);
    qmp_client_free(c);
    return demo_exit_status();
}
