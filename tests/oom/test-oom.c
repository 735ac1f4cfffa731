/*
 * test-oom: every public entry point that allocates, with the Nth
 * allocation of the calling thread failing, for every N.
 *
 * Each sequence below is a short everyday use of the public API against a
 * server that answers by command name (responder.h).  It runs once per N,
 * in a fresh thread (so per-thread state is set up again each time), with
 * the N-th allocation of that thread failing (failmalloc.h: malloc, calloc,
 * realloc, strdup, operator new; jansson allocates through malloc), from
 * N = 1 until a run completes with no failure left to inject.  For each N:
 *
 *   - every call returns what it returns without the failure, or QMP_ENOMEM
 *     (or its documented NULL) with qmp_error_last() saying so; then the
 *     sequence stops there;
 *   - the client is still usable afterwards (a query-status round trip) or
 *     cleanly closed (not connected, calls give QMP_ECLOSED);
 *   - every destroy notifier ran exactly once, every accepted async
 *     callback exactly once and a refused one never;
 *   - nothing leaks and nothing is freed twice: the test runs in the
 *     valgrind setup and in the ASan build.
 *
 * Every N is tried, but for parsing QEMU 7.2's whole schema (some 46000
 * allocations): there every 149th N (every 1499th under valgrind,
 * LIBQMP_TEST_VALGRIND=1), next to a small schema that is tried at every N.
 * The output says so.
 */
#include <errno.h>
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
#include <glib.h>

#include <qmp/qmp.h>
#include <qmp/qmp-glib.h>
#include <qmp/qmp-mock.h>

#include "failmalloc.h"
#include "responder.h"

/* --- what one run found ------------------------------------------------------ */

struct run {
    char problem[1024]; /* the first thing that went wrong, "" if nothing */
    int enomem;         /* calls that reported QMP_ENOMEM */
    int fired;          /* the armed allocation failed */
    long seen;          /* allocations counted in the run */
    int closed_enomem;  /* a close handler was told QMP_ENOMEM */
};

