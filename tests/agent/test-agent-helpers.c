/*
 * The guest agent helpers (qmp-agent.h) against a real qemu-ga started per
 * test by qga.h, always with -b blocking every command that changes the
 * machine.  guest-exec runs only /bin/echo, /bin/cat, /bin/false and
 * /bin/sh with harmless scripts; files live in the instance's private
 * directory.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <qmp/qmp.h>

#include "qga.h"

static qga g;
static qmp_client *c;

static int setup(void **state)
{
    (void)state;
    qga_start(&g);
    c = qmp_client_new();
    if (qmp_client_connect_agent_unix(c, g.sock, 10000) != QMP_OK) {
        fprintf(stderr, "connect: %s\n", qmp_error_last()->message);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    qmp_client_free(c);
    c = NULL;
    qga_stop(&g);
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* The number of fds qemu-ga holds open: a leaked guest file handle shows here. */
static int agent_fds(void)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)g.pid);
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

static void test_ping_and_commands(void **state)
{
    (void)state;
    assert_int_equal(qmp_agent_ping(c, 0), QMP_OK);
    char **names = NULL;
    char *version = NULL;
    assert_int_equal(qmp_agent_commands(c, &names, &version), QMP_OK);
    assert_non_null(version);
    assert_true(strlen(version) > 0);
    int ping = 0, exec = 0, shutdown = 0;
    for (char **p = names; *p; p++) {
        if (!strcmp(*p, "guest-ping")) ping = 1;
        if (!strcmp(*p, "guest-exec")) exec = 1;
        if (!strcmp(*p, "guest-shutdown")) shutdown = 1;
    }
    assert_true(ping && exec);
    assert_false(shutdown);  /* blocked with -b: not enabled */
    qmp_agent_strv_free(names);
    qmp_free(version);
}

/* On a QMP-less client: QMP_EINVAL saying it is not a guest agent. */
static void test_not_an_agent(void **state)
{
    (void)state;
    qmp_client *plain = qmp_client_new();
    assert_int_equal(qmp_agent_ping(plain, 0), QMP_EINVAL);
    assert_non_null(strstr(qmp_error_last()->message, "guest agent"));
    qmp_client_free(plain);
}

static void test_exec_echo(void **state)
{
    (void)state;
    const char *argv[] = {"/bin/echo", "hello", "world", NULL};
    qmp_agent_exec_result r;
    assert_int_equal(qmp_agent_exec(c, argv, NULL, NULL, 0, 10000, &r), QMP_OK);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.signal, 0);
    assert_int_equal(r.out_len, 12);
    assert_memory_equal(r.out, "hello world\n", 12);
    assert_int_equal(r.err_len, 0);
    assert_false(r.out_truncated);
    qmp_agent_exec_result_clear(&r);
}

static void test_exec_stdin_env_status(void **state)
{
    (void)state;
    const char *cat[] = {"/bin/cat", NULL};
    qmp_agent_exec_result r;
    assert_int_equal(qmp_agent_exec(c, cat, NULL, "fed through stdin", 17, 10000, &r), QMP_OK);
    assert_int_equal(r.out_len, 17);
    assert_memory_equal(r.out, "fed through stdin", 17);
    qmp_agent_exec_result_clear(&r);

    const char *sh[] = {"/bin/sh", "-c", "echo \"$GREETING\" >&2; exit 3", NULL};
    const char *env[] = {"GREETING=hi there", NULL};
    assert_int_equal(qmp_agent_exec(c, sh, env, NULL, 0, 10000, &r), QMP_OK);
    assert_int_equal(r.exit_code, 3);
    assert_int_equal(r.err_len, 9);
    assert_memory_equal(r.err, "hi there\n", 9);
    qmp_agent_exec_result_clear(&r);

    const char *f[] = {"/bin/false", NULL};
    assert_int_equal(qmp_agent_exec(c, f, NULL, NULL, 0, 10000, &r), QMP_OK);
    assert_int_equal(r.exit_code, 1);
    qmp_agent_exec_result_clear(&r);

    const char *killed[] = {"/bin/sh", "-c", "kill -TERM $$", NULL};
    assert_int_equal(qmp_agent_exec(c, killed, NULL, NULL, 0, 10000, &r), QMP_OK);
    assert_int_equal(r.signal, 15);
    assert_int_equal(r.exit_code, -1);
    qmp_agent_exec_result_clear(&r);
}

static void test_exec_missing_program(void **state)
{
    (void)state;
    char path[400];
    qga_path(&g, "no-such-program", path, sizeof path);
    const char *argv[] = {path, NULL};
    qmp_agent_exec_result r;
    assert_int_equal(qmp_agent_exec(c, argv, NULL, NULL, 0, 10000, &r), QMP_ECOMMAND);
    qmp_agent_exec_result_clear(&r);
    assert_int_equal(qmp_agent_ping(c, 0), QMP_OK);
}

