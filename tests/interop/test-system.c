/*
 * The client against real qemu-system-x86_64 (-M none): handshake (and a
 * second client of a busy monitor), commands and errors, events, HMP, fd
 * passing, big replies, threads.
 */
#include "fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

static const char *str_member(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* --- handshake ------------------------------------------------------------ */

static void test_connect_without_oob(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);

    assert_int_equal(qmp_client_is_connected(f->c), 1);
    assert_int_equal(qmp_client_has_capability(f->c, "oob"), 0);

    /* The greeting: {"QMP": {"version": ..., "capabilities": [... "oob" ...]}}. */
    const json_t *greeting = qmp_client_greeting(f->c);
    assert_non_null(greeting);
    const json_t *qmp = json_object_get(greeting, "QMP");
    assert_true(json_is_object(qmp));
    assert_true(json_is_object(json_object_get(qmp, "version")));
    const json_t *caps = json_object_get(qmp, "capabilities");
    assert_true(json_is_array(caps));
    int offered_oob = 0;
    size_t i;
    const json_t *cap;
    json_array_foreach(caps, i, cap)
        if (json_is_string(cap) && strcmp(json_string_value(cap), "oob") == 0)
            offered_oob = 1;
    assert_int_equal(offered_oob, 1); /* offered, but not asked for */

    /* Negotiated: commands work right away. */
    json_t *ret = exec_ok(f->c, qmp_command_new("query-status", NULL));
    assert_string_equal(str_member(ret, "status"), "running");
    assert_true(json_is_true(json_object_get(ret, "running")));
    json_decref(ret);

    /* Close: not connected any more, and no greeting or version. */
    assert_int_equal(qmp_client_close(f->c), QMP_OK);
    assert_int_equal(qmp_client_is_connected(f->c), 0);
    assert_null(qmp_client_greeting(f->c));
    int major = -1;
    assert_int_equal(qmp_client_get_version(f->c, &major, NULL, NULL), QMP_ECLOSED);
    assert_int_equal(qmp_client_execute(f->c, qmp_command_new("query-status", NULL), NULL),
                     QMP_ECLOSED);

    /* The same client connects again (QEMU takes the next client). */
    assert_int_equal(qmp_client_connect_unix(f->c, f->q.sock, 10000), QMP_OK);
    assert_int_equal(qmp_client_is_connected(f->c), 1);
    ret = exec_ok(f->c, qmp_command_new("query-status", NULL));
    json_decref(ret);
}

/*
 * QEMU serves one client per monitor: it accepts a second connection but
 * greets it only when the first client leaves.  The second client's
 * timeout says so, from the synchronous and the asynchronous connect.
 */
#define BUSY_HINT "(the monitor may be in use by another client: QEMU serves one client per monitor)"

struct connect_result {
    int done;
    int status;
    char message[512];
};

static void on_connected(qmp_client *c, int status, void *user_data)
{
    (void)c;
    struct connect_result *r = user_data;
    r->done = 1;
    r->status = status;
    snprintf(r->message, sizeof r->message, "%s", qmp_error_last()->message);
}

static void test_busy_monitor(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);
    char want[512];
    snprintf(want, sizeof want, "timed out waiting for the QMP greeting from %s " BUSY_HINT, f->q.sock);

    qmp_client *second = qmp_client_new();
    assert_non_null(second);
    assert_int_equal(qmp_client_connect_unix(second, f->q.sock, 500), QMP_ETIMEDOUT);
    assert_string_equal(qmp_error_last()->message, want);
    assert_int_equal(qmp_client_is_connected(second), 0);

    struct connect_result r = {0, 0, ""};
    assert_int_equal(qmp_client_connect_unix_async(second, f->q.sock, 500, on_connected, &r, NULL), QMP_OK);
    long long give_up = now_ms() + 10000;
    while (!r.done && now_ms() < give_up) {
        int fd = qmp_client_get_fd(second), ev = qmp_client_get_events(second);
        struct pollfd p = {fd, (short)((ev & QMP_POLL_IN ? POLLIN : 0) | (ev & QMP_POLL_OUT ? POLLOUT : 0)), 0};
        int t = qmp_client_get_timeout_ms(second);
        poll(&p, fd >= 0 ? 1 : 0, t < 0 || t > 100 ? 100 : t);
        qmp_client_process(second, (p.revents & (POLLIN | POLLHUP | POLLERR) ? QMP_POLL_IN : 0) |
                                       (p.revents & POLLOUT ? QMP_POLL_OUT : 0));
    }
    assert_int_equal(r.done, 1);
    assert_int_equal(r.status, QMP_ETIMEDOUT);
    assert_string_equal(r.message, want);

    /* Once the first client has gone, the monitor greets the next one. */
    assert_int_equal(qmp_client_close(f->c), QMP_OK);
    assert_int_equal(qmp_client_connect_unix(second, f->q.sock, 10000), QMP_OK);
    json_t *ret = exec_ok(second, qmp_command_new("query-status", NULL));
    json_decref(ret);
    qmp_client_free(second);
}

