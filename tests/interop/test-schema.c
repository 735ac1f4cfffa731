/*
 * qmp-schema.h against a live QEMU 7.2: the shared tables of queries and
 * validation verdicts (tests/data/schema-*.txt, also checked against the
 * captured schema by tests/unit/test-schema.c) through
 * qmp_client_schema_has() and the validated execute paths; one fetch of
 * the schema per connection; the cache ends with the connection (the same
 * client on qemu-system-x86_64, then on qemu-storage-daemon);
 * qmp_client_set_validation() fetching at once; per-call overrides; async
 * refusals; deprecation warnings in the trace; the _str and HMP paths.
 *
 * Commands that validation refuses must never reach QEMU: each such call
 * is watched through qmp_client_set_log(), which must see no QMP_LOG_SEND.
 * Valid verdicts are checked with qmp_schema_validate() on the connection's
 * schema, not executed (some would change the VM).
 */
#include "fixture.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../unit/schema-tables.h"

/* ---- the wire trace ------------------------------------------------------------- */

typedef struct trace {
    pthread_mutex_t mu;
    json_t *sends;     /* the text of every QMP_LOG_SEND */
    json_t *warnings;  /* the text of every QMP_LOG_WARNING */
} trace;

static void trace_cb(qmp_client *c, int kind, const char *text, void *user_data)
{
    (void)c;
    trace *t = user_data;
    pthread_mutex_lock(&t->mu);
    if (kind == QMP_LOG_SEND)
        json_array_append_new(t->sends, json_string(text));
    else if (kind == QMP_LOG_WARNING)
        json_array_append_new(t->warnings, json_string(text));
    pthread_mutex_unlock(&t->mu);
}

static void trace_free(void *p)
{
    trace *t = p;
    json_decref(t->sends);
    json_decref(t->warnings);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* A trace on c, freed with the client. */
static trace *trace_on(qmp_client *c)
{
    trace *t = calloc(1, sizeof *t);
    assert_non_null(t);
    pthread_mutex_init(&t->mu, NULL);
    t->sends = json_array();
    t->warnings = json_array();
    assert_int_equal(qmp_client_set_log(c, trace_cb, t, trace_free), QMP_OK);
    return t;
}

static size_t trace_sends(trace *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = json_array_size(t->sends);
    pthread_mutex_unlock(&t->mu);
    return n;
}

/* How many commands sent so far mention "needle" (e.g. "\"query-qmp-schema\""). */
static size_t trace_count(trace *t, const char *needle)
{
    size_t n = 0, i;
    json_t *s;
    pthread_mutex_lock(&t->mu);
    json_array_foreach(t->sends, i, s) {
        if (strstr(json_string_value(s), needle))
            n++;
    }
    pthread_mutex_unlock(&t->mu);
    return n;
}

static size_t trace_warnings(trace *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = json_array_size(t->warnings);
    pthread_mutex_unlock(&t->mu);
    return n;
}

static const char *trace_warning(trace *t, size_t i)
{
    pthread_mutex_lock(&t->mu);
    const char *w = json_string_value(json_array_get(t->warnings, i));
    pthread_mutex_unlock(&t->mu);
    return w;
}

#define SCHEMA_SEND "\"query-qmp-schema\""

/* ---- the shared tables, live ---------------------------------------------------------- */

static void test_query_table_live(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);
    trace *t = trace_on(f->c);
    query_table qt;
    query_table_load(&qt);
    int bad = 0;
    for (size_t i = 0; i < qt.n; i++) {
        const query_line *q = &qt.rows[i];
        int rc = qmp_client_schema_has(f->c, q->query);
        char got = rc == 1 ? '1' : rc == 0 ? '0' : rc == QMP_EINVAL ? 'E' : '?';
        if (got != q->verdict) {
            print_error("schema-queries.txt:%d: '%s': expected %c, got %c (rc %d%s%s)\n", q->line, q->query,
                        q->verdict, got, rc, rc < 0 ? ": " : "", rc < 0 ? qmp_error_last()->message : "");
            bad++;
        }
    }
    /* >100 queries, one fetch, and nothing else sent */
    assert_int_equal(trace_count(t, SCHEMA_SEND), 1);
    assert_int_equal(trace_sends(t), 1);
    query_table_free(&qt);
    if (bad)
        fail_msg("%d of the table's queries disagree with the live QEMU", bad);
}

