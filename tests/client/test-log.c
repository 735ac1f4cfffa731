/*
 * test-log: the wire trace (qmp_client_set_log) shows what is sent and
 * received, says what was dropped, and never shows a secret.
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

typedef struct {
    char text[8192];
    int sends, receives, infos;
    int destroyed;
} trace;

static void on_log(qmp_client *c, int kind, const char *text, void *user_data)
{
    (void)c;
    trace *t = user_data;
    const char *tag = kind == QMP_LOG_SEND ? "S " : kind == QMP_LOG_RECEIVE ? "R " : "I ";
    t->sends += kind == QMP_LOG_SEND;
    t->receives += kind == QMP_LOG_RECEIVE;
    t->infos += kind == QMP_LOG_INFO;
    strncat(t->text, tag, sizeof t->text - strlen(t->text) - 1);
    strncat(t->text, text, sizeof t->text - strlen(t->text) - 1);
    strncat(t->text, "\n", sizeof t->text - strlen(t->text) - 1);
}

static void on_destroy(void *user_data)
{
    ((trace *)user_data)->destroyed++;
}

static void test_trace_redacts_secrets(void **state)
{
    (void)state;
    trace t = {0};
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_status(qmp_client_set_log(c, on_log, &t, on_destroy), QMP_OK);

    peer_expect(p, "object-add", PEER_ANY_ARGS);
    peer_return(p, "{}");
    assert_status(qmp_client_execute(c, qmp_command_new("object-add", "s:qom-type", "secret", "s:id", "sec0",
                                                        "s:data", "hunter2", NULL), NULL), QMP_OK);
    peer_expect(p, "change-vnc-password", PEER_ANY_ARGS);
    peer_reply_raw(p, PEER_LAST, "{\"return\": {\"password\": \"echoed-secret\"}, \"id\": $ID}");
    assert_status(qmp_client_execute(c, qmp_command_new("change-vnc-password", "s:password", "swordfish", NULL), NULL),
                  QMP_OK);

    assert_null(strstr(t.text, "hunter2"));
    assert_null(strstr(t.text, "swordfish"));
    assert_null(strstr(t.text, "echoed-secret"));
    assert_non_null(strstr(t.text, "\"data\":\"<redacted>\""));
    assert_non_null(strstr(t.text, "\"password\":\"<redacted>\""));
    assert_int_equal(t.sends, 2);
    assert_int_equal(t.receives, 2);

    qmp_client_free(c);
    assert_int_equal(t.destroyed, 1);
    assert_int_equal(peer_finish(p), 0);
}

static void test_trace_says_what_was_dropped(void **state)
{
    (void)state;
    trace t = {0};
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_status(qmp_client_set_log(c, on_log, &t, on_destroy), QMP_OK);

    peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_send(p, "{\"return\": {}, \"id\": \"somebody-else\"}\r\n");
    peer_return(p, "{}");
    assert_status(qmp_client_execute(c, qmp_command_new("query-status", NULL), NULL), QMP_OK);
    assert_int_equal(t.infos, 1);
    assert_non_null(strstr(t.text, "I dropped a reply with an unknown id"));

    /* Replacing the callback runs the old destroy; NULL turns the trace off. */
    trace t2 = {0};
    assert_status(qmp_client_set_log(c, on_log, &t2, on_destroy), QMP_OK);
    assert_int_equal(t.destroyed, 1);
    assert_status(qmp_client_set_log(c, NULL, NULL, NULL), QMP_OK);
    assert_int_equal(t2.destroyed, 1);
    assert_client_usable(c, p);
    assert_int_equal(t2.sends, 0);

    qmp_client_free(c);
    assert_int_equal(t.destroyed, 1);
    assert_int_equal(t2.destroyed, 1);
    assert_int_equal(peer_finish(p), 0);
}

static void test_secret_member_list_extends(void **state)
{
    (void)state;
    trace t = {0};
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_status(qmp_add_secret_member("x-vendor-key"), QMP_OK);
    assert_status(qmp_add_secret_member(""), QMP_EINVAL);
    assert_status(qmp_client_set_log(c, on_log, &t, NULL), QMP_OK);
    peer_expect(p, "x-vendor-cmd", PEER_ANY_ARGS);
    peer_return(p, "{}");
    assert_status(qmp_client_execute(c, qmp_command_new("x-vendor-cmd", "s:x-vendor-key", "abc123", NULL), NULL), QMP_OK);
    /* Traced, with the value replaced. */
    assert_int_equal(t.sends, 1);
    assert_non_null(strstr(t.text, "\"x-vendor-key\":\"<redacted>\""));
    assert_null(strstr(t.text, "abc123"));
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_redacts_secrets),
        cmocka_unit_test(test_trace_says_what_was_dropped),
        cmocka_unit_test(test_secret_member_list_extends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