static void test_connect_with_oob(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 1);
    assert_int_equal(qmp_client_is_connected(f->c), 1);
    assert_int_equal(qmp_client_has_capability(f->c, "oob"), 1);
    assert_int_equal(qmp_client_has_capability(f->c, "no-such-capability"), 0);

    /* query-yank allows OOB in 7.2: by the option... */
    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    opts.oob = 1;
    json_t *ret = NULL;
    assert_int_equal(qmp_client_execute_full(f->c, qmp_command_new("query-yank", NULL), &opts, &ret),
                     QMP_OK);
    assert_true(json_is_array(ret));
    json_decref(ret);

    /* ...and by the builder. */
    json_t *cmd = qmp_command_new("query-yank", NULL);
    assert_int_equal(qmp_command_set_oob(cmd), QMP_OK);
    assert_non_null(json_object_get(cmd, "exec-oob"));
    ret = NULL;
    assert_int_equal(qmp_client_execute(f->c, cmd, &ret), QMP_OK);
    assert_true(json_is_array(ret));
    json_decref(ret);

    /* A command that does not allow OOB is refused by QEMU, with our id. */
    cmd = qmp_command_new("query-status", NULL);
    assert_int_equal(qmp_command_set_oob(cmd), QMP_OK);
    exec_fails_with(f->c, cmd, "GenericError");

    /* In-band still works. */
    ret = exec_ok(f->c, qmp_command_new("query-status", NULL));
    json_decref(ret);
}

/* --- commands and errors --------------------------------------------------- */

static void test_version(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);

    int bmajor, bminor, bmicro;
    assert_int_equal(qemu_binary_version(QEMU_SYSTEM, &bmajor, &bminor, &bmicro), 0);
    /* Debian 12's QEMU, which the set-up script installs. */
    assert_int_equal(bmajor, 7);
    assert_int_equal(bminor, 2);

    int major = -1, minor = -1, micro = -1;
    assert_int_equal(qmp_client_get_version(f->c, &major, &minor, &micro), QMP_OK);
    assert_int_equal(major, bmajor);
    assert_int_equal(minor, bminor);
    assert_int_equal(micro, bmicro);
    assert_int_equal(qmp_client_get_version(f->c, NULL, NULL, NULL), QMP_OK);

    /* query-version as jansson... */
    json_t *ret = exec_ok(f->c, qmp_command_new("query-version", NULL));
    const json_t *qemu = json_object_get(ret, "qemu");
    assert_true(json_is_object(qemu));
    assert_int_equal(json_integer_value(json_object_get(qemu, "major")), major);
    assert_int_equal(json_integer_value(json_object_get(qemu, "minor")), minor);
    assert_int_equal(json_integer_value(json_object_get(qemu, "micro")), micro);
    assert_true(json_is_string(json_object_get(ret, "package")));
    /* ...equal to the greeting's. */
    const json_t *gv = json_object_get(json_object_get(qmp_client_greeting(f->c), "QMP"), "version");
    assert_true(json_equal(ret, (json_t *)gv));
    json_decref(ret);

    /* ...and as text: the "return" value only. */
    char *text = NULL;
    assert_int_equal(qmp_client_execute_str(f->c, "{\"execute\": \"query-version\"}", &text), QMP_OK);
    assert_non_null(text);
    json_error_t jerr;
    json_t *parsed = json_loads(text, 0, &jerr);
    assert_non_null(parsed);
    assert_null(json_object_get(parsed, "return"));
    assert_true(json_equal(parsed, (json_t *)gv));
    json_decref(parsed);
    qmp_free(text);

    /* A NULL result pointer is allowed. */
    assert_int_equal(qmp_client_execute_str(f->c, "{\"execute\":\"query-version\"}", NULL), QMP_OK);
    assert_int_equal(qmp_client_execute(f->c, qmp_command_new("query-version", NULL), NULL), QMP_OK);
}