/* One refused verdict, three ways: the client's setting, the per-call
 * option, the text API.  None may send anything. */
static int refused_live(qmp_client *c, trace *t, const verdict_line *v)
{
    int bad = 0;
    size_t before = trace_sends(t);

    /* the client's setting, the tree API */
    assert_int_equal(qmp_client_set_validation(c, v->flags), QMP_OK);
    json_t *cmd = json_loads(v->command, 0, NULL);
    assert_non_null(cmd);
    json_t *res = (json_t *)(uintptr_t)1;
    int rc = qmp_client_execute(c, cmd, &res);
    if (!verdict_matches(v, rc, NULL, "qmp_client_execute, client validation"))
        bad++;
    if (res != NULL) {
        print_error("schema-verdicts.txt:%d: a result on a refused call\n", v->line);
        bad++;
    }

    /* per call, with the client's validation off, the text API */
    assert_int_equal(qmp_client_set_validation(c, 0), QMP_OK);
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.validate = v->flags;
    char *text = (char *)(uintptr_t)1;
    rc = qmp_client_execute_str_full(c, v->command, &o, &text);
    if (!verdict_matches(v, rc, NULL, "qmp_client_execute_str_full, per-call validation"))
        bad++;
    if (text != NULL) {
        print_error("schema-verdicts.txt:%d: a result text on a refused call\n", v->line);
        bad++;
    }

    /* per call, the tree API */
    cmd = json_loads(v->command, 0, NULL);
    rc = qmp_client_execute_full(c, cmd, &o, NULL);
    if (!verdict_matches(v, rc, NULL, "qmp_client_execute_full, per-call validation"))
        bad++;

    if (trace_sends(t) != before) {
        print_error("schema-verdicts.txt:%d: %s reached QEMU\n", v->line, v->command);
        bad++;
    }
    return bad;
}

static void test_verdict_table_live(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);
    trace *t = trace_on(f->c);
    qmp_schema *s = qmp_client_get_schema(f->c, 0);
    assert_non_null(s);
    verdict_table vt;
    verdict_table_load(&vt);
    int bad = 0;
    size_t refused = 0;
    for (size_t i = 0; i < vt.n; i++) {
        const verdict_line *v = &vt.rows[i];
        if (!v->ok) {
            bad += refused_live(f->c, t, v);
            refused++;
            continue;
        }
        json_t *cmd = json_loads(v->command, 0, NULL);
        assert_non_null(cmd);
        json_t *w = NULL;
        int rc = qmp_schema_validate(s, cmd, v->flags, &w);
        if (!verdict_matches(v, rc, w, "the live schema"))
            bad++;
        json_decref(w);
        json_decref(cmd);
    }
    assert_true(refused >= 48);  /* every EINVAL row of the table */
    /* the schema was fetched once, and nothing else was sent */
    assert_int_equal(trace_count(t, SCHEMA_SEND), 1);
    assert_int_equal(trace_sends(t), 1);
    qmp_schema_unref(s);
    verdict_table_free(&vt);
    if (bad)
        fail_msg("%d mismatches against the live QEMU", bad);
}

/* ---- fetching and caching -------------------------------------------------------------- */

static void test_schema_fetched_once_per_connection(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);
    trace *t = trace_on(f->c);
    assert_int_equal(trace_count(t, SCHEMA_SEND), 0);
    assert_int_equal(qmp_client_set_validation(f->c, QMP_VALIDATE), QMP_OK);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(qmp_client_schema_has(f->c, "blockdev-add/arg-type/+file/aio/^io_uring"), 1);
        qmp_schema *s = qmp_client_get_schema(f->c, 0);
        assert_non_null(s);
        json_t *cmd = qmp_command_new("query-status", NULL);
        assert_int_equal(qmp_schema_validate(s, cmd, 0, NULL), 0);
        json_decref(cmd);
        qmp_schema_unref(s);
        /* validated and sent */
        json_t *ret = exec_ok(f->c, qmp_command_new("query-status", NULL));
        json_decref(ret);
    }
    assert_int_equal(trace_count(t, SCHEMA_SEND), 1);
    assert_int_equal(trace_count(t, "\"query-status\""), 50);
    /* the same schema object each time, while the connection lasts */
    qmp_schema *a = qmp_client_get_schema(f->c, 0), *b = qmp_client_get_schema(f->c, 5000);
    assert_ptr_equal(a, b);
    qmp_schema_unref(a);
    qmp_schema_unref(b);
    assert_int_equal(trace_count(t, SCHEMA_SEND), 1);
}

