/*
 * test-hostile: what a broken or compromised server may send, against the
 * client: invalid UTF-8, a second greeting, events without a name or with a
 * bad timestamp, a message that is no QMP at all.  Each asserts the exact
 * status and that the client ends usable or cleanly closed.
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

/* Callbacks record; the tests assert (a failed assert must not longjmp through the library). */
static int close_reason = 1;
static int events_seen, events_nameless;

static void on_close(qmp_client *c, int reason, void *user_data)
{
    (void)c;
    (void)user_data;
    close_reason = reason;
}

static void on_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)c;
    (void)user_data;
    events_seen++;
    events_nameless += qmp_event_name(ev) == NULL;
}

static void test_invalid_utf8_in_reply(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    close_reason = 1;
    assert_status(qmp_client_on_close(c, on_close, NULL, NULL), QMP_OK);
    peer_expect(p, "query-name", PEER_NO_ARGS);
    peer_reply_raw(p, PEER_LAST, "{\"return\": {\"name\": \"bad \xc3\x28 byte\"}, \"id\": $ID}\r\n");
    assert_status(qmp_client_execute(c, qmp_command_new("query-name", NULL), NULL), QMP_EPROTO);
    assert_non_null(strstr(qmp_error_last()->message, "UTF-8"));
    assert_int_equal(close_reason, QMP_EPROTO);
    assert_client_closed(c);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_overlong_utf8_in_event(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    /* An overlong encoding of '/': not UTF-8, whatever it decodes to. */
    peer_send(p, "{\"event\": \"X\", \"data\": {\"path\": \"\xc0\xaf\"}, \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n");
    /* The command goes out first, then the client reads the event and hangs up. */
    peer_expect(p, "query-name", PEER_NO_ARGS);
    assert_status(qmp_client_execute(c, qmp_command_new("query-name", NULL), NULL), QMP_EPROTO);
    assert_client_closed(c);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_second_greeting_is_ignored(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    peer_greeting(p, 1);
    assert_client_usable(c, p);
    /* The first greeting is still the one the client reports. */
    const json_t *g = qmp_client_greeting(c);
    assert_non_null(g);
    assert_int_equal(json_array_size(json_object_get(json_object_get(g, "QMP"), "capabilities")), 0);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_event_without_name_is_dropped(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    events_seen = events_nameless = 0;
    assert_status(qmp_client_on_event(c, NULL, on_event, NULL, NULL, NULL), QMP_OK);
    peer_send(p, "{\"event\": 42, \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n");
    peer_send(p, "{\"event\": null}\r\n");
    peer_event(p, "GOOD", NULL);
    assert_client_usable(c, p);
    assert_int_equal(events_seen, 1);
    assert_int_equal(events_nameless, 0);
    assert_int_equal(qmp_client_event_seq(c), 1);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_event_bad_timestamp_is_delivered(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    unsigned long long seq = qmp_client_event_seq(c);
    peer_send(p, "{\"event\": \"ODD\", \"timestamp\": {\"seconds\": \"noon\"}}\r\n");
    json_t *ev = NULL;
    assert_status(qmp_client_wait_event(c, "ODD", NULL, seq, 5000, &ev), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(ev, "event")), "ODD");
    json_decref(ev);
    assert_client_usable(c, p);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_message_that_is_no_qmp_closes(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    close_reason = 1;
    assert_status(qmp_client_on_close(c, on_close, NULL, NULL), QMP_OK);
    peer_expect(p, "query-name", PEER_NO_ARGS);
    peer_send(p, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n");
    assert_status(qmp_client_execute(c, qmp_command_new("query-name", NULL), NULL), QMP_EPROTO);
    assert_int_equal(close_reason, QMP_EPROTO);
    assert_client_closed(c);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_utf8_in_reply),
        cmocka_unit_test(test_overlong_utf8_in_event),
        cmocka_unit_test(test_second_greeting_is_ignored),
        cmocka_unit_test(test_event_without_name_is_dropped),
        cmocka_unit_test(test_event_bad_timestamp_is_delivered),
        cmocka_unit_test(test_message_that_is_no_qmp_closes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