static void test_command_not_found(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);

    exec_fails_with(f->c, qmp_command_new("no-such-command", NULL), "CommandNotFound");
    assert_non_null(strstr(qmp_error_last()->qmp_desc, "no-such-command"));

    /* The text twin: *result_json is the error object. */
    char *text = NULL;
    assert_int_equal(qmp_client_execute_str(f->c, "{\"execute\":\"no-such-command\"}", &text),
                     QMP_ECOMMAND);
    assert_string_equal(qmp_error_last()->qmp_class, "CommandNotFound");
    assert_non_null(text);
    json_t *err = json_loads(text, 0, NULL);
    assert_non_null(err);
    assert_string_equal(str_member(err, "class"), "CommandNotFound");
    assert_string_equal(str_member(err, "desc"), qmp_error_last()->qmp_desc);
    json_decref(err);
    qmp_free(text);

    /* The connection is fine afterwards. */
    json_t *ret = exec_ok(f->c, qmp_command_new("query-status", NULL));
    json_decref(ret);
}

static void test_device_not_found_and_bad_arguments(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);

    exec_fails_with(f->c, qmp_command_new("device_del", "s:id", "nope", NULL), "DeviceNotFound");
    assert_non_null(strstr(qmp_error_last()->qmp_desc, "nope"));
    exec_fails_with(f->c, qmp_command_new("qom-get", "s:path", "/nope", "s:property", "x", NULL),
                    "DeviceNotFound");
    /* An unknown argument, and a missing one. */
    exec_fails_with(f->c, qmp_command_new("query-status", "b:bogus", 1, NULL), "GenericError");
    exec_fails_with(f->c, qmp_command_new("device_del", NULL), "GenericError");

    json_t *ret = exec_ok(f->c, qmp_command_new("query-status", NULL));
    assert_string_equal(str_member(ret, "status"), "running");
    json_decref(ret);
}

static void test_big_reply(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);

    json_t *schema = exec_ok(f->c, qmp_command_new("query-qmp-schema", NULL));
    assert_true(json_is_array(schema));
    assert_true(json_array_size(schema) > 1000);
    size_t i;
    json_t *entry;
    int found = 0;
    json_array_foreach(schema, i, entry) {
        assert_true(json_is_object(entry));
        assert_non_null(str_member(entry, "name"));
        assert_non_null(str_member(entry, "meta-type"));
        if (strcmp(str_member(entry, "name"), "query-qmp-schema") == 0)
            found = 1;
    }
    assert_int_equal(found, 1);

    char *text = NULL;
    assert_int_equal(qmp_client_execute_str(f->c, "{\"execute\":\"query-qmp-schema\"}", &text),
                     QMP_OK);
    assert_non_null(text);
    assert_true(strlen(text) > 200 * 1024);
    json_t *parsed = json_loads(text, 0, NULL);
    assert_non_null(parsed);
    assert_true(json_equal(parsed, schema));
    json_decref(parsed);
    qmp_free(text);
    json_decref(schema);
}

/* --- events ------------------------------------------------------------------ */

#define MAX_SEEN 32

typedef struct seen_events {
    int count;
    int bad;        /* checks inside the callback: never assert (longjmp) through the library */
    char names[MAX_SEEN][32];
    unsigned long long seqs[MAX_SEEN];
    int destroyed;
} seen_events;

static void record_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)c;
    seen_events *s = user_data;
    if (s->count < MAX_SEEN) {
        snprintf(s->names[s->count], sizeof s->names[0], "%s", qmp_event_name(ev));
        s->seqs[s->count] = qmp_event_seq(ev);
    }
    s->count++;
    /* Every stop/cont event carries a timestamp and no data. */
    if (qmp_event_seconds(ev) <= 0 || qmp_event_microseconds(ev) < 0 || qmp_event_data(ev) != NULL)
        s->bad++;
    char *text = qmp_event_to_json(ev);
    if (!text || !strstr(text, qmp_event_name(ev)))
        s->bad++;
    qmp_free(text);
}

