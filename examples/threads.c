/*
 * threads: several threads share one client; each sends its own commands
 * and gets its own replies (checked), while a handler counts the events.
 *
 *   threads /path/to/qmp.sock [THREADS [COMMANDS_PER_THREAD]]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qmp/qmp.h>

static qmp_client *client;
static int per_thread = 200;
static atomic_int mismatches;
static atomic_int events;

static void on_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)c;
    (void)ev;
    (void)user_data;
    atomic_fetch_add(&events, 1);
}

static void *worker(void *arg)
{
    long n = (long)arg;
    for (int i = 0; i < per_thread; i++) {
        /* A reply that names the caller: QEMU's CommandNotFound desc carries
           the command name, so each thread checks it got its own answer. */
        char name[64];
        snprintf(name, sizeof name, "no-such-command-t%ld-%d", n, i);
        int rc = qmp_client_execute(client, qmp_command_new(name, NULL), NULL);
        const qmp_error *err = qmp_error_last();
        if (rc != QMP_ECOMMAND || strcmp(err->qmp_class, "CommandNotFound") != 0 || !strstr(err->qmp_desc, name)) {
            fprintf(stderr, "thread %ld: %s: unexpected answer: %s\n", n, name, err->message);
            atomic_fetch_add(&mismatches, 1);
            break;
        }
        json_t *ret = NULL;
        if (qmp_client_execute(client, qmp_command_new("query-status", NULL), &ret) != 0 ||
            !json_is_string(json_object_get(ret, "status"))) {
            fprintf(stderr, "thread %ld: query-status: %s\n", n, qmp_error_last()->message);
            atomic_fetch_add(&mismatches, 1);
        }
        json_decref(ret);
        /* Thread 0 makes events happen meanwhile. */
        if (n == 0 && i % 50 == 0 &&
            (qmp_client_execute(client, qmp_command_new("stop", NULL), NULL) != 0 ||
             qmp_client_execute(client, qmp_command_new("cont", NULL), NULL) != 0))
            atomic_fetch_add(&mismatches, 1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s QMP_SOCKET [THREADS [COMMANDS]]\n", argv[0]);
        return 2;
    }
    int nthreads = argc > 2 ? atoi(argv[2]) : 4;
    if (argc > 3) per_thread = atoi(argv[3]);
    client = qmp_client_new();
    if (qmp_client_connect_unix(client, argv[1], 5000) < 0) {
        fprintf(stderr, "connect: %s\n", qmp_error_last()->message);
        return 1;
    }
    qmp_client_on_event(client, NULL, on_event, NULL, NULL, NULL);
    pthread_t *t = calloc((size_t)nthreads, sizeof *t);
    for (long i = 0; i < nthreads; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
    free(t);
    printf("%d threads x %d commands: %d mismatches, %d events\n", nthreads, per_thread,
           atomic_load(&mismatches), atomic_load(&events));
    qmp_client_free(client);
    return atomic_load(&mismatches) ? 1 : 0;
}
