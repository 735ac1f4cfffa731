/*
 * Oversized and slow servers.  A message that never ends (1 GiB without a
 * newline or a closing quote) and 100,000 nested arrays end in QMP_ETOOBIG
 * with the connection closed, holding no more memory than the message
 * limit (plus slack); a server that answers one byte per 50 ms is still
 * read correctly.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "peer.h"
#include "robust.h"

#define MIB (1024L * 1024)

/* The server's side of a flood: after the handshake, reads one command and
   answers it with a string that never ends, up to `limit` bytes or until
   the client hangs up. */
struct flood {
    long limit;
    long sent;
};

static void flood_then(int fd, void *arg) {
    struct flood *f = arg;
    char msg[4096];
    if (mini_read_message(fd, msg, sizeof msg, 30000) < 0) return;
    static const char head[] = "{\"return\": \"";
    if (mini_write_all(fd, head, sizeof head - 1) < 0) return;
    char *chunk = malloc(MIB);
    if (!chunk) return;
    memset(chunk, 'x', MIB);
    for (f->sent = 0; f->sent < f->limit; f->sent += MIB)
        if (mini_write_all(fd, chunk, MIB) < 0) break;
    free(chunk);
}

static void flood_case(size_t max_message, long limit) {
    int fd;
    struct flood f = {limit, 0};
    mini_server *s = mini_server_pair(&fd, flood_then, &f);
    qmp_client *c = qmp_client_new();
    if (max_message) assert_status(qmp_client_set_max_message_size(c, max_message), QMP_OK);
    assert_status(qmp_client_connect_fd(c, fd, 30000), QMP_OK);

    long rss_before = robust_rss_kib();
    int hwm_ok = robust_reset_hwm() == 0;
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = 300000;
    json_t *r = (json_t *)1;
    assert_status(qmp_client_execute_full(c, qmp_command_new("query-status", NULL), &o, &r), QMP_ETOOBIG);
    assert_null(r);
    assert_int_equal(qmp_client_is_connected(c), 0);
    long hwm = robust_hwm_kib();
    qmp_client_free(c);
    mini_server_join(s);

    size_t limit_bytes = max_message ? max_message : 64 * MIB;
    printf("# limit %zu MiB: the server got %ld MiB out before the client hung up; peak RSS +%ld KiB\n",
           limit_bytes / MIB, f.sent / MIB, hwm_ok ? hwm - rss_before : -1);
    /* The client hung up well before the gigabyte. */
    assert_true(f.sent < limit);
    if (!robust_under_asan() && !robust_under_valgrind()) {
        /* The peak is measured, not assumed: the reset of VmHWM must work. */
        assert_true(hwm_ok);
        /* What the splitter may hold (the limit), its read buffer and the allocator's slack. */
        long allowed_kib = (long)(limit_bytes / 1024) + 16 * 1024;
        assert_true(hwm - rss_before < allowed_kib);
    }
}

static void test_gigabyte_default_limit(void **state) {
    (void)state;
    /* QEMU's 64 MiB limit; under valgrind an 8 MiB one, to keep the scan short. */
    flood_case(robust_under_valgrind() ? 8 * MIB : 0, 1024 * MIB);
}

static void test_gigabyte_small_limit(void **state) {
    (void)state;
    flood_case(1 * MIB, 1024 * MIB);
}

static char *brackets(size_t n) {
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, '[', n);
    s[n] = '\0';
    return s;
}

/* 100,000 nested arrays as the reply: too deep at depth 1025. */
static void test_deep_nesting_reply(void **state) {
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    char *deep = brackets(100000);
    peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_send(p, deep);
    free(deep);
    json_t *r = (json_t *)1;
    assert_status(qmp_client_execute(c, qmp_command_new("query-status", NULL), &r), QMP_ETOOBIG);
    assert_null(r);
    assert_client_closed(c);
    qmp_client_free(c);
    peer_finish(p); /* the peer may or may not have got all of it out: no verdict on it */
}

/* ... and as the greeting. */
static void test_deep_nesting_greeting(void **state) {
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    char *deep = brackets(100000);
    peer_send(p, deep);
    free(deep);
    qmp_client *c = qmp_client_new();
    assert_status(qmp_client_connect_fd(c, fd, 10000), QMP_ETOOBIG);
    assert_int_equal(qmp_client_is_connected(c), 0);
    qmp_client_free(c);
    peer_finish(p);
}

/* One byte per 50 ms, a reply of ~80 bytes: 4 s of dribble, read correctly. */
static void test_slow_reply(void **state) {
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    peer_expect(p, "query-status", PEER_NO_ARGS);
    /* The first command after qmp_capabilities (id 1) has id 2: ids start
       from 1 again when nothing is pending, but never with the id answered last. */
    peer_send_slowly(p, "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": 2}\r\n", 50);
    json_t *r = NULL;
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = 60000;
    assert_status(qmp_client_execute_full(c, qmp_command_new("query-status", NULL), &o, &r), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "running");
    json_decref(r);
    assert_client_usable(c, p);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

/* A greeting and an event dribbled a byte at a time (5 ms apart). */
static void test_slow_greeting_and_event(void **state) {
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_send_slowly(p, PEER_GREETING_NO_OOB, 5);
    peer_expect(p, "qmp_capabilities", PEER_ANY_ARGS);
    peer_return(p, "{}");
    peer_send_slowly(p, "{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n", 5);
    qmp_client *c = qmp_client_new();
    assert_status(qmp_client_connect_fd(c, fd, 60000), QMP_OK);
    json_t *ev = NULL;
    assert_status(qmp_client_wait_event(c, "STOP", NULL, 0, 60000, &ev), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(ev, "event")), "STOP");
    json_decref(ev);
    peer_wait_idle(p); /* the event's line end is still dribbling in */
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gigabyte_default_limit),
        cmocka_unit_test(test_gigabyte_small_limit),
        cmocka_unit_test(test_deep_nesting_reply),
        cmocka_unit_test(test_deep_nesting_greeting),
        cmocka_unit_test(test_slow_reply),
        cmocka_unit_test(test_slow_greeting_and_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