static void count_destroy(void *user_data)
{
    ((seen_events *)user_data)->destroyed++;
}

static void assert_event_named(json_t *ev, const char *name)
{
    assert_non_null(ev);
    assert_string_equal(str_member(ev, "event"), name);
    const json_t *ts = json_object_get(ev, "timestamp");
    assert_true(json_is_object(ts));
    assert_true(json_integer_value(json_object_get(ts, "seconds")) > 0);
}

static void test_stop_cont_events(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);

    seen_events stops = { 0 }, all = { 0 };
    unsigned int stop_id = 0, all_id = 0;
    assert_int_equal(qmp_client_on_event(f->c, "STOP", record_event, &stops, count_destroy, &stop_id),
                     QMP_OK);
    assert_int_equal(qmp_client_on_event(f->c, NULL, record_event, &all, count_destroy, &all_id),
                     QMP_OK);
    assert_int_not_equal(stop_id, all_id);

    /* stop; the event arrives while nobody waits for it... */
    unsigned long long seq0 = qmp_client_event_seq(f->c);
    json_t *ret = exec_ok(f->c, qmp_command_new("stop", NULL));
    assert_true(json_is_object(ret) && json_object_size(ret) == 0);
    json_decref(ret);
    sleep_ms(200);

    /* ...and a wait started afterwards still finds it in the ring, at once. */
    json_t *ev = NULL;
    long long t0 = now_ms();
    assert_int_equal(qmp_client_wait_event(f->c, "STOP", NULL, seq0, 5000, &ev), QMP_OK);
    assert_true(now_ms() - t0 < 1000);
    assert_event_named(ev, "STOP");
    assert_null(json_object_get(ev, "data"));
    json_decref(ev);

    /* cont -> RESUME, this time as text. */
    unsigned long long seq1 = qmp_client_event_seq(f->c);
    assert_true(seq1 > seq0);
    ret = exec_ok(f->c, qmp_command_new("cont", NULL));
    json_decref(ret);
    sleep_ms(200);
    char *text = NULL;
    t0 = now_ms();
    assert_int_equal(qmp_client_wait_event_str(f->c, "RESUME", NULL, seq1, 5000, &text), QMP_OK);
    assert_true(now_ms() - t0 < 1000);
    assert_non_null(text);
    json_t *parsed = json_loads(text, 0, NULL);
    assert_event_named(parsed, "RESUME");
    json_decref(parsed);
    qmp_free(text);

    /* The STOP from before is not "after" seq1: waiting for another one times out. */
    t0 = now_ms();
    assert_int_equal(qmp_client_wait_event(f->c, "STOP", NULL, seq1, 300, NULL), QMP_ETIMEDOUT);
    long long waited = now_ms() - t0;
    assert_true(waited >= 250);
    assert_true(waited < 3000);
    assert_int_equal(qmp_client_is_connected(f->c), 1);

    /* The handlers saw exactly STOP, then RESUME, with increasing seqs. */
    assert_int_equal(stops.bad, 0);
    assert_int_equal(all.bad, 0);
    assert_int_equal(stops.count, 1);
    assert_string_equal(stops.names[0], "STOP");
    assert_true(stops.seqs[0] > seq0);
    assert_int_equal(all.count, 2);
    assert_string_equal(all.names[0], "STOP");
    assert_string_equal(all.names[1], "RESUME");
    assert_int_equal(all.seqs[0], stops.seqs[0]);
    assert_true(all.seqs[1] > all.seqs[0]);
    assert_int_equal(qmp_client_event_seq(f->c), all.seqs[1]);

    /* Removing a handler runs its destroy once; it sees nothing more. */
    assert_int_equal(qmp_client_off_event(f->c, stop_id), QMP_OK);
    assert_int_equal(stops.destroyed, 1);
    assert_int_equal(qmp_client_off_event(f->c, stop_id), QMP_EINVAL);
    unsigned long long seq2 = qmp_client_event_seq(f->c);
    json_decref(exec_ok(f->c, qmp_command_new("stop", NULL)));
    assert_int_equal(qmp_client_wait_event(f->c, "STOP", NULL, seq2, 5000, NULL), QMP_OK);
    assert_int_equal(stops.count, 1);
    assert_int_equal(all.count, 3);
    assert_string_equal(all.names[2], "STOP");

    /* The other handler's destroy runs when the client is freed. */
    qmp_client_free(f->c);
    f->c = NULL;
    assert_int_equal(stops.destroyed, 1);
    assert_int_equal(all.destroyed, 1);
}

