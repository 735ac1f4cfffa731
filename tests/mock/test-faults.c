/*
 * The test server under faults: a client that closes early, sends garbage
 * or more than the script holds, or stops reading; a server freed in every
 * state; and 1,000 servers created and freed with threads running clients
 * against them, leaving no thread or fd behind.
 */
#include "helpers.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

/* Reads one line (a message from the server) from a raw socket, waiting up to wait_ms(). */
static char *read_line(int fd)
{
    static char buf[1 << 16];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        assert_int_equal(poll(&p, 1, wait_ms()), 1);
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0)
            break;
        n++;
        if (buf[n - 1] == '\n')
            break;
    }
    buf[n] = '\0';
    return buf;
}

static void write_text(int fd, const char *text)
{
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

/* A raw client: the greeting read and qmp_capabilities done. */
static int raw_client(qmp_mock *m)
{
    int fd = qmp_mock_socketpair(m);
    assert_true(fd >= 0);
    assert_non_null(strstr(read_line(fd), "\"QMP\""));
    write_text(fd, "{\"execute\": \"qmp_capabilities\", \"id\": 1}\n");
    assert_string_equal(read_line(fd), "{\"return\":{},\"id\":1}\r\n");
    return fd;
}

static void test_garbage(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_expect_str(m, "stop", NULL, "{\"return\": {}}"));
    int fd = raw_client(m);
    write_text(fd, "}{ not json\n");
    /* QEMU's way: an error without an id. */
    assert_string_equal(read_line(fd), "{\"error\":{\"class\":\"GenericError\",\"desc\":\"qmp_mock: the client sent "
                                       "something that is not JSON\"}}\r\n");
    /* The server carries on. */
    write_text(fd, "{\"execute\": \"stop\", \"id\": \"x\"}");
    assert_string_equal(read_line(fd), "{\"return\":{},\"id\":\"x\"}\r\n");
    assert_error(qmp_mock_verify(m, wait_ms()), QMP_EPROTO, "qmp_mock: the client sent something that is not JSON");
    close(fd);
    qmp_mock_free(m);
}

static void test_not_a_command(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    int fd = raw_client(m);
    write_text(fd, "{\"exec\": \"stop\", \"id\": 2}");
    const char *want = "qmp_mock: the client sent a message that is not a command: {\"exec\": \"stop\", \"id\": 2}";
    char expected[256];
    snprintf(expected, sizeof expected, "{\"error\":{\"class\":\"GenericError\",\"desc\":\"%s\"},\"id\":2}\r\n",
             "qmp_mock: the client sent a message that is not a command: {\\\"exec\\\": \\\"stop\\\", \\\"id\\\": 2}");
    assert_string_equal(read_line(fd), expected);
    assert_error(qmp_mock_verify(m, wait_ms()), QMP_EPROTO, want);
    close(fd);
    qmp_mock_free(m);
}

/* Two commands in one write, an event scripted between their answers: the
 * event goes out after the first answer, before the second command is taken. */
static void test_pipelined_commands_with_event(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_expect_str(m, "stop", NULL, "{\"return\": {}}"));
    assert_ok(qmp_mock_event_str(m, "{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 0}}"));
    assert_ok(qmp_mock_expect_str(m, "cont", NULL, "{\"return\": {}}"));
    int fd = raw_client(m);
    write_text(fd, "{\"execute\": \"stop\", \"id\": 1}{\"execute\": \"cont\", \"id\": 2}");
    assert_string_equal(read_line(fd), "{\"return\":{},\"id\":1}\r\n");
    assert_string_equal(read_line(fd), "{\"event\":\"STOP\",\"timestamp\":{\"seconds\":1,\"microseconds\":0}}\r\n");
    assert_string_equal(read_line(fd), "{\"return\":{},\"id\":2}\r\n");
    assert_ok(qmp_mock_verify(m, wait_ms()));
    close(fd);
    qmp_mock_free(m);
}

static void test_command_before_negotiation(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    int fd = qmp_mock_socketpair(m);
    read_line(fd);
    write_text(fd, "{\"execute\": \"stop\", \"id\": 1}");
    assert_non_null(strstr(read_line(fd), "qmp_mock: expected qmp_capabilities (the negotiation), got 'stop'"));
    assert_error(qmp_mock_verify(m, wait_ms()), QMP_EPROTO,
                 "qmp_mock: expected qmp_capabilities (the negotiation), got 'stop'");
    close(fd);
    qmp_mock_free(m);
}