static __thread struct run *cur;

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...) {
    if (cur->problem[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cur->problem, sizeof cur->problem, fmt, ap);
    va_end(ap);
}

/* The public entry points the sequences call (counted once each). */
static const char *entry_points[128];
static int n_entry_points;
static pthread_mutex_t entry_lock = PTHREAD_MUTEX_INITIALIZER;

static void entry(const char *name) {
    pthread_mutex_lock(&entry_lock);
    int i;
    for (i = 0; i < n_entry_points; i++)
        if (!strcmp(entry_points[i], name)) break;
    if (i == n_entry_points && n_entry_points < 128) entry_points[n_entry_points++] = name;
    pthread_mutex_unlock(&entry_lock);
}

static const char *status_text(int rc) {
    static __thread char buf[32];
    switch (rc) {
    case QMP_OK: return "QMP_OK";
    case QMP_EINVAL: return "QMP_EINVAL";
    case QMP_ENOMEM: return "QMP_ENOMEM";
    case QMP_EIO: return "QMP_EIO";
    case QMP_ECLOSED: return "QMP_ECLOSED";
    case QMP_ETIMEDOUT: return "QMP_ETIMEDOUT";
    case QMP_EPROTO: return "QMP_EPROTO";
    case QMP_EHANDSHAKE: return "QMP_EHANDSHAKE";
    case QMP_ENEGOTIATION: return "QMP_ENEGOTIATION";
    case QMP_ECOMMAND: return "QMP_ECOMMAND";
    case QMP_ECANCELLED: return "QMP_ECANCELLED";
    default: snprintf(buf, sizeof buf, "%d", rc); return buf;
    }
}

/* An out-of-memory report: only after the failure, with the error set. */
static void check_enomem(const char *what) {
    const qmp_error *e = qmp_error_last();
    cur->enomem++;
    if (!failmalloc_fired()) problem("%s: QMP_ENOMEM although no allocation failed", what);
    else if (e->code != QMP_ENOMEM) problem("%s: QMP_ENOMEM but qmp_error_last() has %s (%s)", what, status_text(e->code), e->message);
    else if (!e->message || !e->message[0]) problem("%s: QMP_ENOMEM with an empty message", what);
}

/*
 * QMP_ECLOSED is right once the failure has closed the connection, which the
 * client said: in the message, or to the close handler.
 */
static int closed_by_failure(int rc, const qmp_error *e) {
    return rc == QMP_ECLOSED && failmalloc_fired() && (strstr(e->message, "out of memory") || cur->closed_enomem);
}

/*
 * A call's status: 1 to go on (it is the expected one), 0 to stop the
 * sequence (QMP_ENOMEM, the connection closed after the failure, or a
 * problem, which is recorded).
 */
static int step(const char *what, int rc, int expected) {
    entry(what);
    if (rc == expected) return 1;
    if (rc == QMP_ENOMEM) {
        check_enomem(what);
        return 0;
    }
    const qmp_error *e = qmp_error_last();
    if (closed_by_failure(rc, e)) return 0;
    problem("%s returned %s (%s), expected %s", what, status_text(rc), e->message, status_text(expected));
    return 0;
}

/* The same for a call that returns a pointer, NULL on failure. */
static int step_ptr(const char *what, const void *p) {
    entry(what);
    if (p) return 1;
    const qmp_error *e = qmp_error_last();
    if (e->code == QMP_ENOMEM) {
        check_enomem(what);
        return 0;
    }
    if (closed_by_failure(e->code, e)) return 0;
    problem("%s returned NULL with %s (%s)", what, status_text(e->code), e->message);
    return 0;
}

/* --- callbacks that count ------------------------------------------------------ */

struct counts {
    int tried; /* the registration was called (the REG macro sets it) */
    int cb, destroy, destroy_before_cb, status;
};

/* A registration call that takes k as user_data. */
#define REG(k, call) ((k).tried = 1, (call))

static void count_destroy(void *ud) {
    struct counts *k = ud;
    k->destroy++;
}

static void on_log(qmp_client *c, int kind, const char *text, void *ud) {
    (void)c, (void)kind, (void)text;
    ((struct counts *)ud)->cb++;
}

static void on_close(qmp_client *c, int reason, void *ud) {
    (void)c;
    struct counts *k = ud;
    k->cb++;
    k->status = reason;
    if (reason == QMP_ENOMEM) cur->closed_enomem = 1;
    if (k->destroy) k->destroy_before_cb = 1;
}

static void on_event(qmp_client *c, const qmp_event *ev, void *ud) {
    (void)c;
    struct counts *k = ud;
    k->cb++;
    if (k->destroy) k->destroy_before_cb = 1;
    /* The event's accessors, and a copy of it as text. */
    entry("qmp_event_to_json");
    char *text = qmp_event_to_json(ev);
    if (!text && qmp_error_last()->code == QMP_ENOMEM) check_enomem("qmp_event_to_json");
    else if (!text || !strstr(text, qmp_event_name(ev))) problem("qmp_event_to_json: %s", text ? text : "NULL");
    qmp_free(text);
    entry("qmp_event_data");
    const json_t *data = qmp_event_data(ev);
    if (!strcmp(qmp_event_name(ev), "STOP")) {
        if (data) problem("qmp_event_data: STOP carries no data");
    } else if (!data) {
        /* It has data: NULL is out of memory, and says so. */
        if (qmp_error_last()->code == QMP_ENOMEM) check_enomem("qmp_event_data");
        else problem("qmp_event_data: NULL for %s, with %s", qmp_event_name(ev), status_text(qmp_error_last()->code));
    } else if (!json_is_string(json_object_get(data, "status"))) {
        problem("qmp_event_data: %s has no status", qmp_event_name(ev));
    }
    if (qmp_event_seconds(ev) != 1700000000) problem("the event's timestamp was lost");
    (void)qmp_event_seq(ev);
}

static void on_reply(qmp_client *c, int status, const json_t *result, void *ud) {
    (void)c, (void)result;
    struct counts *k = ud;
    k->cb++;
    k->status = status;
    if (k->destroy) k->destroy_before_cb = 1;
    if (status == QMP_ENOMEM) check_enomem("qmp_client_execute_async (callback)");
}

static void on_connect(qmp_client *c, int status, void *ud) {
    (void)c;
    struct counts *k = ud;
    k->cb++;
    k->status = status;
    if (k->destroy) k->destroy_before_cb = 1;
}

/* A registration's outcome after the client is gone: destroy exactly once, after any callback. */
static void check_notifier(const char *what, const struct counts *k) {
    if (!k->tried) {
        if (k->destroy || k->cb) problem("%s was never called but its callbacks ran", what);
        return;
    }
    if (k->destroy != 1) problem("%s: destroy ran %d times", what, k->destroy);
    if (k->destroy_before_cb) problem("%s: the callback ran after destroy", what);
}

/* An async call: accepted (rc 0): cb exactly once; refused: never. */
static void check_async(const char *what, int rc, const struct counts *k) {
    check_notifier(what, k);
    if (rc == QMP_OK && k->cb != 1) problem("%s was accepted but its callback ran %d times", what, k->cb);
    if (rc != QMP_OK && k->cb != 0) problem("%s failed (%s) but its callback ran %d times", what, status_text(rc), k->cb);
}

/* --- helpers -------------------------------------------------------------------- */

/* After a failure: the client answers a query-status, or is cleanly closed. */
static void check_usable_or_closed(qmp_client *c) {
    long armed = failmalloc_seen();
    failmalloc_arm(0);
    (void)armed;
    if (qmp_client_is_connected(c)) {
        json_t *r = NULL;
        int rc = qmp_client_execute(c, qmp_command_new("query-status", NULL), &r);
        if (rc != QMP_OK || !json_is_object(r))
            problem("after the failure the client is connected but query-status gives %s (%s)", status_text(rc),
                    qmp_error_last()->message);
        json_decref(r);
    } else {
        if (qmp_client_greeting(c)) problem("after the failure the client is not connected but has a greeting");
        int rc = qmp_client_execute(c, qmp_command_new("query-status", NULL), NULL);
        if (rc != QMP_ECLOSED) problem("after the failure the client is closed but query-status gives %s", status_text(rc));
    }
}

/*
 * After a failure against the test server, whose script may be cut short:
 * the client is connected or cleanly closed, and nothing more is asked.
 */
static void check_usable_or_closed_mock(qmp_client *c) {
    failmalloc_arm(0);
    if (!qmp_client_is_connected(c) && qmp_client_greeting(c))
        problem("after the failure the client is not connected but has a greeting");
}

/* Drives c with get_fd/get_events/get_timeout_ms/process until done() or 10 s. */
static int drive(qmp_client *c, int (*done)(void *), void *arg) {
    for (int i = 0; i < 10000 && !done(arg); i++) {
        int fd = qmp_client_get_fd(c);
        int want = qmp_client_get_events(c);
        int t = qmp_client_get_timeout_ms(c);
        struct pollfd p = {fd, (short)(((want & QMP_POLL_IN) ? POLLIN : 0) | ((want & QMP_POLL_OUT) ? POLLOUT : 0)), 0};
        if (poll(&p, fd >= 0 ? 1 : 0, t < 0 || t > 1 ? 1 : t) < 0 && errno != EINTR) return QMP_EIO;
        int rev = 0;
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) rev |= QMP_POLL_IN;
        if (p.revents & POLLOUT) rev |= QMP_POLL_OUT;
        int rc = qmp_client_process(c, rev);
        entry("qmp_client_process");
        if (rc == QMP_ENOMEM) {
            check_enomem("qmp_client_process");
            return rc;
        }
        if (rc == QMP_ECLOSED) return rc;
        if (rc != QMP_OK) {
            problem("qmp_client_process returned %s (%s)", status_text(rc), qmp_error_last()->message);
            return rc;
        }
    }
    return done(arg) ? QMP_OK : QMP_ETIMEDOUT;
}

static const char *schema_72;  /* QEMU 7.2's query-qmp-schema reply, whole */