static void test_hmp(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);

    char *out = NULL;
    assert_int_equal(qmp_client_hmp(f->c, "info status", &out), QMP_OK);
    assert_non_null(out);
    assert_non_null(strstr(out, "running"));
    qmp_free(out);

    json_decref(exec_ok(f->c, qmp_command_new("stop", NULL)));
    out = NULL;
    assert_int_equal(qmp_client_hmp(f->c, "info status", &out), QMP_OK);
    assert_non_null(out);
    assert_non_null(strstr(out, "paused"));
    qmp_free(out);

    /* HMP state changes are seen by QMP too. */
    out = NULL;
    assert_int_equal(qmp_client_hmp(f->c, "cont", &out), QMP_OK);
    qmp_free(out);
    json_t *ret = exec_ok(f->c, qmp_command_new("query-status", NULL));
    assert_string_equal(str_member(ret, "status"), "running");
    json_decref(ret);
}

/* Waits for a MIGRATION event with this status; the text twin with a filter. */
static void test_wait_event_with_match(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);

    json_decref(exec_ok(f->c, qmp_command_new("migrate-set-capabilities",
        "a:capabilities", &(json_t *){ json_pack("[{s:s, s:b}]", "capability", "events", "state", 1) },
        NULL)));

    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(qmp_client_getfd(f->c, p[1], "mig"), QMP_OK);
    close(p[1]);

    unsigned long long seq = qmp_client_event_seq(f->c);
    json_decref(exec_ok(f->c, qmp_command_new("migrate", "s:uri", "fd:mig", NULL)));

    /* MIGRATION comes with "setup", "active", then "completed": only the last matches. */
    char *text = NULL;
    assert_int_equal(qmp_client_wait_event_str(f->c, "MIGRATION", "{\"status\": \"completed\"}",
                                               seq, 10000, &text), QMP_OK);
    json_t *ev = json_loads(text, 0, NULL);
    assert_event_named(ev, "MIGRATION");
    assert_string_equal(str_member(json_object_get(ev, "data"), "status"), "completed");
    json_decref(ev);
    qmp_free(text);

    /* The same wait from the same point with another filter finds the earlier one. */
    json_t *match = json_pack("{s:s}", "status", "setup");
    ev = NULL;
    assert_int_equal(qmp_client_wait_event(f->c, "MIGRATION", match, seq, 1000, &ev), QMP_OK);
    assert_string_equal(str_member(json_object_get(ev, "data"), "status"), "setup");
    json_decref(ev);
    json_decref(match);

    /* Any event name, filtered by data. */
    ev = NULL;
    assert_int_equal(qmp_client_wait_event_str(f->c, NULL, "{\"pass\": 1}", seq, 1000, &text), QMP_OK);
    assert_non_null(strstr(text, "MIGRATION_PASS"));
    qmp_free(text);

    /* A filter nothing matches times out. */
    assert_int_equal(qmp_client_wait_event_str(f->c, "MIGRATION", "{\"status\": \"failed\"}",
                                               seq, 300, NULL), QMP_ETIMEDOUT);

    /* Drain the stream so QEMU never blocks on the pipe. */
    char buf[4096];
    while (read(p[0], buf, sizeof buf) > 0)
        ;
    close(p[0]);
}

/* --- file descriptors --------------------------------------------------------- */

