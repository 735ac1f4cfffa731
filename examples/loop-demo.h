/*
 * loop-demo.h: the part the loop-* examples share, so that each of them
 * shows only how its event loop drives libqmp.
 *
 * Every loop example connects (demo_connect), starts the demonstration
 * (demo_start) and runs its loop until demo_finished() says it is over;
 * then it waits for the thread (demo_join), closes and exits with
 * demo_exit_status().  Meanwhile another thread (demo_submitter below)
 * submits commands while the loop sleeps: a command, then one with a
 * 300 ms timeout while QEMU is frozen, whose deadline must fire on time
 * although no byte arrives and the loop went to sleep without that
 * deadline.  A loop that is not told of a deadline set in another thread
 * fails the check.
 *
 * Include it once, from the example's .c file (its functions are static).
 */
#ifndef LOOP_DEMO_H
#define LOOP_DEMO_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* struct ucred */
#endif
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <qmp/qmp.h>

/* Set once the last reply came (or the demonstration gave up): the loop ends. */
static atomic_int demo_done;
/* Set when anything went wrong: the example exits with status 1. */
static atomic_int demo_failed;

/* Steps of the submitting thread, and when the command with a deadline left. */
static atomic_int demo_status_done, demo_deadline_done;
static atomic_llong demo_sent_at;

static inline long long demo_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* The reply to query-status: printed. */
static void demo_on_status(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    (void)user_data;
    if (status == QMP_OK) {
        char *text = qmp_json_dumps(result);
        printf("query-status -> %s\n", text);
        qmp_free(text);
    } else {
        printf("query-status failed: %s\n", qmp_error_last()->message);
        demo_failed = 1;
    }
    atomic_store(&demo_status_done, 1);
}

/* The end of query-name, sent to a frozen QEMU: it must time out, on time. */
static void demo_on_deadline(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    (void)result;
    (void)user_data;
    long long took = demo_now_ms() - atomic_load(&demo_sent_at);
    if (status == QMP_ETIMEDOUT && took <= 1000) {
        printf("deadline fired after %lld ms (timeout 300 ms, QEMU frozen)\n", took);
    } else {
        printf("deadline: status %d after %lld ms, expected QMP_ETIMEDOUT within 1000 ms\n", status, took);
        demo_failed = 1;
    }
    atomic_store(&demo_deadline_done, 1);
}

/* The reply to the last command (query-version): the loop may end. */
static void demo_on_last(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    (void)result;
    (void)user_data;
    if (status != QMP_OK) {
        printf("query-version failed: %s\n", qmp_error_last()->message);
        demo_failed = 1;
    }
    atomic_store(&demo_done, 1);
}

/* Submits the command `name` without arguments; 0, or -1 with a message. */
static int demo_send(qmp_client *c, const char *name, int timeout_ms, qmp_reply_fn cb)
{
    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    opts.timeout_ms = timeout_ms;
    if (qmp_client_execute_async(c, qmp_command_new(name, NULL), &opts, cb, NULL, NULL) < 0) {
        fprintf(stderr, "%s: %s\n", name, qmp_error_last()->message);
        return -1;
    }
    return 0;
}

static void demo_wait_flag(atomic_int *flag)
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
static void *demo_submitter(void *arg)
{
    qmp_client *c = arg;
    usleep(200 * 1000);
    if (demo_send(c, "query-status", 0, demo_on_status) < 0)
        goto out;
    demo_wait_flag(&demo_status_done);

    struct ucred peer;
    socklen_t len = sizeof peer;
    if (getsockopt(qmp_client_get_fd(c), SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0 || kill(peer.pid, SIGSTOP) < 0) {
        perror("stopping QEMU");
        goto out;
    }
    usleep(100 * 1000);  /* the loop is asleep again, with no deadline */
    atomic_store(&demo_sent_at, demo_now_ms());
    int sent = demo_send(c, "query-name", 300, demo_on_deadline);
    if (sent == 0)
        demo_wait_flag(&demo_deadline_done);
    kill(peer.pid, SIGCONT);
    if (sent < 0)
        goto out;
    /* QEMU's late answer to query-name matches no call any more and is dropped. */
    if (demo_send(c, "query-version", 0, demo_on_last) == 0)
        return NULL;
out:
    demo_failed = 1;
    atomic_store(&demo_done, 1);
    qmp_client_close(c);  /* wakes the loop, which then sees demo_finished() */
    return NULL;
}

/*
 * Checks the command line (one argument: the QMP socket) and connects: the
 * connected client.  Exits with status 2 on a wrong command line and with
 * status 1 when it cannot connect.
 */
static qmp_client *demo_connect(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s QMP_SOCKET\n", argv[0]);
        exit(2);
    }
    qmp_client *c = qmp_client_new();
    if (qmp_client_connect_unix(c, argv[1], 5000) < 0) {
        fprintf(stderr, "connect: %s\n", qmp_error_last()->message);
        qmp_client_free(c);
        exit(1);
    }
    return c;
}

/* Starts the submitting thread on c, once the loop is ready to be told. */
static pthread_t demo_start(qmp_client *c)
{
    pthread_t thread;
    pthread_create(&thread, NULL, demo_submitter, c);
    return thread;
}

/* Whether the loop may end: asked after each round of qmp_client_process(). */
static int demo_finished(void)
{
    return atomic_load(&demo_done);
}

/* Waits for the submitting thread to end. */
static void demo_join(pthread_t thread)
{
    pthread_join(thread, NULL);
}

/* The example's exit status: 1 when anything went wrong, else 0. */
static int demo_exit_status(void)
{
    return demo_failed ? 1 : 0;
}

#endif