typedef struct two_servers {
    qemu_proc sys;
    qemu_proc qsd;
    qmp_client *c;
} two_servers;

static int setup_two(void **state)
{
    two_servers *ts = calloc(1, sizeof *ts);
    if (!ts)
        return -1;
    static const char *const qsd_args[] = { "--blockdev", "null-co,node-name=null0,size=67108864", NULL };
    if (qemu_start(&ts->sys, QEMU_SYSTEM, NULL) < 0) {
        free(ts);
        return -1;
    }
    if (qemu_start(&ts->qsd, QEMU_STORAGE_DAEMON, qsd_args) < 0) {
        qemu_stop(&ts->sys);
        free(ts);
        return -1;
    }
    *state = ts;
    return 0;
}

static int teardown_two(void **state)
{
    two_servers *ts = *state;
    qmp_client_free(ts->c);
    qemu_stop(&ts->sys);
    qemu_stop(&ts->qsd);
    free(ts);
    return 0;
}

/*
 * qemu-storage-daemon 7.2 has no query-status and no human-monitor-command
 * (no VM, no HMP); qemu-system-x86_64 has both.  Both have blockdev-add and
 * its io_uring.
 */
static void test_cache_is_per_connection(void **state)
{
    two_servers *ts = *state;
    ts->c = qemu_connect(&ts->sys, 0);
    qmp_client *c = ts->c;
    trace *t = trace_on(c);
    assert_int_equal(qmp_client_set_validation(c, QMP_VALIDATE), QMP_OK);
    assert_int_equal(qmp_client_schema_has(c, "query-status"), 1);
    assert_int_equal(qmp_client_schema_has(c, "human-monitor-command/arg-type/command-line"), 1);
    assert_int_equal(qmp_client_schema_has(c, "blockdev-add/arg-type/+file/aio/^io_uring"), 1);
    qmp_schema *old = qmp_client_get_schema(c, 0);
    assert_non_null(old);
    json_t *ret = exec_ok(c, qmp_command_new("query-status", NULL));
    json_decref(ret);
    assert_int_equal(trace_count(t, SCHEMA_SEND), 1);

    assert_int_equal(qmp_client_close(c), QMP_OK);
    assert_null(qmp_client_get_schema(c, 0));
    assert_int_equal(qmp_error_last()->code, QMP_ECLOSED);
    assert_int_equal(qmp_client_schema_has(c, "query-status"), QMP_ECLOSED);
    /* the setting outlives the connection */
    assert_int_equal(qmp_client_get_validation(c), QMP_VALIDATE);

    /* the same client, another server */
    assert_int_equal(qmp_client_connect_unix(c, ts->qsd.sock, 30000), QMP_OK);
    assert_int_equal(qmp_client_schema_has(c, "query-status"), 0);
    assert_int_equal(qmp_client_schema_has(c, "human-monitor-command"), 0);
    assert_int_equal(qmp_client_schema_has(c, "blockdev-add/arg-type/+file/aio/^io_uring"), 1);
    assert_int_equal(trace_count(t, SCHEMA_SEND), 2);
    qmp_schema *now = qmp_client_get_schema(c, 0);
    assert_non_null(now);
    assert_ptr_not_equal(now, old);
    /* the old schema stays valid for whoever holds it */
    assert_int_equal(qmp_schema_has(old, "query-status"), 1);
    assert_int_equal(qmp_schema_has(now, "query-status"), 0);
    json_t *lo = qmp_schema_list(old, QMP_SCHEMA_COMMANDS), *ln = qmp_schema_list(now, QMP_SCHEMA_COMMANDS);
    assert_true(json_array_size(ln) < json_array_size(lo));
    json_decref(lo);
    json_decref(ln);
    qmp_schema_unref(old);
    qmp_schema_unref(now);

    /* validation now judges by the daemon's schema: query-status is refused unsent */
    size_t before = trace_sends(t);
    assert_int_equal(qmp_client_execute(c, qmp_command_new("query-status", NULL), NULL), QMP_EINVAL);
    assert_true(strncmp(qmp_error_last()->message, "query-status: unknown command", 29) == 0);
    /* and so is the HMP helper: the daemon has no human-monitor-command */
    char *out = (char *)(uintptr_t)1;
    assert_int_equal(qmp_client_hmp(c, "info status", &out), QMP_EINVAL);
    assert_null(out);
    assert_true(strncmp(qmp_error_last()->message, "human-monitor-command: unknown command", 38) == 0);
    assert_int_equal(trace_sends(t), before);
    /* without validation the daemon itself says so */
    assert_int_equal(qmp_client_set_validation(c, 0), QMP_OK);
    assert_int_equal(qmp_client_hmp(c, "info status", NULL), QMP_ECOMMAND);
    assert_string_equal(qmp_error_last()->qmp_class, "CommandNotFound");
    assert_int_equal(trace_count(t, "\"human-monitor-command\""), 1);
    assert_int_equal(trace_count(t, SCHEMA_SEND), 2);
}