static void test_add_fd(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);

    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);

    long long set = -1, qfd = -1;
    assert_int_equal(qmp_client_add_fd(f->c, p[0], -1, "libqmp-read", &set, &qfd), QMP_OK);
    assert_true(set >= 0);
    assert_true(qfd >= 0);
    long long set2 = -1, qfd2 = -1;
    assert_int_equal(qmp_client_add_fd(f->c, p[1], set, NULL, &set2, &qfd2), QMP_OK);
    assert_int_equal(set2, set);
    assert_true(qfd2 >= 0 && qfd2 != qfd);

    /* The caller's fds stay open and usable. */
    assert_true(fd_is_open(p[0]));
    assert_true(fd_is_open(p[1]));
    assert_int_equal(write(p[1], "x", 1), 1);
    char ch = 0;
    assert_int_equal(read(p[0], &ch, 1), 1);
    assert_int_equal(ch, 'x');

    /* query-fdsets shows the set with both fds, the opaque on the first. */
    json_t *sets = exec_ok(f->c, qmp_command_new("query-fdsets", NULL));
    assert_true(json_is_array(sets));
    int found = 0;
    size_t i, j;
    json_t *s, *fdinfo;
    json_array_foreach(sets, i, s) {
        if (json_integer_value(json_object_get(s, "fdset-id")) != set)
            continue;
        found = 1;
        json_t *fds = json_object_get(s, "fds");
        assert_int_equal(json_array_size(fds), 2);
        int saw_first = 0, saw_second = 0;
        json_array_foreach(fds, j, fdinfo) {
            long long n = json_integer_value(json_object_get(fdinfo, "fd"));
            if (n == qfd) {
                saw_first = 1;
                assert_string_equal(str_member(fdinfo, "opaque"), "libqmp-read");
            } else if (n == qfd2) {
                saw_second = 1;
                assert_null(json_object_get(fdinfo, "opaque"));
            }
        }
        assert_true(saw_first && saw_second);
    }
    assert_int_equal(found, 1);
    json_decref(sets);

    /* NULL out pointers are fine; then remove the set. */
    assert_int_equal(qmp_client_add_fd(f->c, p[0], set, "again", NULL, NULL), QMP_OK);
    json_decref(exec_ok(f->c, qmp_command_new("remove-fd", "I:fdset-id", set, NULL)));
    sets = exec_ok(f->c, qmp_command_new("query-fdsets", NULL));
    json_array_foreach(sets, i, s)
        assert_int_not_equal(json_integer_value(json_object_get(s, "fdset-id")), set);
    json_decref(sets);

    assert_true(fd_is_open(p[0]));
    assert_true(fd_is_open(p[1]));
    close(p[0]);
    close(p[1]);
}

/* getfd a pipe's write end; QEMU migrates into it; the stream starts with "QEVM". */
static void test_getfd_qemu_writes_through_it(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);

    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(qmp_client_getfd(f->c, p[1], "f1"), QMP_OK);
    assert_true(fd_is_open(p[1]));
    assert_true(fd_is_open(p[0]));
    close(p[1]); /* QEMU's copy is now the only writer: EOF when it is done. */

    json_decref(exec_ok(f->c, qmp_command_new("migrate", "s:uri", "fd:f1", NULL)));

    unsigned char buf[65536];
    size_t len = 0;
    long long deadline = now_ms() + 10000;
    for (;;) {
        struct pollfd pfd = { p[0], POLLIN, 0 };
        long long left = deadline - now_ms();
        assert_true(left > 0);
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        assert_int_equal(r, 1);
        ssize_t n = read(p[0], buf + len, sizeof buf - len);
        assert_true(n >= 0);
        if (n == 0)
            break;
        len += (size_t)n;
        assert_true(len < sizeof buf);
    }
    close(p[0]);
    /* QEMU_VM_FILE_MAGIC, then QEMU_VM_FILE_VERSION 3 (migration/savevm.c). */
    assert_true(len >= 8);
    assert_memory_equal(buf, "QEVM\0\0\0\3", 8);

    json_t *ret = exec_ok(f->c, qmp_command_new("query-migrate", NULL));
    assert_string_equal(str_member(ret, "status"), "completed");
    json_decref(ret);

    /* migrate consumed the named fd. */
    exec_fails_with(f->c, qmp_command_new("closefd", "s:fdname", "f1", NULL), "GenericError");
}

static void test_closefd(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);

    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(qmp_client_getfd(f->c, p[1], "f2"), QMP_OK);
    assert_int_equal(qmp_client_closefd(f->c, "f2"), QMP_OK);
    /* Closed in QEMU: a second closefd fails there. */
    assert_int_equal(qmp_client_closefd(f->c, "f2"), QMP_ECOMMAND);
    assert_string_equal(qmp_error_last()->qmp_class, "GenericError");
    /* Ours were never touched. */
    assert_true(fd_is_open(p[0]));
    assert_true(fd_is_open(p[1]));

    /* QEMU's copy is gone: closing ours gives EOF on the read end. */
    close(p[1]);
    char ch;
    struct pollfd pfd = { p[0], POLLIN, 0 };
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    assert_int_equal(read(p[0], &ch, 1), 0);
    close(p[0]);
}

