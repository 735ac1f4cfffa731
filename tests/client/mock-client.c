#include "mock-client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "peer.h"

qmp_client *mock_connect_client(qmp_mock **mp)
{
    qmp_mock *m = qmp_mock_new();
    assert_non_null(m);
    assert_status(qmp_mock_set_greeting_str(m, MOCK_GREETING_NO_OOB), QMP_OK);
    int fd = qmp_mock_socketpair(m);
    assert_true(fd >= 0);
    *mp = m;
    return client_on_fd(fd);
}

void mock_assert_client_usable(qmp_client *c, qmp_mock *m)
{
    assert_int_equal(qmp_client_is_connected(c), 1);
    assert_status(qmp_mock_expect_str(m, "query-status", "{}",
                                      "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}"),
                  QMP_OK);
    assert_query_status_running(c);
}

void mock_finish(qmp_client *c, qmp_mock *m)
{
    int rc = qmp_mock_verify(m, peer_io_timeout_ms());
    if (rc != QMP_OK) print_error("the test server: %s\n", qmp_error_last()->message);
    qmp_client_free(c);
    qmp_mock_free(m);
    assert_int_equal(rc, QMP_OK);
}
