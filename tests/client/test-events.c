/*
 * test-events: event handlers, the event ring, sequence numbers and
 * qmp_client_wait_event().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <qmp/qmp.h>
#include "peer.h"

#define MAX_SEEN 16

struct seen {
    int n;
    char *name[MAX_SEEN];
    char *data[MAX_SEEN];       /* compact JSON text of data, or NULL */
    char *json[MAX_SEEN];       /* qmp_event_to_json() */
    unsigned long long seq[MAX_SEEN];
    long long seconds[MAX_SEEN], micro[MAX_SEEN];
    int destroyed;
};

static void record_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)c;
    struct seen *s = user_data;
    /* Counted but not kept past MAX_SEEN: the tests' exact counts then fail
       (no assert here: it would longjmp through the library). */
    if (s->n >= MAX_SEEN) {
        s->n++;
        return;
    }
    int i = s->n++;
    s->name[i] = strdup(qmp_event_name(ev));
    const json_t *data = qmp_event_data(ev);
    s->data[i] = data ? json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *text = qmp_event_to_json(ev);
    s->json[i] = text ? strdup(text) : NULL;
    qmp_free(text);
    s->seq[i] = qmp_event_seq(ev);
    s->seconds[i] = qmp_event_seconds(ev);
    s->micro[i] = qmp_event_microseconds(ev);
}

static void destroy_seen(void *user_data)
{
    struct seen *s = user_data;
    s->destroyed++;
}

