/*
 * test-tcp: qmp_client_connect_tcp() against a real QEMU listening on a
 * loopback TCP port, and the errors of a TCP connect that cannot succeed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <qmp/qmp.h>
#include "qemu.h"

/* A loopback port nobody listens on right now (the kernel's pick). */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

static void test_tcp_connect_and_execute(void **state)
{
    (void)state;
    char port[16], qmp_arg[64];
    snprintf(port, sizeof port, "%d", free_port());
    snprintf(qmp_arg, sizeof qmp_arg, "tcp:127.0.0.1:%s,server=on,wait=off", port);
    const char *args[] = {"-qmp", qmp_arg, NULL};
    qemu_proc q;
    assert_int_equal(qemu_start(&q, QEMU_SYSTEM, args), 0);

    qmp_client *c = qmp_client_new();
    /* QEMU may not listen yet: retry for a while, as a caller would. */
    int rc = QMP_EIO;
    for (int i = 0; i < 100 && rc != QMP_OK; i++) {
        rc = qmp_client_connect_tcp(c, "127.0.0.1", port, 5000);
        if (rc != QMP_OK) usleep(50 * 1000);
    }
    assert_int_equal(rc, QMP_OK);
    int major = 0, minor = 0;
    assert_int_equal(qmp_client_get_version(c, &major, &minor, NULL), QMP_OK);
    assert_int_equal(major, 7);
    json_t *ret = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("query-status", NULL), &ret), QMP_OK);
    assert_true(json_is_string(json_object_get(ret, "status")));
    json_decref(ret);
    qmp_client_free(c);
    qemu_stop(&q);
}

static void test_tcp_refused(void **state)
{
    (void)state;
    char port[16];
    snprintf(port, sizeof port, "%d", free_port());
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_connect_tcp(c, "127.0.0.1", port, 2000), QMP_EIO);
    assert_int_equal(qmp_error_last()->sys_errno, ECONNREFUSED);
    assert_int_equal(qmp_client_is_connected(c), 0);
    qmp_client_free(c);
}

static void test_tcp_bad_host(void **state)
{
    (void)state;
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_connect_tcp(c, "no such host!", "4444", 2000), QMP_EIO);
    assert_non_null(strstr(qmp_error_last()->message, "cannot resolve"));
    assert_int_equal(qmp_client_connect_tcp(c, NULL, "4444", 2000), QMP_EINVAL);
    qmp_client_free(c);
}

int main(void)
{
    static const qemu_kind kinds[] = {QEMU_SYSTEM};
    int missing = qemu_require(kinds, 1);
    if (missing) return missing;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_connect_and_execute),
        cmocka_unit_test(test_tcp_refused),
        cmocka_unit_test(test_tcp_bad_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
