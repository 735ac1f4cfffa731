/*
 * test-hmp: qmp_client_hmp() wraps human-monitor-command (against the test
 * server, which checks the command line sent).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <qmp/qmp.h>
#include "mock-client.h"
#include "peer.h"

static void test_hmp_output(void **state)
{
    (void)state;
    qmp_mock *m;
    qmp_client *c = mock_connect_client(&m);

    assert_status(qmp_mock_expect_str(m, "human-monitor-command", "{\"command-line\": \"info status\"}",
                                      "{\"return\": \"VM status: running\\r\\n\"}"),
                  QMP_OK);
    char *out = NULL;
    assert_status(qmp_client_hmp(c, "info status", &out), QMP_OK);
    assert_non_null(out);
    assert_string_equal(out, "VM status: running\r\n");
    qmp_free(out);

    /* Empty output, and quoting in the command line. */
    assert_status(qmp_mock_expect_str(m, "human-monitor-command", "{\"command-line\": \"savevm \\\"a b\\\"\"}",
                                      "{\"return\": \"\"}"),
                  QMP_OK);
    out = NULL;
    assert_status(qmp_client_hmp(c, "savevm \"a b\"", &out), QMP_OK);
    assert_non_null(out);
    assert_string_equal(out, "");
    qmp_free(out);

    mock_assert_client_usable(c, m);
    mock_finish(c, m);
}

static void test_hmp_error(void **state)
{
    (void)state;
    qmp_mock *m;
    qmp_client *c = mock_connect_client(&m);

    assert_status(qmp_mock_expect_str(m, "human-monitor-command", "{\"command-line\": \"info status\"}",
                                      "{\"error\": {\"class\": \"CommandNotFound\", "
                                      "\"desc\": \"The command human-monitor-command has not been found\"}}"),
                  QMP_OK);
    char *out = (char *)(uintptr_t)1;
    assert_status(qmp_client_hmp(c, "info status", &out), QMP_ECOMMAND);
    assert_string_equal(qmp_error_last()->qmp_class, "CommandNotFound");
    assert_null(out);

    assert_status(qmp_client_hmp(c, NULL, &out), QMP_EINVAL);

    mock_assert_client_usable(c, m);
    mock_finish(c, m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmp_output),
        cmocka_unit_test(test_hmp_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