/* fds through qmp_exec_options on a plain command. */
static void test_execute_with_fds(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);

    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    qmp_exec_options opts = QMP_EXEC_OPTIONS_INIT;
    opts.fds = &p[1];
    opts.nfds = 1;
    json_t *ret = NULL;
    assert_int_equal(qmp_client_execute_full(f->c, qmp_command_new("getfd", "s:fdname", "f3", NULL),
                                             &opts, &ret), QMP_OK);
    json_decref(ret);
    assert_true(fd_is_open(p[1]));

    /* Without an fd getfd fails in QEMU. */
    exec_fails_with(f->c, qmp_command_new("getfd", "s:fdname", "f4", NULL), "GenericError");

    /* The text twin passes fds too. */
    assert_int_equal(qmp_client_execute_str_full(f->c,
        "{\"execute\":\"add-fd\",\"arguments\":{\"opaque\":\"via-str\"}}", &opts, NULL), QMP_OK);
    json_t *sets = exec_ok(f->c, qmp_command_new("query-fdsets", NULL));
    char *dump = json_dumps(sets, 0);
    assert_non_null(strstr(dump, "via-str"));
    free(dump);
    json_decref(sets);

    assert_int_equal(qmp_client_closefd(f->c, "f3"), QMP_OK);
    assert_true(fd_is_open(p[0]));
    assert_true(fd_is_open(p[1]));
    close(p[0]);
    close(p[1]);
}

/* --- threads ------------------------------------------------------------------ */

#define THREADS 4
#define CALLS 100

typedef struct worker {
    qmp_client *c;
    int index;
    int ok;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < CALLS; i++) {
        /* Alternate commands with different reply shapes: a mixed-up reply shows. */
        json_t *ret = NULL;
        if ((i + w->index) % 2 == 0) {
            if (qmp_client_execute(w->c, qmp_command_new("query-version", NULL), &ret) != QMP_OK ||
                !json_is_object(json_object_get(ret, "qemu"))) {
                json_decref(ret);
                return NULL;
            }
        } else {
            if (qmp_client_execute(w->c, qmp_command_new("query-name", NULL), &ret) != QMP_OK ||
                json_object_get(ret, "qemu") != NULL) {
                json_decref(ret);
                return NULL;
            }
        }
        json_decref(ret);
        /* An error reply goes to its caller only, too. */
        if (i % 10 == 0) {
            if (qmp_client_execute(w->c, qmp_command_new("no-such-command", NULL), NULL) != QMP_ECOMMAND ||
                strcmp(qmp_error_last()->qmp_class, "CommandNotFound") != 0)
                return NULL;
        }
    }
    w->ok = 1;
    return NULL;
}

static void test_threads_share_a_client(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);

    pthread_t th[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){ f->c, i, 0 };
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].ok, 1);
    }
    assert_int_equal(qmp_client_is_connected(f->c), 1);
}

int main(void)
{
    const qemu_kind needed[] = { QEMU_SYSTEM };
    int rc = qemu_require(needed, 1);
    if (rc)
        return rc;
    /* LIBQMP_TEST_FILTER=test_name (a glob) runs some of the cases only. */
    if (getenv("LIBQMP_TEST_FILTER"))
        cmocka_set_test_filter(getenv("LIBQMP_TEST_FILTER"));

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup_system, fixture_teardown)
    const struct CMUnitTest tests[] = {
        T(test_connect_without_oob),
        T(test_connect_with_oob),
        T(test_busy_monitor),
        T(test_version),
        T(test_command_not_found),
        T(test_device_not_found_and_bad_arguments),
        T(test_big_reply),
        T(test_stop_cont_events),
        T(test_hmp),
        T(test_wait_event_with_match),
        T(test_add_fd),
        T(test_getfd_qemu_writes_through_it),
        T(test_closefd),
        T(test_execute_with_fds),
        T(test_threads_share_a_client),
    };
    return cmocka_run_group_tests_name("interop: qemu-system-x86_64", tests, NULL, NULL);
}