static void seen_clear(struct seen *s)
{
    for (int i = 0; i < s->n && i < MAX_SEEN; i++) {
        free(s->name[i]);
        free(s->data[i]);
        free(s->json[i]);
    }
    memset(s, 0, sizeof *s);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void finish(qmp_client *c, peer *p)
{
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_events_before_reply_reach_handlers(void **state)
{
    (void)state;
    struct seen all, stop;
    memset(&all, 0, sizeof all);
    memset(&stop, 0, sizeof stop);
    peer *p;
    qmp_client *c = connect_client(&p);
    unsigned int id_all = 0, id_stop = 0;
    assert_status(qmp_client_on_event(c, NULL, record_event, &all, destroy_seen, &id_all), QMP_OK);
    assert_status(qmp_client_on_event(c, "STOP", record_event, &stop, destroy_seen, &id_stop), QMP_OK);
    assert_true(id_all != id_stop);
    assert_true(qmp_client_event_seq(c) == 0);

    peer_expect(p, "stop", PEER_NO_ARGS);
    peer_send(p, "{\"timestamp\": {\"seconds\": 1795290741, \"microseconds\": 220843}, \"event\": \"STOP\"}\r\n");
    peer_event(p, "BLOCK_JOB_READY", "{\"device\": \"job0\", \"len\": 1024, \"offset\": 1024, "
                                     "\"speed\": 0, \"type\": \"mirror\"}");
    peer_return(p, "{}");
    assert_status(qmp_client_execute(c, qmp_command_new("stop", NULL), NULL), QMP_OK);

    /* Both delivered before execute returned, in order, numbered 1, 2. */
    assert_int_equal(all.n, 2);
    assert_string_equal(all.name[0], "STOP");
    assert_string_equal(all.name[1], "BLOCK_JOB_READY");
    assert_true(all.seq[0] == 1);
    assert_true(all.seq[1] == 2);
    assert_null(all.data[0]);
    assert_string_equal(all.data[1], "{\"device\":\"job0\",\"len\":1024,\"offset\":1024,\"speed\":0,\"type\":\"mirror\"}");
    assert_true(all.seconds[0] == 1795290741);
    assert_true(all.micro[0] == 220843);
    /* "as the server sent it" */
    assert_string_equal(all.json[0],
        "{\"timestamp\": {\"seconds\": 1795290741, \"microseconds\": 220843}, \"event\": \"STOP\"}");

    assert_int_equal(stop.n, 1);
    assert_string_equal(stop.name[0], "STOP");
    assert_true(stop.seq[0] == 1);
    assert_true(qmp_client_event_seq(c) == 2);

    /* A third event, with the next command: seq 3. */
    peer_expect(p, "cont", PEER_NO_ARGS);
    peer_event(p, "RESUME", NULL);
    peer_return(p, "{}");
    assert_status(qmp_client_execute(c, qmp_command_new("cont", NULL), NULL), QMP_OK);
    assert_int_equal(all.n, 3);
    assert_string_equal(all.name[2], "RESUME");
    assert_true(all.seq[2] == 3);
    assert_int_equal(stop.n, 1);

    finish(c, p);
    assert_int_equal(all.destroyed, 1);
    assert_int_equal(stop.destroyed, 1);
    seen_clear(&all);
    seen_clear(&stop);
}

static void test_events_sent_while_idle(void **state)
{
    (void)state;
    struct seen all;
    memset(&all, 0, sizeof all);
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_status(qmp_client_on_event(c, NULL, record_event, &all, destroy_seen, NULL), QMP_OK);

    /* Events that arrive between calls are dispatched by the next call, before it returns. */
    peer_event(p, "STOP", NULL);
    peer_event(p, "RESUME", NULL);
    peer_wait_idle(p);
    assert_client_usable(c, p);
    assert_int_equal(all.n, 2);
    assert_string_equal(all.name[0], "STOP");
    assert_string_equal(all.name[1], "RESUME");

    finish(c, p);
    assert_int_equal(all.destroyed, 1);
    seen_clear(&all);
}

static void test_ring_after_the_fact(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    unsigned long long before = qmp_client_event_seq(c);
    peer_expect(p, "stop", PEER_NO_ARGS);
    peer_event(p, "STOP", NULL);
    peer_event(p, "RESUME", NULL);
    peer_event(p, "STOP", "{\"reason\": \"second\"}");
    peer_return(p, "{}");
    assert_status(qmp_client_execute(c, qmp_command_new("stop", NULL), NULL), QMP_OK);
    assert_true(qmp_client_event_seq(c) == before + 3);

    /* Already in the ring: no waiting. */
    json_t *ev = NULL;
    assert_status(qmp_client_wait_event(c, "RESUME", NULL, before, 1000, &ev), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(ev, "event")), "RESUME");
    assert_non_null(json_object_get(ev, "timestamp"));
    json_decref(ev);

    /* The first STOP after seq 0, then the first after seq 1. */
    ev = NULL;
    assert_status(qmp_client_wait_event(c, "STOP", NULL, 0, 1000, &ev), QMP_OK);
    assert_null(json_object_get(ev, "data"));
    json_decref(ev);
    ev = NULL;
    assert_status(qmp_client_wait_event(c, "STOP", NULL, 1, 1000, &ev), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "data"), "reason")), "second");
    json_decref(ev);

    /* Any name; event may be NULL. */
    assert_status(qmp_client_wait_event(c, NULL, NULL, 2, 1000, NULL), QMP_OK);

    /* Nothing after seq 3. */
    assert_status(qmp_client_wait_event(c, NULL, NULL, 3, 50, NULL), QMP_ETIMEDOUT);

    assert_client_usable(c, p);
    finish(c, p);
}