/* A small schema in QEMU's form: the commands and event the sequences use. */
static const char small_schema[] =
    "[{\"name\": \"query-status\", \"meta-type\": \"command\", \"arg-type\": \"0\", \"ret-type\": \"1\"},"
    " {\"name\": \"stop\", \"meta-type\": \"command\", \"arg-type\": \"0\", \"ret-type\": \"0\"},"
    " {\"name\": \"human-monitor-command\", \"meta-type\": \"command\", \"arg-type\": \"3\", \"ret-type\": \"str\"},"
    " {\"name\": \"old-command\", \"meta-type\": \"command\", \"arg-type\": \"4\", \"ret-type\": \"0\", \"features\": [\"deprecated\"]},"
    " {\"name\": \"STOP\", \"meta-type\": \"event\", \"arg-type\": \"0\"},"
    " {\"name\": \"0\", \"meta-type\": \"object\", \"members\": []},"
    " {\"name\": \"1\", \"meta-type\": \"object\", \"members\": [{\"name\": \"running\", \"type\": \"bool\"},"
    "   {\"name\": \"singlestep\", \"type\": \"bool\"}, {\"name\": \"status\", \"type\": \"2\"}]},"
    " {\"name\": \"2\", \"meta-type\": \"enum\", \"values\": [\"running\", \"paused\"],"
    "   \"members\": [{\"name\": \"running\"}, {\"name\": \"paused\"}]},"
    " {\"name\": \"3\", \"meta-type\": \"object\", \"members\": [{\"name\": \"command-line\", \"type\": \"str\"},"
    "   {\"name\": \"cpu-index\", \"default\": null, \"type\": \"int\"}]},"
    " {\"name\": \"4\", \"meta-type\": \"object\", \"members\": [{\"name\": \"mode\", \"type\": \"5\"},"
    "   {\"name\": \"size\", \"default\": null, \"type\": \"int\"}]},"
    " {\"name\": \"5\", \"meta-type\": \"alternate\", \"members\": [{\"type\": \"str\"}, {\"type\": \"int\"}]},"
    " {\"name\": \"str\", \"meta-type\": \"builtin\", \"json-type\": \"string\"},"
    " {\"name\": \"int\", \"meta-type\": \"builtin\", \"json-type\": \"int\"},"
    " {\"name\": \"bool\", \"meta-type\": \"builtin\", \"json-type\": \"boolean\"}]";

/* The server, started without counting its allocations. */
static responder *start_responder(int *fd, const char *schema) {
    failmalloc_hold(1);
    responder *p = responder_new(fd, schema);
    failmalloc_hold(0);
    return p;
}

/* --- the sequences ---------------------------------------------------------------- */

/*
 * Synchronous use: a trace callback, a close handler, connect, the builder
 * and the string API, an error reply, HMP, stop and wait for STOP, the
 * connection's schema, close, free.
 */
static void seq_sync(void) {
    int fd;
    responder *p = start_responder(&fd, small_schema);
    struct counts log = {0}, closed = {0};
    qmp_client *c = qmp_client_new();
    if (!step_ptr("qmp_client_new", c)) {
        close(fd);
        failmalloc_arm(0);
        responder_finish(p);
        return;
    }
    int go = step("qmp_client_set_log", REG(log, qmp_client_set_log(c, on_log, &log, count_destroy)), QMP_OK) &&
             step("qmp_client_on_close", REG(closed, qmp_client_on_close(c, on_close, &closed, count_destroy)), QMP_OK);
    int rc = qmp_client_connect_fd(c, fd, 10000);
    go = go && step("qmp_client_connect_fd", rc, QMP_OK);
    if (go) {
        int major = 0;
        go = step_ptr("qmp_client_greeting", qmp_client_greeting(c)) &&
             step("qmp_client_get_version", qmp_client_get_version(c, &major, NULL, NULL), QMP_OK);
        if (go && major != 7) problem("qmp_client_get_version: major %d", major);
    }
    if (go) {
        json_t *r = NULL;
        /* A builder that fails leaves its error for qmp_client_execute(NULL) to report. */
        go = step("qmp_client_execute", qmp_client_execute(c, qmp_command_new("query-status", NULL), &r), QMP_OK);
        if (go && !json_is_string(json_object_get(r, "status"))) problem("query-status: no status in the result");
        json_decref(r);
    }
    if (go) {
        char *out = NULL;
        go = step("qmp_client_execute_str", qmp_client_execute_str(c, "{\"execute\": \"query-status\"}", &out), QMP_OK);
        if (go && (!out || !strstr(out, "running"))) problem("execute_str: %s", out ? out : "NULL");
        qmp_free(out);
    }
    if (go) {
        json_t *r = NULL;
        go = step("qmp_client_execute (error reply)", qmp_client_execute(c, qmp_command_new("no-such-command", NULL), &r),
                  QMP_ECOMMAND);
        if (go && strcmp(qmp_error_last()->qmp_class, "CommandNotFound"))
            problem("error reply: class %s", qmp_error_last()->qmp_class);
        json_decref(r);
    }
    if (go) {
        char *out = NULL;
        go = step("qmp_client_hmp", qmp_client_hmp(c, "info status", &out), QMP_OK);
        if (go && (!out || strcmp(out, "ok\r\n"))) problem("hmp: %s", out ? out : "NULL");
        qmp_free(out);
    }
    if (go) {
        unsigned long long seq = qmp_client_event_seq(c);
        json_t *ev = NULL;
        char *evs = NULL;
        go = step("qmp_client_execute (stop)", qmp_client_execute(c, qmp_command_new("stop", NULL), NULL), QMP_OK) &&
             step("qmp_client_wait_event", qmp_client_wait_event(c, "STOP", NULL, seq, 10000, &ev), QMP_OK) &&
             step("qmp_client_wait_event_str", qmp_client_wait_event_str(c, "STOP", NULL, seq, 10000, &evs), QMP_OK);
        if (go) {
            /* A filter on the data: the event's tree is built while it is routed or looked up. */
            json_t *job = NULL;
            json_t *match = json_pack("{s:s}", "status", "created");
            if (!match) {
                go = 0; /* the test's own allocation */
            } else {
                go = step("qmp_client_wait_event (match)",
                          qmp_client_wait_event(c, "JOB_STATUS_CHANGE", match, seq, 10000, &job), QMP_OK);
                json_decref(match);
            }
            json_decref(job);
        }
        if (go && (!evs || !strstr(evs, "STOP"))) problem("wait_event_str: %s", evs ? evs : "NULL");
        json_decref(ev);
        qmp_free(evs);
    }
    if (go) {
        qmp_schema *s = qmp_client_get_schema(c, 10000);
        go = step_ptr("qmp_client_get_schema", s);
        qmp_schema_unref(s);
        go = go && step("qmp_client_schema_has", qmp_client_schema_has(c, "human-monitor-command/arg-type/cpu-index"), 1);
        go = go && step("qmp_client_set_validation", qmp_client_set_validation(c, QMP_VALIDATE), QMP_OK);
        if (go && qmp_client_get_validation(c) != QMP_VALIDATE) problem("get_validation: %d", qmp_client_get_validation(c));
        go = go && step("qmp_client_execute (validated)", qmp_client_execute(c, qmp_command_new("query-status", NULL), NULL), QMP_OK);
    }
    if (go) go = step("qmp_client_close", qmp_client_close(c), QMP_OK);
    if (!go) check_usable_or_closed(c);
    qmp_client_free(c); /* still armed: freeing must cope too */
    entry("qmp_client_free");
    failmalloc_arm(0);
    if (responder_finish(p)) problem("the server saw malformed commands");
    check_notifier("qmp_client_set_log", &log);
    check_notifier("qmp_client_on_close", &closed);
    if (closed.cb > 1) problem("the close handler ran %d times", closed.cb);
}

