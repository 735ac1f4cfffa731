/*
 * test-threads-qemu: eight threads share one client connected to a real
 * qemu-system-x86_64 -M none.  Each call is a command that does not exist,
 * named uniquely, so QEMU's CommandNotFound desc (which quotes the name)
 * proves the reply reached its own caller; meanwhile a thread does
 * stop/cont so STOP and RESUME events arrive throughout, and a handler
 * checks it sees each exactly once, in order.  Then the same while the
 * client is attached to a GMainContext run by another thread.  Last, eight
 * threads ask a fresh connection schema questions and send validated
 * commands at the same moment, racing to fetch the schema.
 *
 * The binary is $QEMU_SYSTEM, else qemu-system-x86_64 from PATH.  Without
 * it the test fails, or is skipped (exit 77) when LIBQMP_QEMU_OPTIONAL=1.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <qmp/qmp.h>
#include <qmp/qmp-glib.h>

#include "helpers.h"
#include "loop-thread.h"

#define THREADS 8

static char qemu_path[4096];

static int find_qemu(void)
{
    const char *env = getenv("QEMU_SYSTEM");
    if (env && *env) {
        snprintf(qemu_path, sizeof qemu_path, "%s", env);
        return access(qemu_path, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    char *copy = strdup(path);
    int found = 0;
    for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
        snprintf(qemu_path, sizeof qemu_path, "%s/qemu-system-x86_64", *dir ? dir : ".");
        found = access(qemu_path, X_OK) == 0;
    }
    free(copy);
    return found;
}

struct qemu {
    pid_t pid;
    char dir[64];
    char sock[128];
    char log[128];
};

static void qemu_start(struct qemu *q)
{
    snprintf(q->dir, sizeof q->dir, "/tmp/libqmp-threads-XXXXXX");
    assert_non_null(mkdtemp(q->dir));
    snprintf(q->sock, sizeof q->sock, "%s/qmp.sock", q->dir);
    snprintf(q->log, sizeof q->log, "%s/qemu.log", q->dir);
    char qmp_arg[192];
    snprintf(qmp_arg, sizeof qmp_arg, "unix:%s,server=on,wait=off", q->sock);
    q->pid = fork();
    assert_true(q->pid >= 0);
    if (q->pid == 0) {
        int log = open(q->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        if (null >= 0)
            dup2(null, 0);
        execl(qemu_path, qemu_path, "-M", "none", "-nodefaults", "-display", "none", "-qmp", qmp_arg,
              (char *)NULL);
        _exit(127);
    }
}

static void qemu_stop(struct qemu *q)
{
    if (q->pid > 0) {
        kill(q->pid, SIGTERM);
        int status;
        long long deadline = t_now_ms() + 5000;
        while (waitpid(q->pid, &status, WNOHANG) == 0) {
            if (t_now_ms() > deadline) {
                kill(q->pid, SIGKILL);
                waitpid(q->pid, &status, 0);
                break;
            }
            t_sleep_ms(5);
        }
        q->pid = -1;
    }
    unlink(q->sock);
    unlink(q->log);
    rmdir(q->dir);
}

struct run {
    qmp_client *c;
    int per_thread;
    int rounds;                 /* stop/cont rounds */
    atomic_int ok;
    atomic_int mismatches;
    pthread_mutex_t lock;
    char first_error[512];

    /* The handler's own (one handler at a time, so plain). */
    unsigned long long last_seq;
    int order_errors;
    char first_order_error[160];
    int expect_stop;            /* the next event is STOP (1) or RESUME (0) */
    atomic_int stops, resumes;

    int check_thread;
    pthread_t loop;
    atomic_int wrong_thread;
};

static void run_error(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void run_error(struct run *r, const char *fmt, ...)
{
    pthread_mutex_lock(&r->lock);
    if (atomic_fetch_add(&r->mismatches, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->first_error, sizeof r->first_error, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&r->lock);
}

static void on_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)c;
    struct run *r = user_data;
    if (r->check_thread && !pthread_equal(pthread_self(), r->loop))
        atomic_fetch_add(&r->wrong_thread, 1);
    unsigned long long seq = qmp_event_seq(ev);
    const char *name = qmp_event_name(ev);
    int is_stop = strcmp(name, "STOP") == 0, is_resume = strcmp(name, "RESUME") == 0;
    if (seq != r->last_seq + 1 || (!is_stop && !is_resume) || is_stop != r->expect_stop) {
        if (r->order_errors++ == 0)
            snprintf(r->first_order_error, sizeof r->first_order_error, "event %s seq %llu after seq %llu", name,
                     seq, r->last_seq);
    }
    r->last_seq = seq;
    r->expect_stop = !is_stop;
    atomic_fetch_add(is_stop ? &r->stops : &r->resumes, 1);
}

