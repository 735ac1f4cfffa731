/*
 * test-hmp: qmp_client_hmp() wraps human-monitor-command.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <qmp/qmp.h>
#include "peer.h"

static void test_hmp_output(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    peer_expect(p, "human-monitor-command", "{\"command-line\": \"info status\"}");
    peer_return(p, "\"VM status: running\\r\\n\"");
    char *out = NULL;
    assert_status(qmp_client_hmp(c, "info status", &out), QMP_OK);
    assert_non_null(out);
    assert_string_equal(out, "VM status: running\r\n");
    qmp_free(out);

    /* Empty output, and quoting in the command line. */
    peer_expect(p, "human-monitor-command", "{\"command-line\": \"savevm \\\"a b\\\"\"}");
    peer_return(p, "\"\"");
    out = NULL;
    assert_status(qmp_client_hmp(c, "savevm \"a b\"", &out), QMP_OK);
    assert_non_null(out);
    assert_string_equal(out, "");
    qmp_free(out);

    assert_client_usable(c, p);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_hmp_error(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    peer_expect(p, "human-monitor-command", "{\"command-line\": \"info status\"}");
    peer_error(p, "CommandNotFound", "The command human-monitor-command has not been found");
    char *out = (char *)(uintptr_t)1;
    assert_status(qmp_client_hmp(c, "info status", &out), QMP_ECOMMAND);
    assert_string_equal(qmp_error_last()->qmp_class, "CommandNotFound");
    assert_null(out);

    assert_status(qmp_client_hmp(c, NULL, &out), QMP_EINVAL);

    assert_client_usable(c, p);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmp_output),
        cmocka_unit_test(test_hmp_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
