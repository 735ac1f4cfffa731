/*
 * loop-poll-wakeup: a plain poll() loop that sleeps while another thread
 * submits commands.  Beside the socket it watches qmp_client_get_wakeup_fd(),
 * which becomes readable whenever another thread changes what the loop must
 * do (here: a new deadline), so a 300 ms timeout fires on time although the
 * loop went to sleep with no deadline at all.
 *
 *   loop-poll-wakeup /path/to/qmp.sock
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
    int wake = qmp_client_get_wakeup_fd(c);
    if (wake < 0) {
        fprintf(stderr, "wakeup fd: %s\n", qmp_error_last()->message);
        qmp_client_free(c);
        return 1;
    }
    pthread_t thread;
    pthread_create(&thread, NULL, submitter, c);

    while (!atomic_load(&finished)) {
        /* Asked every round; the wakeup fd says when to ask early. */
        int fd = qmp_client_get_fd(c);
        int events = qmp_client_get_events(c);
        struct pollfd p[2] = {{wake, POLLIN, 0}, {fd, 0, 0}};
        if (events & QMP_POLL_IN) p[1].events |= POLLIN;
        if (events & QMP_POLL_OUT) p[1].events |= POLLOUT;
        if (poll(p, fd >= 0 ? 2 : 1, qmp_client_get_timeout_ms(c)) < 0) {
            perror("poll");
            failed = 1;
            break;
        }
        int revents = 0;
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) revents |= QMP_POLL_IN;
        if (p[1].revents & POLLOUT) revents |= QMP_POLL_OUT;
        qmp_client_process(c, revents);  /* also drains the wakeup fd */
    }
    pthread_join(thread, NULL);
    qmp_client_free(c);
    return failed ? 1 : 0;
}