struct worker {
    struct run *r;
    int index;
    pthread_t thread;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->r;
    for (int i = 0; i < r->per_thread; i++) {
        char name[64];
        snprintf(name, sizeof name, "no-such-command-t%d-%d", w->index, i);
        json_t *err = NULL;
        int rc = qmp_client_execute(r->c, qmp_command_new(name, NULL), &err);
        const qmp_error *e = qmp_error_last();
        const char *desc = json_string_value(json_object_get(err, "desc"));
        char quoted[128];
        snprintf(quoted, sizeof quoted, "command %s has not been found", name);
        if (rc != QMP_ECOMMAND || !e->qmp_class || strcmp(e->qmp_class, "CommandNotFound") != 0 || !desc ||
            !strstr(desc, quoted) || !e->qmp_desc || !strstr(e->qmp_desc, quoted)) {
            run_error(r, "%s: status %d, class %s, desc %s", name, rc, e->qmp_class ? e->qmp_class : "NULL",
                      desc ? desc : "NULL");
            json_decref(err);
            break;
        }
        json_decref(err);
        atomic_fetch_add(&r->ok, 1);
    }
    return NULL;
}

static void *stop_cont_main(void *arg)
{
    struct run *r = arg;
    for (int i = 0; i < r->rounds; i++) {
        const char *cmds[2] = { "stop", "cont" };
        const char *evs[2] = { "STOP", "RESUME" };
        for (int k = 0; k < 2; k++) {
            unsigned long long seq = qmp_client_event_seq(r->c);
            int rc = qmp_client_execute(r->c, qmp_command_new(cmds[k], NULL), NULL);
            if (rc != QMP_OK) {
                run_error(r, "%s: status %d: %s", cmds[k], rc, qmp_error_last()->message);
                return NULL;
            }
            /* The event may come before or after the reply: wait for it before the next command. */
            rc = qmp_client_wait_event(r->c, evs[k], NULL, seq, t_io_timeout_ms(), NULL);
            if (rc != QMP_OK) {
                run_error(r, "waiting for %s: status %d: %s", evs[k], rc, qmp_error_last()->message);
                return NULL;
            }
        }
        t_sleep_ms(2);
    }
    return NULL;
}

static void run_threads(int attach)
{
    struct qemu q;
    qemu_start(&q);
    struct run r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.lock, NULL);
    r.per_thread = t_scale(500, 10, 2);
    r.rounds = t_scale(25, 5, 1);
    r.expect_stop = 1;
    r.c = qmp_client_new();
    int rc = qmp_client_connect_unix(r.c, q.sock, t_io_timeout_ms());
    if (rc != QMP_OK) {
        const char *msg = qmp_error_last()->message;
        char log[2048] = "";
        FILE *f = fopen(q.log, "r");
        if (f) {
            size_t n = fread(log, 1, sizeof log - 1, f);
            log[n] = '\0';
            fclose(f);
        }
        qmp_client_free(r.c);
        qemu_stop(&q);
        fail_msg("connecting to %s: %s; QEMU said: %s", qemu_path, msg, log);
    }
    assert_int_equal(qmp_client_on_event(r.c, NULL, on_event, &r, NULL, NULL), QMP_OK);
    struct loop_thread l;
    if (attach) {
        loop_thread_start(&l);
        r.check_thread = 1;
        r.loop = l.thread;
        assert_int_equal(qmp_client_attach(r.c, l.ctx), QMP_OK);
    }

    long long t0 = t_now_ms();
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i].r = &r;
        w[i].index = i;
        assert_int_equal(pthread_create(&w[i].thread, NULL, worker_main, &w[i]), 0);
    }
    pthread_t events;
    assert_int_equal(pthread_create(&events, NULL, stop_cont_main, &r), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(w[i].thread, NULL);
    pthread_join(events, NULL);
    long long took = t_now_ms() - t0;

    /* The handler may still have events to run: let them through. */
    long long deadline = t_now_ms() + t_io_timeout_ms();
    while (atomic_load(&r.resumes) < r.rounds && t_now_ms() < deadline) {
        if (!attach)
            qmp_client_process(r.c, QMP_POLL_IN);
        t_sleep_ms(1);
    }
    fprintf(stderr, "# %d threads x %d calls against QEMU%s: %lld ms, %d STOP, %d RESUME\n", THREADS, r.per_thread,
            attach ? " (GLib)" : "", took, atomic_load(&r.stops), atomic_load(&r.resumes));
    int mismatches = atomic_load(&r.mismatches);
    char first[512];
    snprintf(first, sizeof first, "%s", r.first_error);

    qmp_client_free(r.c);
    if (attach)
        loop_thread_stop(&l);
    qemu_stop(&q);
    pthread_mutex_destroy(&r.lock);

    if (mismatches)
        fail_msg("%d mismatched or failed calls; the first: %s", mismatches, first);
    assert_int_equal(atomic_load(&r.ok), THREADS * r.per_thread);
    if (r.order_errors)
        fail_msg("%d events out of order; the first: %s", r.order_errors, r.first_order_error);
    assert_int_equal(atomic_load(&r.stops), r.rounds);
    assert_int_equal(atomic_load(&r.resumes), r.rounds);
    assert_int_equal(r.last_seq, (unsigned long long)(2 * r.rounds));
    assert_int_equal(atomic_load(&r.wrong_thread), 0);
}