struct async_state {
    struct counts conn, a, b, stop_ev;
    qmp_client *c;
};

static int connect_done(void *arg) { return ((struct async_state *)arg)->conn.cb > 0; }

static int replies_done(void *arg) {
    struct async_state *s = arg;
    return s->a.cb > 0 && s->b.cb > 0 && s->stop_ev.cb > 0;
}

/*
 * Asynchronous use: event handlers and a close handler, an async connect,
 * two async calls and an event, all driven by the loop-integration calls,
 * a handler removed, free with the calls' notifiers due.
 */
static void seq_async(void) {
    int fd;
    responder *p = start_responder(&fd, NULL);
    struct async_state s;
    memset(&s, 0, sizeof s);
    struct counts any = {0}, closed = {0};
    qmp_client *c = qmp_client_new();
    if (!step_ptr("qmp_client_new", c)) {
        close(fd);
        failmalloc_arm(0);
        responder_finish(p);
        return;
    }
    unsigned int id_stop = 0, id_any = 0;
    int rc_stop = REG(s.stop_ev, qmp_client_on_event(c, "STOP", on_event, &s.stop_ev, count_destroy, &id_stop));
    int rc_any = QMP_EINVAL, rc_conn = QMP_EINVAL, rc_a = QMP_EINVAL, rc_b = QMP_EINVAL;
    int go = step("qmp_client_on_event", rc_stop, QMP_OK);
    if (go) go = step("qmp_client_on_event", rc_any = REG(any, qmp_client_on_event(c, NULL, on_event, &any, count_destroy, &id_any)), QMP_OK);
    if (go) go = step("qmp_client_on_close", REG(closed, qmp_client_on_close(c, on_close, &closed, count_destroy)), QMP_OK);
    if (go) {
        rc_conn = REG(s.conn, qmp_client_connect_fd_async(c, fd, 10000, on_connect, &s.conn, count_destroy));
        fd = -1;
        go = step("qmp_client_connect_fd_async", rc_conn, QMP_OK);
    }
    if (go) {
        int rc = drive(c, connect_done, &s);
        go = rc == QMP_OK && step("qmp_client_connect_fd_async (callback)", s.conn.status, QMP_OK);
    }
    if (go) {
        rc_a = REG(s.a, qmp_client_execute_async(c, qmp_command_new("query-status", NULL), NULL, on_reply, &s.a, count_destroy));
        go = step("qmp_client_execute_async", rc_a, QMP_OK);
    }
    if (go) {
        rc_b = REG(s.b, qmp_client_execute_async(c, qmp_command_new("stop", NULL), NULL, on_reply, &s.b, count_destroy));
        go = step("qmp_client_execute_async", rc_b, QMP_OK);
    }
    if (go) {
        int rc = drive(c, replies_done, &s);
        if (rc == QMP_ETIMEDOUT)
            problem("the loop never completed: replies %d/%d, STOP handler %d, connected %d", s.a.cb, s.b.cb, s.stop_ev.cb,
                    qmp_client_is_connected(c));
        go = rc == QMP_OK;
        if (go && (s.a.status != QMP_OK || s.b.status != QMP_OK)) {
            if (s.a.status != QMP_ENOMEM && s.b.status != QMP_ENOMEM)
                problem("async replies: %s, %s", status_text(s.a.status), status_text(s.b.status));
            go = 0;
        }
    }
    if (go) go = step("qmp_client_off_event", qmp_client_off_event(c, id_any), QMP_OK);
    if (!go && qmp_client_get_fd(c) >= 0) check_usable_or_closed(c);
    qmp_client_free(c); /* still armed: freeing must cope too */
    entry("qmp_client_free");
    failmalloc_arm(0);
    if (fd >= 0) close(fd);
    if (responder_finish(p)) problem("the server saw malformed commands");
    (void)rc_stop, (void)rc_any;
    check_notifier("qmp_client_on_event (STOP)", &s.stop_ev);
    check_notifier("qmp_client_on_event (any)", &any);
    check_notifier("qmp_client_on_close", &closed);
    if (s.conn.tried) check_async("qmp_client_connect_fd_async", rc_conn, &s.conn);
    if (s.a.tried) check_async("qmp_client_execute_async (query-status)", rc_a, &s.a);
    if (s.b.tried) check_async("qmp_client_execute_async (stop)", rc_b, &s.b);
}

static char unix_path[108];

static int connected_async(void *arg) { return ((struct counts *)arg)->cb > 0; }

/*
 * A Unix socket, the settings, fds passed with commands, the _full and
 * _str_full variants, then a second connection made asynchronously.
 */