static void test_set_validation_fetches_at_once(void **state)
{
    fixture *f = *state;
    /* before connecting: nothing to fetch from */
    f->c = qmp_client_new();
    assert_non_null(f->c);
    trace *t = trace_on(f->c);
    assert_int_equal(qmp_client_set_validation(f->c, QMP_VALIDATE), QMP_OK);
    assert_int_equal(qmp_client_connect_unix(f->c, f->q.sock, 30000), QMP_OK);
    /* the first validated call of the connection fetches it: the HMP helper here */
    char *out = NULL;
    assert_int_equal(qmp_client_hmp(f->c, "info version", &out), QMP_OK);
    assert_non_null(out);
    assert_non_null(strstr(out, "7.2"));
    qmp_free(out);
    pthread_mutex_lock(&t->mu);
    json_t *sends = json_deep_copy(t->sends);
    pthread_mutex_unlock(&t->mu);
    /* the handshake's qmp_capabilities, the schema, then the command */
    assert_int_equal(json_array_size(sends), 3);
    assert_non_null(strstr(json_string_value(json_array_get(sends, 0)), "\"qmp_capabilities\""));
    assert_non_null(strstr(json_string_value(json_array_get(sends, 1)), SCHEMA_SEND));
    assert_non_null(strstr(json_string_value(json_array_get(sends, 2)), "\"human-monitor-command\""));
    json_decref(sends);
    assert_int_equal(qmp_client_close(f->c), QMP_OK);

    /* connected, validation off: set_validation fetches in the call */
    assert_int_equal(qmp_client_set_validation(f->c, 0), QMP_OK);
    assert_int_equal(qmp_client_connect_unix(f->c, f->q.sock, 30000), QMP_OK);
    assert_int_equal(trace_count(t, SCHEMA_SEND), 1);
    assert_int_equal(qmp_client_set_validation(f->c, QMP_VALIDATE | QMP_VALIDATE_DENY_DEPRECATED), QMP_OK);
    assert_int_equal(trace_count(t, SCHEMA_SEND), 2);
    assert_int_equal(qmp_client_get_validation(f->c), QMP_VALIDATE | QMP_VALIDATE_DENY_DEPRECATED);
    /* already there: no second fetch */
    assert_int_equal(qmp_client_set_validation(f->c, QMP_VALIDATE), QMP_OK);
    assert_int_equal(qmp_client_set_validation(f->c, 0), QMP_OK);
    assert_int_equal(qmp_client_set_validation(f->c, QMP_VALIDATE_DENY_UNSTABLE), QMP_OK);
    assert_int_equal(qmp_client_get_validation(f->c), QMP_VALIDATE | QMP_VALIDATE_DENY_UNSTABLE);
    assert_int_equal(trace_count(t, SCHEMA_SEND), 2);
    /* bad flags change nothing */
    assert_int_equal(qmp_client_set_validation(f->c, 64), QMP_EINVAL);
    assert_int_equal(qmp_client_get_validation(f->c), QMP_VALIDATE | QMP_VALIDATE_DENY_UNSTABLE);
}

/* ---- per call, async, warnings ------------------------------------------------------------ */

#define BAD_DEL "{\"execute\":\"blockdev-del\",\"arguments\":{\"node-nam\":\"n0\"}}"
#define BAD_DEL_MSG "blockdev-del: arguments: unknown member 'node-nam' (did you mean 'node-name'?)"

