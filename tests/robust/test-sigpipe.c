/*
 * SIGPIPE: with SIGPIPE at its default disposition (which kills), writing a
 * command to a peer that has gone must end in QMP_ECLOSED, and the process
 * must live on (the library writes with MSG_NOSIGNAL and installs no signal
 * handler).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "peer.h"
#include "robust.h"

static int setup(void **state) {
    (void)state;
    signal(SIGPIPE, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    return 0;
}

/* The peer closed its end: sync, string and async calls all get QMP_ECLOSED. */
static void test_peer_closed(void **state) {
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    peer_close(p);
    peer_wait_idle(p);

    json_t *r = (json_t *)1;
    assert_status(qmp_client_execute(c, qmp_command_new("query-status", NULL), &r), QMP_ECLOSED);
    assert_null(r);
    assert_int_equal(qmp_client_is_connected(c), 0);
    assert_status(qmp_client_execute_str(c, "{\"execute\": \"query-status\"}", NULL), QMP_ECLOSED);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

/*
 * The peer stopped reading (shutdown(SHUT_RD)) but the connection is not
 * closed: only the write can notice, and it is exactly the write that
 * raises SIGPIPE without MSG_NOSIGNAL.
 */
static void test_peer_stopped_reading(void **state) {
    (void)state;
    int server;
    qmp_client *c = qmp_client_new();
    assert_status(robust_connect_pair(c, &server), QMP_OK);
    assert_int_equal(shutdown(server, SHUT_RD), 0);

    /* A big command, so the write cannot hide in the socket buffer either. */
    size_t n = 1 << 20;
    char *line = malloc(n + 1);
    assert_non_null(line);
    memset(line, 'x', n);
    line[n] = '\0';
    json_t *cmd = qmp_command_new("human-monitor-command", "s:command-line", line, NULL);
    free(line);
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = 5000;
    assert_status(qmp_client_execute_full(c, cmd, &o, NULL), QMP_ECLOSED);
    assert_int_equal(qmp_client_is_connected(c), 0);
    qmp_client_free(c);
    close(server);
}

/* Async: the send happens in qmp_client_process(). */
static int async_status = 1;
static void on_reply(qmp_client *c, int status, const json_t *result, void *user_data) {
    (void)c;
    (void)result;
    (void)user_data;
    async_status = status;
}

static void test_async_write_to_closed(void **state) {
    (void)state;
    int server;
    qmp_client *c = qmp_client_new();
    assert_status(robust_connect_pair(c, &server), QMP_OK);
    close(server);
    async_status = 1;
    int rc = qmp_client_execute_async(c, qmp_command_new("query-status", NULL), NULL, on_reply, NULL, NULL);
    if (rc == QMP_OK) {
        for (int i = 0; i < 100 && async_status == 1; i++) qmp_client_process(c, QMP_POLL_IN | QMP_POLL_OUT);
        assert_int_equal(async_status, QMP_ECLOSED);
    } else {
        assert_status(rc, QMP_ECLOSED);
    }
    qmp_client_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer_closed),
        cmocka_unit_test(test_peer_stopped_reading),
        cmocka_unit_test(test_async_write_to_closed),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