static void test_threads_qemu(void **state)
{
    (void)state;
    run_threads(0);
}

static void test_threads_qemu_glib(void **state)
{
    (void)state;
    run_threads(1);
}

/* --- the schema, from eight threads at once ------------------------------ */

struct schema_run {
    qmp_client *c;
    pthread_barrier_t start;
    atomic_int bad;
    int rounds;
    char first[512];
    pthread_mutex_t lock;
};

static void schema_bad(struct schema_run *r, const char *what, int got)
{
    pthread_mutex_lock(&r->lock);
    if (atomic_fetch_add(&r->bad, 1) == 0)
        snprintf(r->first, sizeof r->first, "%s: got %d (%s)", what, got, qmp_error_last()->message);
    pthread_mutex_unlock(&r->lock);
}

static void *schema_worker(void *arg)
{
    struct schema_run *r = arg;
    pthread_barrier_wait(&r->start);
    for (int i = 0; i < r->rounds; i++) {
        int rc = qmp_client_schema_has(r->c, "blockdev-add/arg-type/+file/aio/^io_uring");
        if (rc != 1) schema_bad(r, "io_uring query", rc);
        rc = qmp_client_schema_has(r->c, "blockdev-add/arg-type/+qcow2/drop-cache");
        if (rc != 0) schema_bad(r, "qcow2 drop-cache query", rc);
        qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
        o.validate = QMP_VALIDATE;
        rc = qmp_client_execute_full(r->c, qmp_command_new("query-status", "s:verbose", "yes", NULL), &o, NULL);
        if (rc != QMP_EINVAL || !strstr(qmp_error_last()->message, "unknown member 'verbose'"))
            schema_bad(r, "validated bad query-status", rc);
        json_t *ret = NULL;
        rc = qmp_client_execute_full(r->c, qmp_command_new("query-status", NULL), &o, &ret);
        if (rc != QMP_OK || !json_is_string(json_object_get(ret, "status")))
            schema_bad(r, "validated query-status", rc);
        json_decref(ret);
    }
    return NULL;
}

static void test_threads_qemu_schema(void **state)
{
    (void)state;
    struct qemu q;
    qemu_start(&q);
    struct schema_run r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.lock, NULL);
    r.rounds = t_scale(50, 5, 2);
    r.c = qmp_client_new();
    if (qmp_client_connect_unix(r.c, q.sock, t_io_timeout_ms()) != QMP_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", qmp_error_last()->message);
        qmp_client_free(r.c);
        qemu_stop(&q);
        fail_msg("connecting: %s", msg);
    }
    assert_int_equal(qmp_client_set_timeout(r.c, t_io_timeout_ms()), QMP_OK);
    pthread_barrier_init(&r.start, NULL, THREADS);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, schema_worker, &r), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    /* However many fetched, the client keeps one schema: later callers share it. */
    qmp_schema *a = qmp_client_get_schema(r.c, 0), *b = qmp_client_get_schema(r.c, 0);
    assert_non_null(a);
    assert_ptr_equal(a, b);
    qmp_schema_unref(a);
    qmp_schema_unref(b);
    qmp_client_free(r.c);
    qemu_stop(&q);
    pthread_barrier_destroy(&r.start);
    pthread_mutex_destroy(&r.lock);
    if (atomic_load(&r.bad))
        fail_msg("%d wrong answers; the first: %s", atomic_load(&r.bad), r.first);
}

int main(void)
{
    if (!find_qemu()) {
        const char *optional = getenv("LIBQMP_QEMU_OPTIONAL");
        int skip = optional && strcmp(optional, "1") == 0;
        fprintf(stderr, "test-threads-qemu: qemu-system-x86_64 not found (QEMU_SYSTEM or PATH)%s\n",
                skip ? "; skipped (LIBQMP_QEMU_OPTIONAL=1)" : "");
        return skip ? 77 : 1;
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_qemu),
        cmocka_unit_test(test_threads_qemu_glib),
        cmocka_unit_test(test_threads_qemu_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