static void test_per_call_overrides_client(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);
    trace *t = trace_on(f->c);

    /* client on, call off: the mistake reaches QEMU, which refuses it */
    assert_int_equal(qmp_client_set_validation(f->c, QMP_VALIDATE), QMP_OK);
    qmp_exec_options off = QMP_EXEC_OPTIONS_INIT;
    off.validate = QMP_VALIDATE_OFF;
    char *res = NULL;
    assert_int_equal(qmp_client_execute_str_full(f->c, BAD_DEL, &off, &res), QMP_ECOMMAND);
    assert_string_equal(qmp_error_last()->qmp_class, "GenericError");
    assert_non_null(res);
    qmp_free(res);
    assert_int_equal(trace_count(t, "\"blockdev-del\""), 1);

    /* client on, no per-call word (0, or an options struct of version 1): validated */
    qmp_exec_options dflt = QMP_EXEC_OPTIONS_INIT;
    assert_int_equal(qmp_client_execute_str_full(f->c, BAD_DEL, &dflt, NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, BAD_DEL_MSG);
    qmp_exec_options v1 = { 1, 0, NULL, 0, 0, QMP_VALIDATE_OFF /* not read in version 1 */ };
    assert_int_equal(qmp_client_execute_str_full(f->c, BAD_DEL, &v1, NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, BAD_DEL_MSG);
    assert_int_equal(trace_count(t, "\"blockdev-del\""), 1);

    /* client off, call on: caught before sending */
    assert_int_equal(qmp_client_set_validation(f->c, 0), QMP_OK);
    qmp_exec_options on = QMP_EXEC_OPTIONS_INIT;
    on.validate = QMP_VALIDATE;
    json_t *cmd = json_loads(BAD_DEL, 0, NULL);
    assert_int_equal(qmp_client_execute_full(f->c, cmd, &on, NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, BAD_DEL_MSG);
    assert_int_equal(trace_count(t, "\"blockdev-del\""), 1);
    /* client off, no per-call word: sent */
    assert_int_equal(qmp_client_execute_str(f->c, BAD_DEL, NULL), QMP_ECOMMAND);
    assert_int_equal(trace_count(t, "\"blockdev-del\""), 2);

    /* a per-call deny flag is stricter than the client's setting */
    assert_int_equal(qmp_client_set_validation(f->c, QMP_VALIDATE), QMP_OK);
    qmp_exec_options deny = QMP_EXEC_OPTIONS_INIT;
    deny.validate = QMP_VALIDATE | QMP_VALIDATE_DENY_UNSTABLE;
    assert_int_equal(qmp_client_execute_full(f->c, qmp_command_new("x-debug-query-block-graph", NULL), &deny, NULL),
                     QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "x-debug-query-block-graph: command 'x-debug-query-block-graph' "
                                                   "is unstable (refused by QMP_VALIDATE_DENY_UNSTABLE)");
    assert_int_equal(trace_count(t, "\"x-debug-query-block-graph\""), 0);
    /* a bad per-call value is refused as such */
    qmp_exec_options weird = QMP_EXEC_OPTIONS_INIT;
    weird.validate = 64;
    assert_int_equal(qmp_client_execute_full(f->c, qmp_command_new("query-status", NULL), &weird, NULL), QMP_EINVAL);
    assert_int_equal(trace_count(t, "\"query-status\""), 0);
}

static int g_cb_runs;
static int g_destroy_runs;

static void reply_cb(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    (void)status;
    (void)result;
    (void)user_data;
    g_cb_runs++;
}

static void destroy_cb(void *user_data)
{
    (void)user_data;
    g_destroy_runs++;
}

static void test_async_refused_synchronously(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);
    trace *t = trace_on(f->c);
    assert_int_equal(qmp_client_set_validation(f->c, QMP_VALIDATE), QMP_OK);
    size_t before = trace_sends(t);
    g_cb_runs = g_destroy_runs = 0;
    json_t *cmd = json_loads(BAD_DEL, 0, NULL);
    int rc = qmp_client_execute_async(f->c, cmd, NULL, reply_cb, NULL, destroy_cb);
    assert_int_equal(rc, QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, BAD_DEL_MSG);
    assert_int_equal(g_destroy_runs, 1);
    assert_int_equal(g_cb_runs, 0);
    /* per call too, with the client off */
    assert_int_equal(qmp_client_set_validation(f->c, 0), QMP_OK);
    qmp_exec_options on = QMP_EXEC_OPTIONS_INIT;
    on.validate = QMP_VALIDATE;
    rc = qmp_client_execute_async(f->c, qmp_command_new("query-statuss", NULL), &on, reply_cb, NULL, destroy_cb);
    assert_int_equal(rc, QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message, "query-statuss: unknown command (did you mean 'query-status'?)");
    assert_int_equal(g_destroy_runs, 2);
    /* a synchronous call drives the connection: still no callback, nothing sent */
    json_t *ret = exec_ok(f->c, qmp_command_new("query-status", NULL));
    json_decref(ret);
    assert_int_equal(g_cb_runs, 0);
    assert_int_equal(g_destroy_runs, 2);
    assert_int_equal(trace_sends(t), before + 1);

    /* a valid async command under validation goes out and is answered */
    assert_int_equal(qmp_client_set_validation(f->c, QMP_VALIDATE), QMP_OK);
    assert_int_equal(qmp_client_execute_async(f->c, qmp_command_new("query-version", NULL), NULL, reply_cb, NULL,
                                              destroy_cb), QMP_OK);
    ret = exec_ok(f->c, qmp_command_new("query-status", NULL));
    json_decref(ret);
    assert_int_equal(g_cb_runs, 1);
    assert_int_equal(g_destroy_runs, 3);
}

/* drive-backup is deprecated in 7.2; with -M none there is no such device,
 * so QEMU refuses it harmlessly once it is sent. */
#define DRIVE_BACKUP "{\"execute\":\"drive-backup\",\"arguments\":{\"device\":\"nodev\",\"target\":\"/nonexistent/t\"," \
                     "\"sync\":\"full\"}}"

static void test_deprecated_warns_and_sends(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);
    trace *t = trace_on(f->c);
    assert_int_equal(qmp_client_set_validation(f->c, QMP_VALIDATE), QMP_OK);
    assert_int_equal(qmp_client_execute_str(f->c, DRIVE_BACKUP, NULL), QMP_ECOMMAND);
    assert_int_equal(trace_count(t, "\"drive-backup\""), 1);
    assert_int_equal(trace_warnings(t), 1);
    assert_string_equal(trace_warning(t, 0), "drive-backup: command 'drive-backup' is deprecated");

    /* a deprecated member: eject's device (the tree API) */
    json_t *cmd = qmp_command_new("eject", "s:device", "nodev", NULL);
    assert_int_equal(qmp_client_execute(f->c, cmd, NULL), QMP_ECOMMAND);
    assert_int_equal(trace_count(t, "\"eject\""), 1);
    assert_int_equal(trace_warnings(t), 2);
    assert_string_equal(trace_warning(t, 1), "eject: arguments.device: member 'device' is deprecated");

    /* nothing deprecated, no warning */
    json_t *ret = exec_ok(f->c, qmp_command_new("query-status", NULL));
    json_decref(ret);
    assert_int_equal(trace_warnings(t), 2);

    /* QMP_VALIDATE_DENY_DEPRECATED refuses drive-backup, unsent, without a warning */
    assert_int_equal(qmp_client_set_validation(f->c, QMP_VALIDATE_DENY_DEPRECATED), QMP_OK);
    assert_int_equal(qmp_client_execute_str(f->c, DRIVE_BACKUP, NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message,
                        "drive-backup: command 'drive-backup' is deprecated (refused by QMP_VALIDATE_DENY_DEPRECATED)");
    assert_int_equal(trace_count(t, "\"drive-backup\""), 1);
    assert_int_equal(trace_warnings(t), 2);
    /* ...but lets the unstable through, with a warning */
    ret = exec_ok(f->c, qmp_command_new("x-debug-query-block-graph", NULL));
    json_decref(ret);
    assert_int_equal(trace_warnings(t), 3);
    assert_string_equal(trace_warning(t, 2),
                        "x-debug-query-block-graph: command 'x-debug-query-block-graph' is unstable");
}

static void test_get_schema_not_connected(void **state)
{
    fixture *f = *state;
    f->c = qmp_client_new();
    assert_null(qmp_client_get_schema(f->c, 0));
    assert_int_equal(qmp_error_last()->code, QMP_ECLOSED);
    assert_int_equal(qmp_client_schema_has(f->c, "query-status"), QMP_ECLOSED);
    assert_null(qmp_client_get_schema(f->c, -2));
    assert_int_equal(qmp_error_last()->code, QMP_EINVAL);
    /* validation asked for, nothing to validate against: the call says so */
    assert_int_equal(qmp_client_set_validation(f->c, QMP_VALIDATE), QMP_OK);
    assert_int_equal(qmp_client_execute(f->c, qmp_command_new("query-status", NULL), NULL), QMP_ECLOSED);

    assert_int_equal(qmp_client_connect_unix(f->c, f->q.sock, 30000), QMP_OK);
    qmp_schema *s = qmp_client_get_schema(f->c, 0);
    assert_non_null(s);
    assert_int_equal(qmp_client_close(f->c), QMP_OK);
    assert_null(qmp_client_get_schema(f->c, 0));
    assert_int_equal(qmp_error_last()->code, QMP_ECLOSED);
    /* the reference taken before stays good */
    assert_int_equal(qmp_schema_has(s, "query-status"), 1);
    qmp_schema_unref(s);
}

/* The text API and the helpers go through validation like the rest. */
static void test_str_and_helpers_validated(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);
    trace *t = trace_on(f->c);
    assert_int_equal(qmp_client_set_validation(f->c, QMP_VALIDATE), QMP_OK);
    size_t before = trace_sends(t);
    char *res = (char *)(uintptr_t)1;
    assert_int_equal(qmp_client_execute_str(f->c, "{\"execute\":\"query-status\",\"arguments\":{\"verbose\":true}}",
                                            &res), QMP_EINVAL);
    assert_null(res);
    assert_string_equal(qmp_error_last()->message, "query-status: arguments: unknown member 'verbose'");
    /* exec-oob of a command that does not allow it: refused before the oob capability is even looked at */
    assert_int_equal(qmp_client_execute_str(f->c, "{\"exec-oob\":\"query-status\"}", NULL), QMP_EINVAL);
    assert_string_equal(qmp_error_last()->message,
                        "query-status: the command does not allow out-of-band execution (exec-oob)");
    assert_int_equal(trace_sends(t), before);
    /* valid text goes out */
    assert_int_equal(qmp_client_execute_str(f->c, "{\"execute\":\"query-status\"}", &res), QMP_OK);
    assert_non_null(strstr(res, "\"status\""));
    qmp_free(res);
    /* HMP: valid, sent */
    char *out = NULL;
    assert_int_equal(qmp_client_hmp(f->c, "info status", &out), QMP_OK);
    assert_non_null(out);
    qmp_free(out);
    assert_int_equal(trace_count(t, "\"human-monitor-command\""), 1);
    /* HMP under a flag that refuses nothing it uses: still fine */
    assert_int_equal(qmp_client_set_validation(f->c, QMP_VALIDATE_DENY_DEPRECATED | QMP_VALIDATE_DENY_UNSTABLE), QMP_OK);
    assert_int_equal(qmp_client_hmp(f->c, "info status", NULL), QMP_OK);
    assert_int_equal(trace_count(t, "\"human-monitor-command\""), 2);
    assert_int_equal(trace_count(t, SCHEMA_SEND), 1);
}

int main(void)
{
    const qemu_kind needed[] = { QEMU_SYSTEM, QEMU_STORAGE_DAEMON };
    int rc = qemu_require(needed, 2);
    if (rc)
        return rc;
    /* LIBQMP_TEST_FILTER=test_name (a glob) runs some of the cases only. */
    if (getenv("LIBQMP_TEST_FILTER"))
        cmocka_set_test_filter(getenv("LIBQMP_TEST_FILTER"));

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup_system, fixture_teardown)
    const struct CMUnitTest tests[] = {
        T(test_query_table_live),
        T(test_verdict_table_live),
        T(test_schema_fetched_once_per_connection),
        cmocka_unit_test_setup_teardown(test_cache_is_per_connection, setup_two, teardown_two),
        T(test_set_validation_fetches_at_once),
        T(test_per_call_overrides_client),
        T(test_async_refused_synchronously),
        T(test_deprecated_warns_and_sends),
        T(test_get_schema_not_connected),
        T(test_str_and_helpers_validated),
    };
    return cmocka_run_group_tests_name("interop: schema", tests, NULL, NULL);
}
