/*
 * test-handshake: connecting over an adopted fd: the greeting, capability
 * negotiation, and every way they can fail (qmp-client.h, "connecting").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <qmp/qmp.h>
#include "peer.h"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define assert_failed_connect(c, rc, expected) assert_failed_connect_at((c), (rc), (expected), __LINE__)
static void assert_failed_connect_at(qmp_client *c, int rc, int expected, int line)
{
    assert_status_at(rc, expected, __FILE__, line);
    assert_non_null(qmp_error_last()->message);
    assert_true(strlen(qmp_error_last()->message) > 0);
    assert_client_closed(c);
}

/* After a failed connect the client may connect again. */
static void assert_can_connect_again(qmp_client *c)
{
    int fd;
    peer *p = peer_new(&fd);
    peer_handshake(p, 0, 0);
    assert_status(qmp_client_connect_fd(c, fd, peer_io_timeout_ms()), QMP_OK);
    assert_client_usable(c, p);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_plain(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_greeting(p, 0);
    peer_expect(p, "qmp_capabilities", PEER_NO_ARGS);
    peer_return(p, "{}");

    qmp_client *c = qmp_client_new();
    assert_non_null(c);
    assert_int_equal(qmp_client_is_connected(c), 0);
    assert_null(qmp_client_greeting(c));
    assert_status(qmp_client_connect_fd(c, fd, 5000), QMP_OK);
    assert_int_equal(qmp_client_is_connected(c), 1);
    assert_int_equal(qmp_client_has_capability(c, "oob"), 0);

    int major = -1, minor = -1, micro = -1;
    assert_status(qmp_client_get_version(c, &major, &minor, &micro), QMP_OK);
    assert_int_equal(major, 7);
    assert_int_equal(minor, 2);
    assert_int_equal(micro, 22);
    assert_status(qmp_client_get_version(c, NULL, &minor, NULL), QMP_OK);
    assert_int_equal(minor, 2);

    const json_t *greeting = qmp_client_greeting(c);
    assert_non_null(greeting);
    const json_t *qmp = json_object_get(greeting, "QMP");
    assert_true(json_is_object(qmp));
    assert_string_equal(json_string_value(json_object_get(json_object_get(qmp, "version"), "package")),
                        "Debian 1:7.2+dfsg-7+deb12u18+b3");
    assert_int_equal(json_array_size(json_object_get(qmp, "capabilities")), 0);
    /* Borrowed: the same object until the client is closed. */
    assert_ptr_equal(qmp_client_greeting(c), greeting);
    assert_true(qmp_client_get_fd(c) >= 0);

    assert_client_usable(c, p);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_oob_negotiated(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_greeting(p, 1);
    peer_expect(p, "qmp_capabilities", "{\"enable\": [\"oob\"]}");
    peer_return(p, "{}");

    qmp_client *c = qmp_client_new();
    assert_status(qmp_client_set_oob(c, 1), QMP_OK);
    assert_status(qmp_client_connect_fd(c, fd, 5000), QMP_OK);
    assert_int_equal(qmp_client_has_capability(c, "oob"), 1);
    assert_int_equal(qmp_client_has_capability(c, "no-such-capability"), 0);
    const json_t *caps = json_object_get(json_object_get(qmp_client_greeting(c), "QMP"), "capabilities");
    assert_string_equal(json_string_value(json_array_get(caps, 0)), "oob");

    /* With oob negotiated, opts.oob sends exec-oob. */
    peer_expect_oob(p, "migrate-pause", PEER_NO_ARGS);
    peer_return(p, "{}");
    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    opts.oob = 1;
    assert_status(qmp_client_execute_full(c, qmp_command_new("migrate-pause", NULL), &opts, NULL), QMP_OK);

    /* And so does a command turned into exec-oob by qmp_command_set_oob(). */
    json_t *cmd = qmp_command_new("migrate-pause", NULL);
    assert_int_equal(qmp_command_set_oob(cmd), QMP_OK);
    peer_expect_oob(p, "migrate-pause", PEER_NO_ARGS);
    peer_return(p, "{}");
    assert_status(qmp_client_execute(c, cmd, NULL), QMP_OK);

    assert_client_usable(c, p);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_oob_not_offered(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_greeting(p, 0);
    peer_expect(p, "qmp_capabilities", PEER_NO_ARGS);
    peer_return(p, "{}");

    qmp_client *c = qmp_client_new();
    assert_status(qmp_client_set_oob(c, 1), QMP_OK);
    assert_status(qmp_client_connect_fd(c, fd, 5000), QMP_OK);
    assert_int_equal(qmp_client_has_capability(c, "oob"), 0);
    assert_client_usable(c, p);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_oob_offered_not_wanted(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_greeting(p, 1);
    peer_expect(p, "qmp_capabilities", PEER_NO_ARGS);
    peer_return(p, "{}");

    qmp_client *c = qmp_client_new();
    assert_status(qmp_client_connect_fd(c, fd, 5000), QMP_OK);
    assert_int_equal(qmp_client_has_capability(c, "oob"), 0);
    assert_client_usable(c, p);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_silent_peer_times_out(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_silent_until_close(p);   /* ends when the client closes its fd */

    qmp_client *c = qmp_client_new();
    long long start = now_ms();
    int rc = qmp_client_connect_fd(c, fd, 200);
    long long elapsed = now_ms() - start;
    assert_failed_connect(c, rc, QMP_ETIMEDOUT);
    assert_true(elapsed >= 150);
    assert_true(elapsed < 5000);
    assert_int_equal(peer_finish(p), 0);
    assert_can_connect_again(c);
}

static void test_capabilities_unanswered_times_out(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_greeting(p, 0);
    peer_expect(p, "qmp_capabilities", PEER_NO_ARGS);
    peer_silent_until_close(p);

    qmp_client *c = qmp_client_new();
    long long start = now_ms();
    int rc = qmp_client_connect_fd(c, fd, 200);
    long long elapsed = now_ms() - start;
    assert_failed_connect(c, rc, QMP_ETIMEDOUT);
    assert_true(elapsed >= 150);
    assert_true(elapsed < 5000);
    assert_int_equal(peer_finish(p), 0);
    assert_can_connect_again(c);
}

static void test_default_timeout_applies(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_silent_until_close(p);

    qmp_client *c = qmp_client_new();
    assert_status(qmp_client_set_timeout(c, 200), QMP_OK);
    long long start = now_ms();
    int rc = qmp_client_connect_fd(c, fd, 0);   /* 0: the client's default */
    long long elapsed = now_ms() - start;
    assert_failed_connect(c, rc, QMP_ETIMEDOUT);
    assert_true(elapsed >= 150);   /* the 200 ms default, not "no time at all" */
    assert_true(elapsed < 5000);
    assert_int_equal(peer_finish(p), 0);
    qmp_client_free(c);
}

static void test_not_a_greeting(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_send(p, "{\"hello\": 1}\r\n");
    peer_silent_until_close(p);

    qmp_client *c = qmp_client_new();
    assert_failed_connect(c, qmp_client_connect_fd(c, fd, 5000), QMP_EHANDSHAKE);
    assert_int_equal(peer_finish(p), 0);
    assert_can_connect_again(c);
}

static void test_greeting_is_garbage(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_send(p, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
    peer_silent_until_close(p);

    qmp_client *c = qmp_client_new();
    assert_failed_connect(c, qmp_client_connect_fd(c, fd, 5000), QMP_EHANDSHAKE);
    assert_int_equal(peer_finish(p), 0);
    assert_can_connect_again(c);
}

static void test_close_before_greeting(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_close(p);

    qmp_client *c = qmp_client_new();
    assert_failed_connect(c, qmp_client_connect_fd(c, fd, 5000), QMP_EHANDSHAKE);
    assert_int_equal(peer_finish(p), 0);
    assert_can_connect_again(c);
}

static void test_close_mid_greeting(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_send(p, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, ");
    peer_close(p);

    qmp_client *c = qmp_client_new();
    assert_failed_connect(c, qmp_client_connect_fd(c, fd, 5000), QMP_EHANDSHAKE);
    assert_int_equal(peer_finish(p), 0);
    assert_can_connect_again(c);
}

static void test_capabilities_refused(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_greeting(p, 0);
    peer_expect(p, "qmp_capabilities", PEER_NO_ARGS);
    peer_error(p, "GenericError", "Capabilities negotiation is already complete");
    peer_silent_until_close(p);

    qmp_client *c = qmp_client_new();
    assert_failed_connect(c, qmp_client_connect_fd(c, fd, 5000), QMP_ENEGOTIATION);
    assert_int_equal(peer_finish(p), 0);
    assert_can_connect_again(c);
}

static void test_close_before_capabilities_answer(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_greeting(p, 0);
    peer_expect(p, "qmp_capabilities", PEER_NO_ARGS);
    peer_close(p);

    qmp_client *c = qmp_client_new();
    assert_failed_connect(c, qmp_client_connect_fd(c, fd, 5000), QMP_ENEGOTIATION);
    assert_int_equal(peer_finish(p), 0);
    assert_can_connect_again(c);
}

static void test_greeting_byte_by_byte(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_send_slowly(p, PEER_GREETING_NO_OOB, 1);
    peer_expect(p, "qmp_capabilities", PEER_NO_ARGS);
    peer_return(p, "{}");

    qmp_client *c = qmp_client_new();
    assert_status(qmp_client_connect_fd(c, fd, 10000), QMP_OK);
    int micro = 0;
    assert_status(qmp_client_get_version(c, NULL, NULL, &micro), QMP_OK);
    assert_int_equal(micro, 22);
    assert_client_usable(c, p);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

/* What QEMU sends with -qmp ...,pretty=on: multi-line, braces on their own lines. */
static const char pretty_greeting[] =
    "{\n"
    "    \"QMP\": {\n"
    "        \"version\": {\n"
    "            \"qemu\": {\n"
    "                \"micro\": 22,\n"
    "                \"minor\": 2,\n"
    "                \"major\": 7\n"
    "            },\n"
    "            \"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"\n"
    "        },\n"
    "        \"capabilities\": [\n"
    "            \"oob\"\n"
    "        ]\n"
    "    }\n"
    "}\n";

static void test_pretty_greeting(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_send(p, pretty_greeting);
    int caps = peer_expect(p, "qmp_capabilities", "{\"enable\": [\"oob\"]}");
    peer_reply_raw(p, caps, "{\n    \"return\": {\n    },\n    \"id\": " PEER_ID "\n}\n");

    qmp_client *c = qmp_client_new();
    assert_status(qmp_client_set_oob(c, 1), QMP_OK);
    assert_status(qmp_client_connect_fd(c, fd, 5000), QMP_OK);
    int major = 0, minor = 0, micro = 0;
    assert_status(qmp_client_get_version(c, &major, &minor, &micro), QMP_OK);
    assert_int_equal(major * 10000 + minor * 100 + micro, 70222);
    assert_int_equal(qmp_client_has_capability(c, "oob"), 1);

    /* A pretty reply to a command as well. */
    peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_reply_raw(p, PEER_LAST,
                   "{\n    \"return\": {\n        \"status\": \"running\",\n"
                   "        \"singlestep\": false,\n        \"running\": true\n    },\n"
                   "    \"id\": " PEER_ID "\n}\n");
    json_t *r = NULL;
    assert_status(qmp_client_execute(c, qmp_command_new("query-status", NULL), &r), QMP_OK);
    assert_true(json_is_true(json_object_get(r, "running")));
    json_decref(r);

    assert_client_usable(c, p);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_greeting_too_big(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    char *big = malloc(12000);
    char *filler = malloc(10001);
    memset(filler, 'x', 10000);
    filler[10000] = '\0';
    snprintf(big, 12000,
             "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "
             "\"package\": \"%s\"}, \"capabilities\": []}}\r\n", filler);
    peer_send(p, big);
    free(big);
    free(filler);
    peer_silent_until_close(p);

    qmp_client *c = qmp_client_new();
    assert_status(qmp_client_set_max_message_size(c, 4096), QMP_OK);
    assert_failed_connect(c, qmp_client_connect_fd(c, fd, 5000), QMP_ETOOBIG);
    assert_int_equal(peer_finish(p), 0);
    qmp_client_free(c);
}

static void test_connect_when_connected(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    /* The second fd is taken too, also on failure: its peer sees the close. */
    int fd2;
    peer *p2 = peer_new(&fd2);
    peer_expect_close(p2);
    assert_status(qmp_client_connect_fd(c, fd2, 5000), QMP_EINVAL);
    assert_int_equal(qmp_error_last()->code, QMP_EINVAL);
    assert_int_equal(peer_finish(p2), 0);

    assert_client_usable(c, p);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_close_and_reconnect(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    peer_expect_close(p);   /* the client sends nothing more before closing */
    assert_status(qmp_client_close(c), QMP_OK);
    assert_client_closed(c);
    assert_int_equal(peer_finish(p), 0);
    /* Closing an unconnected client is a no-op. */
    assert_status(qmp_client_close(c), QMP_OK);
    assert_can_connect_again(c);
}

static void test_free_null(void **state)
{
    (void)state;
    qmp_client_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_oob_negotiated),
        cmocka_unit_test(test_oob_not_offered),
        cmocka_unit_test(test_oob_offered_not_wanted),
        cmocka_unit_test(test_silent_peer_times_out),
        cmocka_unit_test(test_capabilities_unanswered_times_out),
        cmocka_unit_test(test_default_timeout_applies),
        cmocka_unit_test(test_not_a_greeting),
        cmocka_unit_test(test_greeting_is_garbage),
        cmocka_unit_test(test_close_before_greeting),
        cmocka_unit_test(test_close_mid_greeting),
        cmocka_unit_test(test_capabilities_refused),
        cmocka_unit_test(test_close_before_capabilities_answer),
        cmocka_unit_test(test_greeting_byte_by_byte),
        cmocka_unit_test(test_pretty_greeting),
        cmocka_unit_test(test_greeting_too_big),
        cmocka_unit_test(test_connect_when_connected),
        cmocka_unit_test(test_close_and_reconnect),
        cmocka_unit_test(test_free_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