/* More output than the agent keeps (16 MiB): the start, and truncation reported. */
static void test_exec_big_output_truncated(void **state)
{
    (void)state;
    const char *argv[] = {"/bin/sh", "-c", "head -c 17000000 /dev/zero", NULL};
    qmp_agent_exec_result r;
    assert_int_equal(qmp_agent_exec(c, argv, NULL, NULL, 0, 60000, &r), QMP_OK);
    assert_true(r.out_truncated);
    assert_true(r.out_len > 1000000);
    assert_true(r.out_len < 17000000);
    assert_int_equal(r.out[0], 0);
    qmp_agent_exec_result_clear(&r);
}

/* A program still running at the timeout: QMP_ETIMEDOUT with its pid, the connection fine. */
static void test_exec_outlives_timeout(void **state)
{
    (void)state;
    const char *argv[] = {"/bin/sh", "-c", "sleep 2", NULL};
    qmp_agent_exec_result r;
    long long t0 = now_ms();
    assert_int_equal(qmp_agent_exec(c, argv, NULL, NULL, 0, 300, &r), QMP_ETIMEDOUT);
    long long took = now_ms() - t0;
    assert_true(took >= 290 && took < 2000);
    assert_true(r.pid > 0);
    assert_non_null(strstr(qmp_error_last()->message, "keeps running"));
    qmp_agent_exec_result_clear(&r);
    assert_int_equal(qmp_agent_ping(c, 0), QMP_OK);
}

struct exec_job {
    qmp_agent_exec_result r;
};

static int exec_sleep(qmp_client *cl, void *arg)
{
    const char *argv[] = {"/bin/sh", "-c", "sleep 3", NULL};
    return qmp_agent_exec(cl, argv, NULL, NULL, 0, 30000, &((struct exec_job *)arg)->r);
}

static void *cancel_after_200ms(void *call)
{
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
    qmp_call_cancel(call);
    return NULL;
}

/* qmp_call_run() makes the helper's wait (guest-exec, then guest-exec-status
   between naps) cancellable: it ends at once with the guest's pid, the
   program keeps running, the channel answers the next command. */
static void test_exec_cancelled(void **state)
{
    (void)state;
    qmp_call *call = qmp_call_new(c);
    struct exec_job job;
    memset(&job, 0, sizeof job);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cancel_after_200ms, call), 0);
    long long t0 = now_ms();
    assert_int_equal(qmp_call_run(call, exec_sleep, &job), QMP_ECANCELLED);
    long long took = now_ms() - t0;
    pthread_join(t, NULL);
    assert_true(took < 2500);
    assert_non_null(strstr(qmp_call_error(call)->message, "was cancelled; it keeps running"));
    assert_true(job.r.pid > 0);
    qmp_agent_exec_result_clear(&job.r);
    qmp_call_free(call);
    assert_int_equal(qmp_agent_ping(c, 0), QMP_OK);
}

/* A file of several chunks, written and read back through the agent. */
static void test_file_round_trip(void **state)
{
    (void)state;
    size_t n = 300 * 1000 + 7;
    unsigned char *buf = malloc(n);
    for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)(i * 31 + (i >> 9));
    char path[400];
    qga_path(&g, "big.bin", path, sizeof path);
    int fds = agent_fds();
    assert_int_equal(qmp_agent_file_write(c, path, buf, n), QMP_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((size_t)st.st_size, n);
    void *data = NULL;
    size_t len = 0;
    assert_int_equal(qmp_agent_file_read(c, path, 0, &data, &len), QMP_OK);
    assert_int_equal(len, n);
    assert_memory_equal(data, buf, n);
    qmp_free(data);
    assert_int_equal(agent_fds(), fds);  /* every handle closed */
    /* A limit below the size: QMP_ETOOBIG, and the handle still closed. */
    assert_int_equal(qmp_agent_file_read(c, path, 1000, &data, &len), QMP_ETOOBIG);
    assert_null(data);
    assert_int_equal(agent_fds(), fds);
    /* An empty file. */
    assert_int_equal(qmp_agent_file_write(c, path, NULL, 0), QMP_OK);
    assert_int_equal(qmp_agent_file_read(c, path, 0, &data, &len), QMP_OK);
    assert_int_equal(len, 0);
    qmp_free(data);
    free(buf);
}

static void test_file_read_missing(void **state)
{
    (void)state;
    char path[400];
    qga_path(&g, "missing.txt", path, sizeof path);
    int fds = agent_fds();
    void *data = NULL;
    size_t len = 0;
    assert_int_equal(qmp_agent_file_read(c, path, 0, &data, &len), QMP_ECOMMAND);
    assert_null(data);
    assert_int_equal(agent_fds(), fds);
}

/* A path that cannot be opened for writing (a directory): QMP_ECOMMAND, no handle left. */
static void test_file_write_unwritable(void **state)
{
    (void)state;
    char path[400];
    qga_path(&g, "state", path, sizeof path);
    int fds = agent_fds();
    assert_int_equal(qmp_agent_file_write(c, path, "x", 1), QMP_ECOMMAND);
    assert_int_equal(agent_fds(), fds);
    assert_int_equal(qmp_agent_ping(c, 0), QMP_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ping_and_commands, setup, teardown),
        cmocka_unit_test(test_not_an_agent),
        cmocka_unit_test_setup_teardown(test_exec_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_stdin_env_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_missing_program, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_big_output_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_cancelled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_outlives_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_read_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_write_unwritable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