static void test_wait_event_match(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    peer_expect(p, "block-job-complete", "{\"device\": \"b\"}");
    peer_event(p, "BLOCK_JOB_COMPLETED", "{\"device\": \"a\", \"type\": \"mirror\", \"x\": {\"y\": 1, \"z\": 1}}");
    peer_event(p, "BLOCK_JOB_COMPLETED", "{\"device\": \"b\", \"type\": \"mirror\", \"x\": {\"y\": 2, \"z\": 1}}");
    peer_event(p, "BLOCK_JOB_COMPLETED", "{\"device\": \"c\", \"type\": \"mirror\", \"x\": {\"y\": 2, \"z\": 2}}");
    peer_return(p, "{}");
    assert_status(qmp_client_execute(c, qmp_command_new("block-job-complete", "s:device", "b", NULL), NULL),
                  QMP_OK);

    json_t *match = json_pack("{s:s}", "device", "b");
    json_t *ev = NULL;
    assert_status(qmp_client_wait_event(c, "BLOCK_JOB_COMPLETED", match, 0, 1000, &ev), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "data"), "device")), "b");
    json_decref(ev);
    json_decref(match);

    /* Recursive: every member of match, at any depth. */
    match = json_pack("{s:{s:i}}", "x", "z", 2);
    ev = NULL;
    assert_status(qmp_client_wait_event(c, NULL, match, 0, 1000, &ev), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "data"), "device")), "c");
    json_decref(ev);
    json_decref(match);

    match = json_pack("{s:{s:i, s:i}}", "x", "y", 2, "z", 1);
    ev = NULL;
    assert_status(qmp_client_wait_event(c, NULL, match, 0, 1000, &ev), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "data"), "device")), "b");
    json_decref(ev);
    json_decref(match);

    /* No event matches: a timeout, with *event NULL. */
    match = json_pack("{s:s}", "device", "zzz");
    ev = (json_t *)(uintptr_t)1;
    assert_status(qmp_client_wait_event(c, "BLOCK_JOB_COMPLETED", match, 0, 100, &ev), QMP_ETIMEDOUT);
    assert_null(ev);
    json_decref(match);

    /* The string twin. */
    char *text = NULL;
    assert_status(qmp_client_wait_event_str(c, "BLOCK_JOB_COMPLETED", "{\"device\": \"c\"}", 0, 1000, &text),
                  QMP_OK);
    json_t *parsed = json_loads(text, 0, NULL);
    assert_non_null(parsed);
    assert_string_equal(json_string_value(json_object_get(json_object_get(parsed, "data"), "device")), "c");
    json_decref(parsed);
    qmp_free(text);

    assert_client_usable(c, p);
    finish(c, p);
}

static void test_wait_event_timeout(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    long long start = now_ms();
    json_t *ev = (json_t *)(uintptr_t)1;
    assert_status(qmp_client_wait_event(c, "SHUTDOWN", NULL, 0, 100, &ev), QMP_ETIMEDOUT);
    long long elapsed = now_ms() - start;
    assert_int_equal(qmp_error_last()->code, QMP_ETIMEDOUT);
    assert_null(ev);
    assert_true(elapsed >= 80);
    assert_true(elapsed < 5000);

    char *text = (char *)(uintptr_t)1;
    assert_status(qmp_client_wait_event_str(c, "SHUTDOWN", NULL, 0, 50, &text), QMP_ETIMEDOUT);
    assert_null(text);

    assert_client_usable(c, p);
    finish(c, p);
}

static void test_wait_event_arriving(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);

    unsigned long long seq = qmp_client_event_seq(c);
    peer_event(p, "RESUME", NULL);              /* skipped: another name */
    peer_sleep(p, 50);                           /* so the wait is under way; the outcome does not depend on it */
    peer_event(p, "SHUTDOWN", "{\"guest\": true, \"reason\": \"guest-shutdown\"}");
    json_t *ev = NULL;
    assert_status(qmp_client_wait_event(c, "SHUTDOWN", NULL, seq, 10000, &ev), QMP_OK);
    assert_true(json_is_true(json_object_get(json_object_get(ev, "data"), "guest")));
    json_decref(ev);
    assert_true(qmp_client_event_seq(c) == seq + 2);

    assert_client_usable(c, p);
    finish(c, p);
}

static void test_ring_size(void **state)
{
    (void)state;
    int fd;
    peer *p = peer_new(&fd);
    peer_handshake(p, 0, 0);
    qmp_client *c = qmp_client_new();
    assert_status(qmp_client_set_event_buffer(c, 0), QMP_EINVAL);   /* at least 1 */
    assert_status(qmp_client_set_event_buffer(c, 2), QMP_OK);
    assert_status(qmp_client_connect_fd(c, fd, 5000), QMP_OK);

    peer_expect(p, "stop", PEER_NO_ARGS);
    peer_event(p, "E1", NULL);
    peer_event(p, "E2", NULL);
    peer_event(p, "E3", NULL);
    peer_return(p, "{}");
    assert_status(qmp_client_execute(c, qmp_command_new("stop", NULL), NULL), QMP_OK);
    assert_true(qmp_client_event_seq(c) == 3);

    /* The ring keeps the 2 newest. */
    assert_status(qmp_client_wait_event(c, "E1", NULL, 0, 50, NULL), QMP_ETIMEDOUT);
    json_t *ev = NULL;
    assert_status(qmp_client_wait_event(c, NULL, NULL, 0, 1000, &ev), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(ev, "event")), "E2");
    json_decref(ev);
    assert_status(qmp_client_wait_event(c, "E3", NULL, 0, 1000, NULL), QMP_OK);

    assert_client_usable(c, p);
    finish(c, p);
}

