/*
 * test-fds: passing fds with SCM_RIGHTS (qmp_exec_options.fds) and the
 * getfd / closefd / add-fd helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include <qmp/qmp.h>
#include "peer.h"

static void assert_open(int fd)
{
    assert_true(fcntl(fd, F_GETFD) != -1);
}

static void finish(qmp_client *c, peer *p)
{
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_two_fds_with_a_command(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);

    /* Exactly 2 fds, on the first byte, the caller's files; none with the other messages. */
    peer_expect_fds(p, "add-fd", PEER_NO_ARGS, 2, pipefd);
    peer_return(p, "{\"fdset-id\": 0, \"fd\": 25}");
    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    opts.fds = pipefd;
    opts.nfds = 2;
    json_t *r = NULL;
    assert_status(qmp_client_execute_full(c, qmp_command_new("add-fd", NULL), &opts, &r), QMP_OK);
    assert_int_equal(json_integer_value(json_object_get(r, "fd")), 25);
    json_decref(r);
    assert_open(pipefd[0]);
    assert_open(pipefd[1]);

    /* The string twin passes them too. */
    peer_expect_fds(p, "getfd", "{\"fdname\": \"x\"}", 1, pipefd + 1);
    peer_return(p, "{}");
    opts.fds = pipefd + 1;
    opts.nfds = 1;
    assert_status(qmp_client_execute_str_full(c, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"x\"}}",
                                              &opts, NULL), QMP_OK);
    assert_open(pipefd[1]);

    assert_client_usable(c, p);   /* and no fds with it */
    finish(c, p);
    close(pipefd[0]);
    close(pipefd[1]);
}

static void test_max_fds(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    int fds[QMP_MAX_FDS + 1];
    fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fds[0] >= 0);
    for (int i = 1; i <= QMP_MAX_FDS; i++) {
        fds[i] = fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
        assert_true(fds[i] >= 0);
    }

    /* QMP_MAX_FDS is allowed. */
    peer_expect_fds(p, "add-fd", PEER_NO_ARGS, QMP_MAX_FDS, fds);
    peer_return(p, "{\"fdset-id\": 0, \"fd\": 25}");
    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    opts.fds = fds;
    opts.nfds = QMP_MAX_FDS;
    assert_status(qmp_client_execute_full(c, qmp_command_new("add-fd", NULL), &opts, NULL), QMP_OK);

    /* One more is QMP_EINVAL, and nothing is sent. */
    opts.nfds = QMP_MAX_FDS + 1;
    json_t *r = (json_t *)(uintptr_t)1;
    assert_status(qmp_client_execute_full(c, qmp_command_new("add-fd", NULL), &opts, &r), QMP_EINVAL);
    assert_null(r);
    assert_status(qmp_client_execute_str_full(c, "{\"execute\": \"add-fd\"}", &opts, NULL), QMP_EINVAL);

    /* nfds without fds is a bad argument too. */
    opts.fds = NULL;
    opts.nfds = 1;
    assert_status(qmp_client_execute_full(c, qmp_command_new("add-fd", NULL), &opts, NULL), QMP_EINVAL);

    for (int i = 0; i <= QMP_MAX_FDS; i++) {
        assert_open(fds[i]);
        close(fds[i]);
    }
    assert_client_usable(c, p);
    finish(c, p);
}

static void test_getfd(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);

    peer_expect_fds(p, "getfd", "{\"fdname\": \"migfd\"}", 1, &fd);
    peer_return(p, "{}");
    assert_status(qmp_client_getfd(c, fd, "migfd"), QMP_OK);
    assert_open(fd);

    peer_expect_fds(p, "getfd", "{\"fdname\": \"migfd\"}", 1, &fd);
    peer_error(p, "GenericError", "No file descriptor supplied via SCM_RIGHTS");
    assert_status(qmp_client_getfd(c, fd, "migfd"), QMP_ECOMMAND);
    assert_string_equal(qmp_error_last()->qmp_class, "GenericError");
    assert_open(fd);

    assert_status(qmp_client_getfd(c, -1, "migfd"), QMP_EINVAL);
    assert_status(qmp_client_getfd(c, fd, NULL), QMP_EINVAL);

    close(fd);
    assert_client_usable(c, p);
    finish(c, p);
}