static void test_client_closes_early(void **state)
{
    (void)state;
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_expect_str(m, "stop", NULL, "{\"return\": {}}"));
    int fd = qmp_mock_socketpair(m);
    close(fd);
    assert_error(qmp_mock_verify(m, wait_ms()), QMP_EPROTO,
                 "qmp_mock: the client closed the connection before the script was used up: still expected "
                 "command 'stop'");
    qmp_mock_free(m);
}

/* A client that never reads while the server writes a big reply: free still returns. */
static void test_free_while_blocked_writing(void **state)
{
    (void)state;
    size_t big = 8 << 20;
    char *resp = malloc(big + 32);
    assert_non_null(resp);
    strcpy(resp, "{\"return\": \"");
    memset(resp + 12, 'x', big);
    strcpy(resp + 12 + big, "\"}");
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_expect_str(m, "query-big", NULL, resp));
    free(resp);
    int fd = raw_client(m);
    write_text(fd, "{\"execute\": \"query-big\"}");
    usleep(50 * 1000);
    alarm(60); /* a hang fails the test instead of blocking the suite */
    qmp_mock_free(m);
    alarm(0);
    close(fd);
}

/* Freed in every state: never started, listening with nobody coming, connected and idle. */
static void test_free_in_every_state(void **state)
{
    (void)state;
    alarm(60);
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_expect_str(m, "stop", NULL, "{\"return\": {}}"));
    qmp_mock_free(m);

    char dir[] = "/tmp/libqmp-mock-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/s", dir);
    m = qmp_mock_new();
    assert_ok(qmp_mock_listen_unix(m, path));
    qmp_mock_free(m);
    assert_int_equal(rmdir(dir), 0); /* the socket is gone with the server */

    m = qmp_mock_new();
    qmp_client *c = connect_mock(m);
    qmp_mock_free(m);
    int rc;
    qmp_free(run(c, "{\"execute\": \"stop\"}", &rc));
    assert_int_equal(rc, QMP_ECLOSED);
    qmp_client_free(c);
    alarm(0);
}

/* --- many servers ------------------------------------------------------------ */

#define ROUNDS_THREADS 4

static void *many_rounds(void *arg)
{
    int rounds = *(int *)arg;
    for (int i = 0; i < rounds; i++) {
        qmp_mock *m = qmp_mock_new();
        if (!m)
            return (void *)"qmp_mock_new";
        if (qmp_mock_expect_str(m, "stop", NULL, "{\"return\": {}}") != 0 ||
            qmp_mock_event_str(m, "{\"event\": \"STOP\"}") != 0)
            return (void *)"script";
        int fd = qmp_mock_socketpair(m);
        qmp_client *c = qmp_client_new();
        if (fd < 0 || !c || qmp_client_connect_fd(c, fd, wait_ms()) != 0)
            return (void *)"connect";
        /* Every fourth client leaves before the end: the server copes. */
        if (i % 4 != 3) {
            if (qmp_client_execute_str(c, "{\"execute\": \"stop\"}", NULL) != 0)
                return (void *)"execute";
            if (qmp_client_wait_event(c, "STOP", NULL, 0, wait_ms(), NULL) != 0)
                return (void *)"event";
            if (qmp_mock_verify(m, wait_ms()) != 0)
                return (void *)"verify";
        }
        qmp_client_free(c);
        qmp_mock_free(m);
    }
    return NULL;
}

static void test_many_servers_leave_nothing(void **state)
{
    (void)state;
    /* Under valgrind each round is slow; the count of what is left is the point. */
    int total = getenv("LIBQMP_TEST_VALGRIND") ? 100 : 1000;
    int rounds = total / ROUNDS_THREADS;
    int fds = count_entries("/proc/self/fd");
    int tasks = count_entries("/proc/self/task");
    pthread_t th[ROUNDS_THREADS];
    for (int i = 0; i < ROUNDS_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, many_rounds, &rounds), 0);
    for (int i = 0; i < ROUNDS_THREADS; i++) {
        void *err;
        assert_int_equal(pthread_join(th[i], &err), 0);
        if (err)
            fail_msg("a round failed at %s: %s", (const char *)err, qmp_error_last()->message);
    }
    assert_int_equal(count_entries("/proc/self/fd"), fds);
    assert_int_equal(count_tasks_down_to(tasks), tasks);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_not_a_command),
        cmocka_unit_test(test_pipelined_commands_with_event),
        cmocka_unit_test(test_command_before_negotiation),
        cmocka_unit_test(test_client_closes_early),
        cmocka_unit_test(test_free_while_blocked_writing),
        cmocka_unit_test(test_free_in_every_state),
        cmocka_unit_test(test_many_servers_leave_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