static void test_event_timestamps(void **state)
{
    (void)state;
    struct seen all;
    memset(&all, 0, sizeof all);
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_status(qmp_client_on_event(c, NULL, record_event, &all, destroy_seen, NULL), QMP_OK);

    peer_expect(p, "stop", PEER_NO_ARGS);
    peer_send(p, "{\"event\": \"NO_STAMP\"}\r\n");
    peer_send(p, "{\"event\": \"BAD_STAMP\", \"timestamp\": \"yesterday\"}\r\n");
    peer_send(p, "{\"event\": \"GOOD\", \"timestamp\": {\"seconds\": 5, \"microseconds\": 7}, \"data\": {}}\r\n");
    peer_return(p, "{}");
    assert_status(qmp_client_execute(c, qmp_command_new("stop", NULL), NULL), QMP_OK);

    assert_int_equal(all.n, 3);
    assert_true(all.seconds[0] == -1 && all.micro[0] == -1);
    assert_true(all.seconds[1] == -1 && all.micro[1] == -1);
    assert_true(all.seconds[2] == 5 && all.micro[2] == 7);
    assert_string_equal(all.data[2], "{}");

    assert_client_usable(c, p);
    finish(c, p);
    seen_clear(&all);
}

/* wait_event_full: each event comes with its sequence number, so a loop
 * waits for the next one after it and sees every one exactly once. */
static void test_wait_event_full_reports_seq(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    peer_event(p, "BLOCK_JOB_READY", "{\"device\": \"a\"}");
    peer_event(p, "RESUME", NULL);
    peer_event(p, "BLOCK_JOB_READY", "{\"device\": \"b\"}");
    peer_wait_idle(p);
    unsigned long long seq = 0;
    json_t *ev = NULL;
    const char *want[] = {"a", "b"};
    unsigned long long want_seq[] = {1, 3};
    for (int i = 0; i < 2; i++) {
        assert_status(qmp_client_wait_event_full(c, "BLOCK_JOB_READY", NULL, seq, 1000, &ev, &seq), QMP_OK);
        assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "data"), "device")), want[i]);
        assert_int_equal(seq, want_seq[i]);
        json_decref(ev);
    }
    assert_status(qmp_client_wait_event_full(c, "BLOCK_JOB_READY", NULL, seq, 50, &ev, &seq), QMP_ETIMEDOUT);
    assert_null(ev);
    assert_int_equal(seq, 0);

    char *text = NULL;
    seq = 99;
    assert_status(qmp_client_wait_event_str_full(c, "RESUME", NULL, 0, 1000, &text, &seq), QMP_OK);
    assert_non_null(strstr(text, "\"RESUME\""));
    assert_int_equal(seq, 2);
    qmp_free(text);
    assert_status(qmp_client_wait_event_str_full(c, NULL, "{\"device\": \"b\"}", 0, 1000, NULL, &seq), QMP_OK);
    assert_int_equal(seq, 3);

    assert_client_usable(c, p);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_before_reply_reach_handlers),
        cmocka_unit_test(test_wait_event_full_reports_seq),
        cmocka_unit_test(test_events_sent_while_idle),
        cmocka_unit_test(test_ring_after_the_fact),
        cmocka_unit_test(test_wait_event_match),
        cmocka_unit_test(test_wait_event_timeout),
        cmocka_unit_test(test_wait_event_arriving),
        cmocka_unit_test(test_ring_size),
        cmocka_unit_test(test_event_timestamps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