static void test_closefd(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    peer_expect(p, "closefd", "{\"fdname\": \"migfd\"}");
    peer_return(p, "{}");
    assert_status(qmp_client_closefd(c, "migfd"), QMP_OK);

    peer_expect(p, "closefd", "{\"fdname\": \"nope\"}");
    peer_error(p, "GenericError", "File descriptor named 'nope' not found");
    assert_status(qmp_client_closefd(c, "nope"), QMP_ECOMMAND);
    assert_string_equal(qmp_error_last()->qmp_desc, "File descriptor named 'nope' not found");

    assert_status(qmp_client_closefd(c, NULL), QMP_EINVAL);
    assert_client_usable(c, p);
    finish(c, p);
}

static void test_add_fd_to_set(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);

    peer_expect_fds(p, "add-fd", "{\"fdset-id\": 3, \"opaque\": \"rdonly:/tmp/disk.img\"}", 1, &fd);
    peer_return(p, "{\"fdset-id\": 3, \"fd\": 27}");
    long long set = -1, qfd = -1;
    assert_status(qmp_client_add_fd(c, fd, 3, "rdonly:/tmp/disk.img", &set, &qfd), QMP_OK);
    assert_true(set == 3);
    assert_true(qfd == 27);
    assert_open(fd);

    /* Only the set, no opaque. */
    peer_expect_fds(p, "add-fd", "{\"fdset-id\": 0}", 1, &fd);
    peer_return(p, "{\"fdset-id\": 0, \"fd\": 28}");
    assert_status(qmp_client_add_fd(c, fd, 0, NULL, &set, NULL), QMP_OK);
    assert_true(set == 0);

    close(fd);
    assert_client_usable(c, p);
    finish(c, p);
}

static void test_add_fd_new_set(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);

    int cmd = peer_expect_fds(p, "add-fd", PEER_ANY_ARGS, 1, &fd);
    peer_return(p, "{\"fdset-id\": 1, \"fd\": 26}");
    long long set = -1, qfd = -1;
    assert_status(qmp_client_add_fd(c, fd, -1, NULL, &set, &qfd), QMP_OK);
    assert_true(set == 1);
    assert_true(qfd == 26);

    /* No fdset-id and no opaque: no arguments, or an empty object. */
    char *text = peer_received(p, cmd);
    assert_non_null(text);
    json_t *msg = json_loads(text, 0, NULL);
    assert_non_null(msg);
    json_t *args = json_object_get(msg, "arguments");
    assert_true(args == NULL || (json_is_object(args) && json_object_size(args) == 0));
    json_decref(msg);
    free(text);

    /* The out pointers may be NULL. */
    peer_expect_fds(p, "add-fd", PEER_ANY_ARGS, 1, &fd);
    peer_return(p, "{\"fdset-id\": 2, \"fd\": 29}");
    assert_status(qmp_client_add_fd(c, fd, -1, NULL, NULL, NULL), QMP_OK);

    /* An error leaves the out pointers alone or sets them to -1; either way the status says it. */
    peer_expect_fds(p, "add-fd", PEER_ANY_ARGS, 1, &fd);
    peer_error(p, "GenericError", "No file descriptor supplied via SCM_RIGHTS");
    assert_status(qmp_client_add_fd(c, fd, -1, NULL, &set, &qfd), QMP_ECOMMAND);
    assert_true((set == 1 && qfd == 26) || (set == -1 && qfd == -1));

    assert_status(qmp_client_add_fd(c, -1, -1, NULL, NULL, NULL), QMP_EINVAL);

    assert_open(fd);
    close(fd);
    assert_client_usable(c, p);
    finish(c, p);
}

static void count_reply(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    (void)result;
    int *n = user_data;
    if (status == QMP_OK)
        (*n)++;
}

static void test_fds_with_async(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);

    peer_expect_fds(p, "getfd", "{\"fdname\": \"a\"}", 1, &fd);
    peer_return(p, "{}");
    peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return(p, "{\"status\": \"running\"}");

    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    opts.fds = &fd;
    opts.nfds = 1;
    int replies = 0;
    assert_status(qmp_client_execute_async(c, qmp_command_new("getfd", "s:fdname", "a", NULL), &opts,
                                           count_reply, &replies, NULL), QMP_OK);
    /* The sync call drives the async one out, and its reply in. */
    assert_status(qmp_client_execute(c, qmp_command_new("query-status", NULL), NULL), QMP_OK);
    assert_int_equal(replies, 1);
    assert_open(fd);
    close(fd);
    finish(c, p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_fds_with_a_command),
        cmocka_unit_test(test_max_fds),
        cmocka_unit_test(test_getfd),
        cmocka_unit_test(test_closefd),
        cmocka_unit_test(test_add_fd_to_set),
        cmocka_unit_test(test_add_fd_new_set),
        cmocka_unit_test(test_fds_with_async),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
