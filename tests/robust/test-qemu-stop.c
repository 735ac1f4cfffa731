/*
 * A frozen QEMU: SIGSTOP a real qemu-system-x86_64 (-M none), a call with a
 * timeout ends in QMP_ETIMEDOUT and leaves the client usable; after SIGCONT
 * the next call works (the late reply to the timed-out call is dropped).
 *
 * Needs qemu-system-x86_64 ($QEMU_SYSTEM or PATH): without it the test
 * fails, or is skipped (77) when LIBQMP_QEMU_OPTIONAL=1.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <qmp/qmp.h>

static const char *qemu_path(void) {
    const char *q = getenv("QEMU_SYSTEM");
    if (q && *q) return access(q, X_OK) == 0 ? q : NULL;
    static char found[4096];
    const char *path = getenv("PATH");
    if (!path) return NULL;
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        snprintf(found, sizeof found, "%.*s/qemu-system-x86_64", (int)n, p);
        if (n && access(found, X_OK) == 0) return found;
        p += n + (p[n] == ':');
    }
    return NULL;
}

struct qemu {
    pid_t pid;
    char dir[64], sock[96];
};

static struct qemu q = {-1, "", ""};

static int start_qemu(void **state) {
    (void)state;
    const char *bin = qemu_path();
    strcpy(q.dir, "/tmp/libqmp-stop-XXXXXX");
    if (!mkdtemp(q.dir)) return -1;
    snprintf(q.sock, sizeof q.sock, "%s/qmp.sock", q.dir);
    char qmp_arg[160];
    snprintf(qmp_arg, sizeof qmp_arg, "unix:%s,server=on,wait=off", q.sock);
    q.pid = fork();
    if (q.pid < 0) return -1;
    if (q.pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
        }
        execl(bin, bin, "-M", "none", "-nodefaults", "-display", "none", "-qmp", qmp_arg, (char *)NULL);
        _exit(127);
    }
    return 0;
}

static int stop_qemu(void **state) {
    (void)state;
    if (q.pid > 0) {
        kill(q.pid, SIGCONT);
        kill(q.pid, SIGKILL);
        waitpid(q.pid, NULL, 0);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/qmp.sock", q.dir);
    unlink(path);
    rmdir(q.dir);
    return 0;
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void assert_running(qmp_client *c) {
    json_t *r = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("query-status", NULL), &r), QMP_OK);
    assert_non_null(json_object_get(r, "status"));
    json_decref(r);
}

static void test_frozen_then_thawed(void **state) {
    (void)state;
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_connect_unix(c, q.sock, 30000), QMP_OK);
    assert_running(c);

    assert_int_equal(kill(q.pid, SIGSTOP), 0);
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = 500;
    json_t *r = (json_t *)1;
    long long t0 = now_ms();
    int rc = qmp_client_execute_full(c, qmp_command_new("query-status", NULL), &o, &r);
    long long took = now_ms() - t0;
    assert_int_equal(rc, QMP_ETIMEDOUT);
    assert_null(r);
    assert_true(took >= 450);
    assert_int_equal(qmp_client_is_connected(c), 1);
    /* A second timeout while still frozen, through the string API. */
    char *text = (char *)1;
    assert_int_equal(qmp_client_execute_str_full(c, "{\"execute\": \"query-name\"}", &o, &text), QMP_ETIMEDOUT);
    assert_null(text);

    assert_int_equal(kill(q.pid, SIGCONT), 0);
    /* The late replies (query-status, query-name) come first and are dropped;
       this call gets its own: a command neither of them was. */
    r = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("query-kvm", NULL), &r), QMP_OK);
    assert_true(json_is_boolean(json_object_get(r, "present")));
    assert_null(json_object_get(r, "status"));
    json_decref(r);
    assert_running(c);
    char *name = NULL;
    assert_int_equal(qmp_client_execute_str(c, "{\"execute\": \"query-version\"}", &name), QMP_OK);
    assert_non_null(strstr(name, "qemu"));
    qmp_free(name);
    qmp_client_free(c);
}

int main(void) {
    if (!qemu_path()) {
        const char *opt = getenv("LIBQMP_QEMU_OPTIONAL");
        fprintf(stderr, "qemu-system-x86_64 not found (set QEMU_SYSTEM or PATH)\n");
        return opt && strcmp(opt, "1") == 0 ? 77 : 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_frozen_then_thawed, start_qemu, stop_qemu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