static void seq_unix(void) {
    failmalloc_hold(1);
    responder *p = responder_listen(unix_path, 2, NULL);
    failmalloc_hold(0);
    struct counts conn = {0};
    int rc_conn = QMP_EINVAL;
    int pipefd[2] = {-1, -1};
    qmp_client *c = qmp_client_new();
    if (!step_ptr("qmp_client_new", c)) {
        failmalloc_arm(0);
        responder_finish(p);
        return;
    }
    int go = step("qmp_client_set_timeout", qmp_client_set_timeout(c, 10000), QMP_OK) &&
             step("qmp_client_set_event_buffer", qmp_client_set_event_buffer(c, 16), QMP_OK) &&
             step("qmp_client_set_max_message_size", qmp_client_set_max_message_size(c, 1 << 20), QMP_OK) &&
             step("qmp_client_set_oob", qmp_client_set_oob(c, 1), QMP_OK) &&
             step("qmp_client_connect_unix", qmp_client_connect_unix(c, unix_path, 10000), QMP_OK) &&
             step("qmp_client_has_capability", qmp_client_has_capability(c, "oob"), 1) &&
             step("qmp_client_is_connected", qmp_client_is_connected(c), 1);
    if (go) {
        failmalloc_hold(1);
        if (pipe(pipefd) < 0) abort();
        failmalloc_hold(0);
        long long set = -1, qfd = -1;
        go = step("qmp_client_getfd", qmp_client_getfd(c, pipefd[0], "fd0"), QMP_OK) &&
             step("qmp_client_closefd", qmp_client_closefd(c, "fd0"), QMP_OK) &&
             step("qmp_client_add_fd", qmp_client_add_fd(c, pipefd[1], -1, "oom", &set, &qfd), QMP_OK);
        if (go && (set != 1 || qfd != 42)) problem("add_fd: %lld %lld", set, qfd);
    }
    if (go) {
        qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
        o.timeout_ms = 10000;
        o.fds = pipefd;
        o.nfds = 2;
        char *out = NULL;
        go = step("qmp_client_execute_str_full",
                  qmp_client_execute_str_full(c, "{\"execute\": \"query-status\"}", &o, &out), QMP_OK);
        if (go && (!out || !strstr(out, "running"))) problem("execute_str_full: %s", out ? out : "NULL");
        qmp_free(out);
        o.nfds = 0;
        o.oob = 1;
        go = go && step("qmp_client_execute_full (oob)",
                        qmp_client_execute_full(c, qmp_command_new("query-status", NULL), &o, NULL), QMP_OK);
    }
    if (go) {
        unsigned long long seq = qmp_client_event_seq(c), got = 0;
        json_t *ev = NULL;
        char *evs = NULL;
        go = step("qmp_client_execute (stop)", qmp_client_execute(c, qmp_command_new("stop", NULL), NULL), QMP_OK) &&
             step("qmp_client_wait_event_full", qmp_client_wait_event_full(c, NULL, NULL, seq, 10000, &ev, &got), QMP_OK) &&
             step("qmp_client_wait_event_str_full",
                  qmp_client_wait_event_str_full(c, "STOP", NULL, seq, 10000, &evs, &got), QMP_OK);
        if (go && got != seq + 1) problem("wait_event_full: seq %llu after %llu", got, seq);
        json_decref(ev);
        qmp_free(evs);
    }
    if (go) go = step("qmp_client_close", qmp_client_close(c), QMP_OK);
    if (go) {
        rc_conn = REG(conn, qmp_client_connect_unix_async(c, unix_path, 10000, on_connect, &conn, count_destroy));
        go = step("qmp_client_connect_unix_async", rc_conn, QMP_OK) && drive(c, connected_async, &conn) == QMP_OK &&
             step("qmp_client_connect_unix_async (callback)", conn.status, QMP_OK);
        go = go && step("qmp_client_execute (second connection)",
                        qmp_client_execute(c, qmp_command_new("query-status", NULL), NULL), QMP_OK);
    }
    if (!go && qmp_client_get_fd(c) >= 0) check_usable_or_closed(c);
    qmp_client_free(c); /* still armed: freeing must cope too */
    entry("qmp_client_free");
    failmalloc_arm(0);
    if (pipefd[0] >= 0) close(pipefd[0]);
    if (pipefd[1] >= 0) close(pipefd[1]);
    if (responder_finish(p)) problem("the server saw malformed commands");
    if (conn.tried) check_async("qmp_client_connect_unix_async", rc_conn, &conn);
}

struct helper {
    qmp_client *c;
    int rc;
    char message[256];
};

static void *helper_main(void *arg) {
    struct helper *h = arg;
    usleep(10 * 1000); /* the test's thread is driving by now, waiting for "slow" */
    h->rc = qmp_client_execute(h->c, qmp_command_new("query-status", NULL), NULL);
    snprintf(h->message, sizeof h->message, "%s", qmp_error_last()->message);
    return NULL;
}

/*
 * Two threads: while this thread drives the connection (waiting for a
 * command the server answers late), another one waits for its own reply.
 * Whatever fails in the driver, the other thread must get its answer or
 * an error, never wait on.
 */
static void seq_threads(void) {
    int fd;
    responder *p = start_responder(&fd, NULL);
    qmp_client *c = qmp_client_new();
    if (!step_ptr("qmp_client_new", c)) {
        close(fd);
        failmalloc_arm(0);
        responder_finish(p);
        return;
    }
    int go = step("qmp_client_connect_fd", qmp_client_connect_fd(c, fd, 10000), QMP_OK);
    if (go) {
        struct helper h = {c, 1, ""};
        pthread_t t;
        failmalloc_hold(1);
        if (pthread_create(&t, NULL, helper_main, &h) != 0) abort();
        failmalloc_hold(0);
        int rc = qmp_client_execute(c, qmp_command_new("slow", NULL), NULL);
        go = step("qmp_client_execute (while another thread waits)", rc, QMP_OK);
        failmalloc_hold(1);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 20;
        if (pthread_timedjoin_np(t, NULL, &until) != 0) {
            problem("the other thread is still waiting 20 s later");
            pthread_join(t, NULL);
        }
        failmalloc_hold(0);
        if (h.rc != QMP_OK && !(h.rc == QMP_ECLOSED && failmalloc_fired()) && !(h.rc == QMP_ENOMEM && failmalloc_fired()))
            problem("the other thread's call returned %s (%s)", status_text(h.rc), h.message);
        entry("qmp_client_execute (from another thread)");
    }
    if (!go) check_usable_or_closed(c);
    qmp_client_free(c); /* still armed: freeing must cope too */
    entry("qmp_client_free");
    failmalloc_arm(0);
    if (responder_finish(p)) problem("the server saw malformed commands");
}

/*
 * TCP.  The address is numeric: resolving a name goes through glibc's NSS,
 * which reports its own allocation failures as "Name or service not
 * known", beyond what libqmp can tell apart.
 */
