/*
 * Close-on-exec: every fd the library opens (Unix and adopted sockets, its
 * wake-up eventfd, dups of fds waiting to be passed) must be invisible to a
 * program the application fork+execs.  A helper (count-fds, path in
 * $LIBQMP_COUNT_FDS) lists the fds it was born with; the list must be the
 * same as before the clients existed, plus the one fd this test leaves
 * inheritable on purpose (to show the helper does see inherited fds).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "peer.h"
#include "robust.h"

/* The helper's output: the fds it inherited, as a newline-separated list. */
static char *child_fds(void) {
    const char *helper = getenv("LIBQMP_COUNT_FDS");
    assert_non_null(helper);
    int out[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1); /* dup2 clears close-on-exec: the child's stdout */
        execl(helper, helper, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    ssize_t n;
    while ((n = read(out[0], buf + len, cap - 1 - len)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0) len += (size_t)n;
    buf[len] = '\0';
    close(out[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return buf;
}

/* A Unix-socket QMP server for one connection: greeting, qmp_capabilities
   answered with its id, then it holds the connection until released. */
struct unix_server {
    char dir[64], path[96];
    int listener, conn;
    pthread_t thread;
};

static void *unix_server_main(void *arg) {
    struct unix_server *s = arg;
    s->conn = accept4(s->listener, NULL, NULL, SOCK_CLOEXEC);
    if (s->conn >= 0) robust_answer_handshake(s->conn);
    return NULL;
}

static void unix_server_start(struct unix_server *s) {
    strcpy(s->dir, "/tmp/libqmp-cloexec-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->path, sizeof s->path, "%s/qmp.sock", s->dir);
    s->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->listener >= 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    strcpy(a.sun_path, s->path);
    assert_int_equal(bind(s->listener, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->listener, 1), 0);
    assert_int_equal(pthread_create(&s->thread, NULL, unix_server_main, s), 0);
}

static void unix_server_stop(struct unix_server *s) {
    pthread_join(s->thread, NULL);
    if (s->conn >= 0) close(s->conn);
    close(s->listener);
    unlink(s->path);
    rmdir(s->dir);
}

static void on_reply(qmp_client *c, int status, const json_t *result, void *user_data) {
    (void)c;
    (void)result;
    *(int *)user_data = status;
}

static int parse_fds(const char *text, int *fds, int cap) {
    int n = 0;
    for (const char *q = text; *q && n < cap;) {
        char *end;
        long v = strtol(q, &end, 10);
        if (end == q) break;
        fds[n++] = (int)v;
        q = end;
        while (*q == '\n') q++;
    }
    return n;
}

static void test_no_fd_leaks_into_exec(void **state) {
    (void)state;
    char *before = child_fds();

    /* A Unix connection, an adopted socketpair, each with a command pending. */
    struct unix_server us;
    unix_server_start(&us);
    qmp_client *cu = qmp_client_new();
    assert_status(qmp_client_connect_unix(cu, us.path, 5000), QMP_OK);

    int server;
    qmp_client *cf = qmp_client_new();
    assert_status(robust_connect_pair(cf, &server), QMP_OK);

    int su = 1, sf = 1;
    assert_status(qmp_client_execute_async(cu, qmp_command_new("query-status", NULL), NULL, on_reply, &su, NULL),
                  QMP_OK);
    /* With an fd to pass: the library holds a dup of it until it is sent. */
    int pipefd[2];
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.fds = &pipefd[0];
    o.nfds = 1;
    json_t *getfd = qmp_command_new("getfd", "s:fdname", "f", NULL);
    assert_status(qmp_client_execute_async(cf, getfd, &o, on_reply, &sf, NULL), QMP_OK);
    close(pipefd[0]);
    close(pipefd[1]);

    /* Deliberately inheritable, to show the helper sees what is inherited. */
    int open_on_purpose = fcntl(0, F_DUPFD, 50);
    assert_true(open_on_purpose >= 50);

    char *after = child_fds();
    int bfds[256], afds[256];
    int nb = parse_fds(before, bfds, 256), na = parse_fds(after, afds, 256);
    int ok = 1, saw_on_purpose = 0;
    for (int i = 0; i < na; i++) {
        if (afds[i] == open_on_purpose) {
            saw_on_purpose = 1;
            continue;
        }
        int known = 0;
        for (int j = 0; j < nb; j++) known |= bfds[j] == afds[i];
        if (!known) {
            fprintf(stderr, "fd %d is open in the exec'd child (the clients' sockets: %d and %d)\n", afds[i],
                    qmp_client_get_fd(cu), qmp_client_get_fd(cf));
            ok = 0;
        }
    }
    assert_true(saw_on_purpose);
    assert_true(ok);

    close(open_on_purpose);
    free(before);
    free(after);
    qmp_client_free(cu);
    qmp_client_free(cf);
    assert_int_equal(su, QMP_ECANCELLED);
    assert_int_equal(sf, QMP_ECANCELLED);
    close(server);
    unix_server_stop(&us);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_fd_leaks_into_exec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