static void seq_tcp(void) {
    int port = 0;
    failmalloc_hold(1);
    responder *p = responder_listen_tcp(&port, 1, NULL);
    failmalloc_hold(0);
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    qmp_client *c = qmp_client_new();
    if (!step_ptr("qmp_client_new", c)) {
        failmalloc_arm(0);
        responder_finish(p);
        return;
    }
    int go = step("qmp_client_connect_tcp", qmp_client_connect_tcp(c, "127.0.0.1", port_text, 10000), QMP_OK) &&
             step("qmp_client_execute (TCP)", qmp_client_execute(c, qmp_command_new("query-status", NULL), NULL), QMP_OK);
    if (!go && qmp_client_get_fd(c) >= 0) check_usable_or_closed(c);
    qmp_client_free(c); /* still armed: freeing must cope too */
    entry("qmp_client_free");
    failmalloc_arm(0);
    if (responder_finish(p)) problem("the server saw malformed commands");
}

/* The va_list twins, as a binding calls them. */
static json_t *command_via_newv(const char *name, ...) {
    va_list ap;
    va_start(ap, name);
    json_t *cmd = qmp_command_newv(name, ap);
    va_end(ap);
    return cmd;
}

static int args_via_addv(json_t *object, ...) {
    va_list ap;
    va_start(ap, object);
    int rc = qmp_args_addv(object, ap);
    va_end(ap);
    return rc;
}

static char replies_path[108];

/* The test server (qmp-mock.h): scripted from strings, trees and a .replies file, served to a client. */
static void seq_mock(void) {
    qmp_mock *m = qmp_mock_new();
    if (!step_ptr("qmp_mock_new", m)) return;
    qmp_client *c = NULL;
    json_t *args = NULL, *resp = NULL, *event = NULL;
    failmalloc_hold(1);
    args = json_pack("{s:s}", "command-line", "info status");
    resp = json_pack("{s:s}", "return", "ok");
    event = json_pack("{s:s}", "event", "STOP");
    failmalloc_hold(0);
    int go = step("qmp_mock_set_greeting_str",
                  qmp_mock_set_greeting_str(m, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "
                                               "\"major\": 7}, \"package\": \"\"}, \"capabilities\": []}}"), QMP_OK) &&
             step("qmp_mock_expect_str", qmp_mock_expect_str(m, "query-status", NULL, "{\"return\": {\"status\": \"running\"}}"),
                  QMP_OK) &&
             step("qmp_mock_event_str", qmp_mock_event_str(m, "{\"event\": \"RESUME\"}"), QMP_OK) &&
             step("qmp_mock_expect", qmp_mock_expect(m, "human-monitor-command", args, resp), QMP_OK) &&
             step("qmp_mock_event", qmp_mock_event(m, event), QMP_OK) &&
             step("qmp_mock_load_replies", qmp_mock_load_replies(m, replies_path), QMP_OK);
    int fd = -1;
    if (go) {
        fd = qmp_mock_socketpair(m);
        entry("qmp_mock_socketpair");
        if (fd < 0) {
            if (fd == QMP_ENOMEM) check_enomem("qmp_mock_socketpair");
            else problem("qmp_mock_socketpair: %s", status_text(fd));
            go = 0;
        }
    }
    if (go) {
        c = qmp_client_new();
        go = step_ptr("qmp_client_new", c);
        if (!go) close(fd);
    }
    if (go) {
        char *out = NULL;
        go = step("qmp_client_connect_fd (mock)", qmp_client_connect_fd(c, fd, 10000), QMP_OK) &&
             step("qmp_client_execute (mock)", qmp_client_execute(c, qmp_command_new("query-status", NULL), NULL), QMP_OK) &&
             step("qmp_client_hmp (mock)", qmp_client_hmp(c, "info status", &out), QMP_OK) &&
             step("qmp_client_execute (mock, from the .replies file)",
                  qmp_client_execute(c, qmp_command_new("query-name", NULL), NULL), QMP_OK) &&
             step("qmp_mock_verify", qmp_mock_verify(m, 10000), QMP_OK);
        qmp_free(out);
    }
    if (!go && c) check_usable_or_closed_mock(c);
    qmp_client_free(c); /* still armed */
    entry("qmp_client_free");
    qmp_mock_free(m);
    entry("qmp_mock_free");
    failmalloc_arm(0);
    json_decref(args);
    json_decref(resp);
    json_decref(event);
}

/* The builder and the JSON helpers, no client. */
static void seq_json(void) {
    json_t *cmd = NULL, *args = NULL, *act = NULL, *acts = NULL, *tx = NULL, *parsed = NULL, *u = NULL;
    char *text = NULL;
    int go = step_ptr("qmp_args_new", args = qmp_args_new("s:driver", "file", "s:filename", "/tmp/x", "B:read-only", 1, NULL));
    if (go) go = step("qmp_args_add", qmp_args_add(args, "U:size", 18446744073709551615ULL, "d:ratio", 0.5, "n:none", NULL), QMP_OK);
    if (go) {
        /* "a:" steals args exactly when it sets it to NULL (qmp-command.h). */
        go = step_ptr("qmp_command_new",
                      cmd = qmp_command_new("blockdev-add", "s:node-name", "n0", "I:max", 1LL << 40, "a:file", &args, NULL));
    }
    if (go) go = step("qmp_command_set_oob", qmp_command_set_oob(cmd), QMP_OK);
    if (go) go = step_ptr("qmp_transaction_action_new", act = qmp_transaction_action_new("block-dirty-bitmap-add", "s:node", "n0", "s:name", "b0", NULL));
    if (go) {
        acts = json_array();
        go = acts && json_array_append_new(acts, act) == 0;
        if (!go) json_decref(act); /* the test's own allocation failed */
        act = NULL;
    }
    if (go) {
        go = step_ptr("qmp_transaction_new", tx = qmp_transaction_new(acts, "grouped"));
        acts = NULL;
    }
    if (go) go = step_ptr("qmp_json_dumps", text = qmp_json_dumps(cmd));
    if (go) go = step_ptr("qmp_json_parse", parsed = qmp_json_parse(text, strlen(text)));
    if (go) {
        unsigned long long v = 0;
        json_t *size = json_object_get(json_object_get(json_object_get(parsed, "arguments"), "file"), "size");
        go = step("qmp_json_get_uint64", qmp_json_get_uint64(size, &v), QMP_OK);
        if (go && v != 18446744073709551615ULL) problem("uint64 round trip: %llu", v);
    }
    if (go) go = step_ptr("qmp_json_uint64", u = qmp_json_uint64(18446744073709551614ULL));
    if (go) go = step("qmp_add_secret_member", qmp_add_secret_member("oom-test-secret"), QMP_OK);
    if (go) {
        json_t *v = command_via_newv("query-block", "b:flat", 1, NULL);
        go = step_ptr("qmp_command_newv", v) && step("qmp_args_addv", args_via_addv(json_object_get(v, "arguments"), "s:x", "y", NULL), QMP_OK);
        json_decref(v);
    }
    json_decref(args);
    json_decref(cmd);
    json_decref(acts);
    json_decref(tx);
    json_decref(parsed);
    json_decref(u);
    qmp_free(text);
}

/* What the listings of a schema are without any failure (computed unarmed). */
struct schema_ref {
    char *list, *args, *desc;
};
static struct schema_ref ref_small, ref_72;

static char *dump(const json_t *v) { return v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL; }

/* A listing that was returned must be whole: the same as without the failure. */
static void check_same(const char *what, const json_t *v, const char *ref) {
    failmalloc_hold(1);
    char *text = dump(v);
    if (v && (!text || strcmp(text, ref))) problem("%s returned a tree that differs from the one without a failure", what);
    free(text);
    failmalloc_hold(0);
}

static void schema_reference(const char *schema_text, struct schema_ref *r) {
    qmp_schema *s = qmp_schema_new_str(schema_text, strlen(schema_text));
    json_t *l = qmp_schema_list(s, QMP_SCHEMA_COMMANDS), *a = qmp_schema_arguments(s, "human-monitor-command"),
           *d = qmp_schema_describe(s, "query-status");
    r->list = dump(l);
    r->args = dump(a);
    r->desc = dump(d);
    assert_non_null(r->list);
    assert_non_null(r->args);
    assert_non_null(r->desc);
    json_decref(l);
    json_decref(a);
    json_decref(d);
    qmp_schema_unref(s);
}

static void schema_reference_free(struct schema_ref *r) {
    free(r->list);
    free(r->args);
    free(r->desc);
}

/* A schema: loaded from text and from a tree, queried, listed, described, commands validated. */
static void schema_calls(const char *schema_text, const char *hmp_query, const struct schema_ref *ref) {
    qmp_schema *s = qmp_schema_new_str(schema_text, strlen(schema_text));
    if (!step_ptr("qmp_schema_new_str", s)) return;
    json_t *list = NULL, *args = NULL, *desc = NULL, *warnings = NULL, *cmd = NULL, *tree = NULL;
    qmp_schema *s2 = NULL;
    int go = step("qmp_schema_has", qmp_schema_has(s, hmp_query), 1) &&
             step("qmp_schema_has", qmp_schema_has(s, "no-such-command"), 0) &&
             step_ptr("qmp_schema_list", list = qmp_schema_list(s, QMP_SCHEMA_COMMANDS)) &&
             step_ptr("qmp_schema_arguments", args = qmp_schema_arguments(s, "human-monitor-command")) &&
             step_ptr("qmp_schema_describe", desc = qmp_schema_describe(s, "query-status"));
    check_same("qmp_schema_list", list, ref->list);
    check_same("qmp_schema_arguments", args, ref->args);
    check_same("qmp_schema_describe", desc, ref->desc);
    if (go) {
        cmd = qmp_command_new("human-monitor-command", "s:command-line", "info status", "s:cpu-index", "x", NULL);
        go = step_ptr("qmp_command_new", cmd) &&
             step("qmp_schema_validate", qmp_schema_validate(s, cmd, QMP_VALIDATE, &warnings), QMP_EINVAL);
        if (go && !strstr(qmp_error_last()->message, "cpu-index")) problem("validate: %s", qmp_error_last()->message);
    }
    if (go) {
        char *suggestion = NULL;
        go = step("qmp_schema_suggest", qmp_schema_suggest(s, "query-stauts", QMP_SCHEMA_COMMANDS, &suggestion), 1);
        if (go && (!suggestion || strcmp(suggestion, "query-status"))) problem("suggest: %s", suggestion ? suggestion : "NULL");
        qmp_free(suggestion);
    }
    if (go) {
        static const char status[] = "{\"status\": \"running\", \"running\": true, \"singlestep\": false}";
        json_t *v = NULL;
        char *w = NULL;
        failmalloc_hold(1);
        v = json_loads(status, 0, NULL);
        failmalloc_hold(0);
        go = step("qmp_schema_validate_value", qmp_schema_validate_value(s, "query-status/ret-type", v, QMP_VALIDATE, NULL), 0) &&
             step("qmp_schema_validate_value_str",
                  qmp_schema_validate_value_str(s, "query-status/ret-type", status, strlen(status), QMP_VALIDATE, &w), 0);
        json_decref(v);
        qmp_free(w);
    }
    if (go) {
        tree = json_loads("[{\"name\": \"x\", \"meta-type\": \"command\", \"arg-type\": \"0\", \"ret-type\": \"0\"},"
                          " {\"name\": \"0\", \"meta-type\": \"object\", \"members\": []}]", 0, NULL);
        if (tree) go = step_ptr("qmp_schema_new", s2 = qmp_schema_new(tree));
        else cur->enomem++, go = 0; /* the test's own allocation */
    }
    if (go) go = step("qmp_schema_has", qmp_schema_has(qmp_schema_ref(s2), "x"), 1), qmp_schema_unref(s2);
    json_decref(list);
    json_decref(args);
    json_decref(desc);
    json_decref(warnings);
    json_decref(cmd);
    json_decref(tree);
    qmp_schema_unref(s2);
    qmp_schema_unref(s);
}

static void seq_schema_small(void) { schema_calls(small_schema, "human-monitor-command/arg-type/cpu-index", &ref_small); }
static void seq_schema_72(void) { schema_calls(schema_72, "blockdev-add/arg-type/+file/filename", &ref_72); }

/* A client driven by a GMainContext: attach, a call, detach. */
static void seq_glib(void) {
    int fd;
    responder *p = start_responder(&fd, NULL);
    GMainContext *ctx = g_main_context_new();
    qmp_client *c = qmp_client_new();
    if (!step_ptr("qmp_client_new", c)) {
        close(fd);
        failmalloc_arm(0);
        responder_finish(p);
        g_main_context_unref(ctx);
        return;
    }
    int fd_given = 0;
    int go = step("qmp_client_attach", qmp_client_attach(c, ctx), QMP_OK);
    if (go) {
        fd_given = 1; /* qmp_client_connect_fd takes it, also on failure */
        go = step("qmp_client_connect_fd (attached)", qmp_client_connect_fd(c, fd, 10000), QMP_OK);
    }
    int connected = go;
    if (go) go = step("qmp_client_execute (attached)", qmp_client_execute(c, qmp_command_new("query-status", NULL), NULL), QMP_OK);
    if (!go && connected) check_usable_or_closed(c);
    qmp_client_detach(c); /* still armed */
    entry("qmp_client_detach");
    qmp_client_free(c);
    entry("qmp_client_free");
    failmalloc_arm(0);
    if (!fd_given) close(fd);
    if (responder_finish(p)) problem("the server saw malformed commands");
    g_main_context_unref(ctx);
}

/* --- the driver --------------------------------------------------------------------- */

struct job {
    void (*seq)(void);
    long n;
    struct run r;
};

static void *job_main(void *arg) {
    struct job *j = arg;
    cur = &j->r;
    failmalloc_arm(j->n);
    j->seq();
    j->r.fired = failmalloc_fired();
    j->r.seen = failmalloc_seen();
    failmalloc_arm(0);
    return NULL;
}

static void run_once(struct job *j) {
    pthread_t t;
    memset(&j->r, 0, sizeof j->r);
    assert_int_equal(pthread_create(&t, NULL, job_main, j), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
}

static int under_valgrind(void) {
    const char *v = getenv("LIBQMP_TEST_VALGRIND");
    return v && !strcmp(v, "1");
}

static long total_points, total_enomem;

/* Runs seq failing allocation 1, 1 + stride, ... until a run has nothing left to fail. */
static void exhaust(const char *name, void (*seq)(void), long stride) {
    struct job j;
    memset(&j, 0, sizeof j);
    j.seq = seq;
    long before = failmalloc_total();
    run_once(&j); /* unarmed: must pass as it is */
    if (j.r.problem[0]) fail_msg("%s without any failure: %s", name, j.r.problem);
    if (failmalloc_total() == before) fail_msg("%s: no allocation reached the interposer", name);
    long points = 0, enomem = 0, n;
    /* OOM_N=n tries that one failure point only (for debugging). */
    long only = getenv("OOM_N") ? atol(getenv("OOM_N")) : 0;
    for (n = only ? only : 1;; n += stride) {
        j.n = n;
        run_once(&j);
        if (j.r.problem[0]) fail_msg("%s, allocation %ld failing: %s", name, n, j.r.problem);
        if (!j.r.fired) break;
        points++;
        enomem += j.r.enomem;
        if (only) break;
    }
    if (points == 0) fail_msg("%s: no allocation was failed", name);
    if (enomem == 0) fail_msg("%s: no call reported QMP_ENOMEM", name);
    printf("# %s: %ld allocations, %ld failure points tried (every %ld%s), %ld QMP_ENOMEM reports\n", name, n - 1,
           points, stride, stride == 1 ? "" : under_valgrind() ? ", sampled under valgrind" : ", sampled", enomem);
    total_points += points;
    total_enomem += enomem;
}

static void test_sync(void **state) {
    (void)state;
    exhaust("sync client", seq_sync, 1);
}

static void test_async(void **state) {
    (void)state;
    exhaust("async client and loop", seq_async, 1);
}

static void test_json(void **state) {
    (void)state;
    exhaust("builder and JSON", seq_json, 1);
}

static void test_schema_small(void **state) {
    (void)state;
    schema_reference(small_schema, &ref_small);
    exhaust("schema (small)", seq_schema_small, 1);
}

static void test_schema_72(void **state) {
    (void)state;
    schema_reference(schema_72, &ref_72);
    exhaust("schema (QEMU 7.2)", seq_schema_72, under_valgrind() ? 1499 : 149);
}

static void test_unix(void **state) {
    (void)state;
    exhaust("Unix socket, settings, fds, async reconnect", seq_unix, 1);
}

static void test_tcp(void **state) {
    (void)state;
    exhaust("TCP", seq_tcp, 1);
}

static void test_mock(void **state) {
    (void)state;
    exhaust("the test server", seq_mock, 1);
}

static void test_threads(void **state) {
    (void)state;
    exhaust("a driver and a waiting thread", seq_threads, 1);
}

static void test_glib(void **state) {
    (void)state;
    exhaust("GLib attach", seq_glib, 1);
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
}

int main(void) {
    const char *data = getenv("LIBQMP_TEST_DATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/qemu-7.2/query-qmp-schema.json", data ? data : "tests/data");
    char *schema = read_file(path);
    if (!schema) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    schema_72 = schema;
    /* OOM_TEST=test_sync runs one sequence (for debugging). */
    if (getenv("OOM_TEST")) cmocka_set_test_filter(getenv("OOM_TEST"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_schema_small),
        cmocka_unit_test(test_schema_72),
        cmocka_unit_test(test_sync),
        cmocka_unit_test(test_async),
        cmocka_unit_test(test_unix),
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_mock),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_glib),
    };
    snprintf(unix_path, sizeof unix_path, "/tmp/libqmp-oom-%ld.sock", (long)getpid());
    snprintf(replies_path, sizeof replies_path, "/tmp/libqmp-oom-%ld.replies", (long)getpid());
    FILE *rf = fopen(replies_path, "w");
    if (!rf) return 1;
    fputs("{\n  \"execute\": \"query-name\",\n  \"id\": \"libvirt-1\"\n}\n\n"
          "{\n  \"return\": {\n    \"name\": \"oom\"\n  },\n  \"id\": \"libvirt-1\"\n}\n", rf);
    fclose(rf);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    printf("# %d entry points, %ld failure points tried, %ld QMP_ENOMEM reports\n", n_entry_points, total_points,
           total_enomem);
    unlink(unix_path);
    unlink(replies_path);
    schema_reference_free(&ref_small);
    schema_reference_free(&ref_72);
    free(schema);
    return rc;
}
