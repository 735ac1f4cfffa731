/*
 * qmp.i: the one SWIG interface of libqmp, shared by every language.
 *
 * The raw C API is not bindable as it is: it hands out jansson trees, keeps
 * the error in a per-thread qmp_error_last() that a Go call may read from
 * another OS thread, returns values through out-pointers and calls back into
 * the program.  What every language needs belongs in the public C API:
 * so far qmp-call.h (cancellable calls whose outcome stays with the
 * handle), bound as it is plus a few lines of glue.  The rest is a small
 * shim, "qmpb_", defined here, with these rules (bindings/README.md has
 * the list):
 *
 *   - JSON is text: every language parses and builds it with its own library.
 *   - Every call that can fail returns a new qmpb_result that carries the
 *     status and a copy of the error, read in the same C call that failed,
 *     plus what the call returns (JSON or HMP text, an event's seq).
 *   - No callback crosses the language boundary: a handler registered in C
 *     queues the events, and the language takes them with
 *     qmpb_client_next_event() / _poll_event() and dispatches them itself.
 *   - fds are an array of ints (a typemap per language: a Python sequence,
 *     a Ruby Array, a Go []int32); they stay the caller's.
 *   - A schema (qmp-schema.h) lives in a qmpb_schema holder that the
 *     language's object owns (SWIG's destructor frees it).
 *   - Blocking calls release the interpreter lock: Python through swig
 *     -threads, Ruby through rb_thread_call_without_gvl2() with
 *     qmp_call_cancel() of the call's handle as the unblocking function
 *     (the SWIGRUBY block below); Go needs nothing.
 *
 * The module name is the language's to choose: swig -module NAME.  A
 * language that needs its own typemaps or features writes a small .i that
 * sets them and then does %include "qmp.i" (run swig with -I<bindings>).
 */
%module libqmp

%{
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <qmp/qmp.h>

/* ---- results ------------------------------------------------------------ */

typedef struct qmpb_result {
    int code;                 /* QMP_OK (0) or a negative qmp_status */
    int sys_errno;            /* errno for QMP_EIO, else 0 */
    char *message;            /* the error message; NULL on success */
    char *error_class;        /* QMP_ECOMMAND: the server's class, e.g. "CommandNotFound" */
    char *error_desc;         /* QMP_ECOMMAND: the server's desc */
    char *text;               /* what the call returns: JSON text (HMP: plain text); may be NULL */
    char *name;               /* events: the event's name */
    unsigned long long seq;   /* events (queued or waited for): the event's sequence number */
} qmpb_result;

static void qmpb_result_free(qmpb_result *r)
{
    if (!r)
        return;
    free(r->message);
    free(r->error_class);
    free(r->error_desc);
    free(r->text);
    free(r->name);
    free(r);
}

static char *qmpb_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The result of status rc, with qmp_error_last() copied when rc < 0: call it
   right after the libqmp call, in the same thread.  NULL only without memory. */
static qmpb_result *qmpb_result_of(int rc)
{
    qmpb_result *r = (qmpb_result *)calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->code = rc;
    if (rc < 0) {
        const qmp_error *e = qmp_error_last();
        r->sys_errno = e->sys_errno;
        r->message = qmpb_strdup(e->message && *e->message ? e->message : qmp_strerror(rc));
        r->error_class = qmpb_strdup(e->qmp_class);
        r->error_desc = qmpb_strdup(e->qmp_desc);
    }
    return r;
}

/* Takes text (qmp_free()-able, may be NULL) into the result. */
static qmpb_result *qmpb_result_with_text(int rc, char *text)
{
    qmpb_result *r = qmpb_result_of(rc);
    if (r && text)
        r->text = strdup(text);
    qmp_free(text);
    return r;
}

/* A result that the shim itself fails with (no libqmp call behind it). */
static qmpb_result *qmpb_result_error(int code, const char *message)
{
    qmpb_result *r = (qmpb_result *)calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->code = code;
    r->message = strdup(message);
    return r;
}

/* ---- blocking calls ----------------------------------------------------- */

/* A language whose interpreter lock SWIG does not release by itself sets
   this to run fn(arg) without the lock (Ruby: rb_thread_call_without_gvl2,
   whose unblocking function cancels call when there is one).  fn touches C
   data only, and makes its waits as calls on the handle call (NULL: none).
   A hook may skip fn (Ruby: while an interrupt flag is up); it then
   cancels call, so that the call's outcome says so. */
typedef void (*qmpb_blocking_fn)(qmp_call *call, void *(*fn)(void *), void *arg);
static qmpb_blocking_fn qmpb_blocking_hook;

/* Runs fn(arg) through the hook, if the language set one. */
static void qmpb_blocking(qmp_call *call, void *(*fn)(void *), void *arg)
{
    if (qmpb_blocking_hook)
        qmpb_blocking_hook(call, fn, arg);
    else
        fn(arg);
}

struct qmpb_in_call {
    qmp_call *call;
    void *(*fn)(void *);
    void *arg;
    int ran;
};

static int qmpb_in_call_fn(qmp_client *c, void *p)
{
    (void)c;
    struct qmpb_in_call *s = (struct qmpb_in_call *)p;
    s->ran = 1;
    s->fn(s->arg);
    return 0;
}

static void *qmpb_in_call_run(void *p)
{
    struct qmpb_in_call *s = (struct qmpb_in_call *)p;
    qmp_call_run(s->call, qmpb_in_call_fn, s);
    return NULL;
}

/* Runs fn(arg), a blocking call on call's client, as a call on the handle
   call (NULL: none) with qmp_call_run(): cancelling the handle ends every
   wait fn makes.  Returns NULL when fn ran (it stores its own result), else
   the error that kept it from running (the handle was already cancelled). */
static qmpb_result *qmpb_run_blocking(qmp_call *call, void *(*fn)(void *), void *arg)
{
    struct qmpb_in_call s = { call, fn, arg, 0 };
    void *(*run)(void *) = call ? qmpb_in_call_run : fn;
    qmpb_blocking(call, run, call ? (void *)&s : arg);
    if (!call || s.ran)
        return NULL;
    const qmp_error *e = qmp_call_error(call);
    return qmpb_result_error(QMP_ECANCELLED, e->code == QMP_ECANCELLED ? e->message : "the call was cancelled");
}

/* ---- the client and its event queue -------------------------------------- */

typedef struct qmpb_event {
    struct qmpb_event *next;
    unsigned long long seq;
    char *name;
    char *text;
} qmpb_event;

typedef struct qmpb_client {
    qmp_client *c;
    pthread_mutex_t mu;
    pthread_cond_t cv;                /* an event was queued, or the connection closed */
    qmpb_event *head, *tail;
    size_t queued, max_queued;        /* max_queued 0: no queue */
    unsigned long long dropped;       /* events dropped because the queue was full */
    unsigned long long seen_seq;      /* newest seq the queue has seen (or skipped) */
    unsigned int handler_id;
    unsigned long long closes;        /* how many times the connection closed */
    int close_reason;                 /* the last close's reason (qmp_close_fn) */
    unsigned long long event_gen;     /* counts every event (any handler's or none) */
    int default_timeout_ms;           /* what qmpb_client_set_timeout set (30000 at first) */
} qmpb_client;

static void qmpb_event_free(qmpb_event *e)
{
    if (!e)
        return;
    free(e->name);
    free(e->text);
    free(e);
}

/* The handler behind the queue: runs in whatever thread drives the client. */
static void qmpb_on_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)c;
    qmpb_client *b = (qmpb_client *)user_data;
    qmpb_event *e = (qmpb_event *)calloc(1, sizeof *e);
    if (e) {
        e->seq = qmp_event_seq(ev);
        e->name = qmpb_strdup(qmp_event_name(ev));
        e->text = qmp_event_to_json(ev);
        if (!e->name || !e->text) {
            qmp_free(e->text);
            e->text = NULL;
            qmpb_event_free(e);
            e = NULL;
        } else {
            /* e->text came from the library: keep one allocator per pointer. */
            char *copy = strdup(e->text);
            qmp_free(e->text);
            e->text = copy;
            if (!copy) {
                qmpb_event_free(e);
                e = NULL;
            }
        }
    }
    pthread_mutex_lock(&b->mu);
    unsigned long long seq = qmp_event_seq(ev);
    if (seq > b->seen_seq)
        b->seen_seq = seq;
    if (b->max_queued == 0) {
        qmpb_event_free(e);
    } else if (!e) {
        b->dropped++;         /* out of memory */
    } else {
        if (b->queued >= b->max_queued) {
            qmpb_event *old = b->head;
            b->head = old->next;
            if (!b->head)
                b->tail = NULL;
            b->queued--;
            b->dropped++;
            qmpb_event_free(old);
        }
        if (b->tail)
            b->tail->next = e;
        else
            b->head = e;
        b->tail = e;
        b->queued++;
    }
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void qmpb_on_close(qmp_client *c, int reason, void *user_data)
{
    (void)c;
    qmpb_client *b = (qmpb_client *)user_data;
    pthread_mutex_lock(&b->mu);
    b->closes++;
    b->close_reason = reason;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* Every event: counted, so that a wait for an event in the ring (by
   sequence number) knows when to look again. */
static void qmpb_count_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)c;
    (void)ev;
    qmpb_client *b = (qmpb_client *)user_data;
    pthread_mutex_lock(&b->mu);
    b->event_gen++;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static qmpb_client *qmpb_client_new(void)
{
    qmpb_client *b = (qmpb_client *)calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->c = qmp_client_new();
    if (!b->c) {
        free(b);
        return NULL;
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    b->default_timeout_ms = 30000;
    qmp_client_on_close(b->c, qmpb_on_close, b, NULL);
    if (qmp_client_on_event(b->c, NULL, qmpb_count_event, b, NULL, NULL) < 0) {
        qmp_client_free(b->c);
        pthread_cond_destroy(&b->cv);
        pthread_mutex_destroy(&b->mu);
        free(b);
        return NULL;
    }
    return b;
}

static void qmpb_client_free(qmpb_client *b)
{
    if (!b)
        return;
    qmp_client_free(b->c);   /* runs no handler after this */
    qmpb_event *e = b->head;
    while (e) {
        qmpb_event *next = e->next;
        qmpb_event_free(e);
        e = next;
    }
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

#define QMPB_CHECK(b) \
    do { if (!(b)) return qmpb_result_error(QMP_EINVAL, "no client (NULL)"); } while (0)

/* ---- settings ------------------------------------------------------------ */

static qmpb_result *qmpb_client_set_timeout(qmpb_client *b, int timeout_ms)
{
    QMPB_CHECK(b);
    int rc = qmp_client_set_timeout(b->c, timeout_ms);
    if (rc == QMP_OK) {
        pthread_mutex_lock(&b->mu);
        b->default_timeout_ms = timeout_ms;
        pthread_mutex_unlock(&b->mu);
    }
    return qmpb_result_of(rc);
}

static qmpb_result *qmpb_client_set_oob(qmpb_client *b, int enable)
{
    QMPB_CHECK(b);
    return qmpb_result_of(qmp_client_set_oob(b->c, enable));
}

static qmpb_result *qmpb_client_set_max_message_size(qmpb_client *b, unsigned long long bytes)
{
    QMPB_CHECK(b);
    return qmpb_result_of(qmp_client_set_max_message_size(b->c, (size_t)bytes));
}

static qmpb_result *qmpb_client_set_event_buffer(qmpb_client *b, unsigned long long max_events)
{
    QMPB_CHECK(b);
    return qmpb_result_of(qmp_client_set_event_buffer(b->c, (size_t)max_events));
}

static qmpb_result *qmpb_add_secret_member(const char *name)
{
    return qmpb_result_of(qmp_add_secret_member(name));
}

/* ---- connecting ---------------------------------------------------------- */

struct qmpb_connect_args {
    qmpb_client *b;
    qmp_call *call;
    int kind;                 /* 0 unix, 1 tcp, 2 fd, 3 guest agent (unix) */
    const char *path, *host, *port;
    int fd, timeout_ms;
    qmpb_result *r;
};

static void *qmpb_connect_run(void *p)
{
    struct qmpb_connect_args *a = (struct qmpb_connect_args *)p;
    int rc;
    if (a->kind == 0)
        rc = qmp_client_connect_unix(a->b->c, a->path, a->timeout_ms);
    else if (a->kind == 3)
        rc = qmp_client_connect_agent_unix(a->b->c, a->path, a->timeout_ms);
    else if (a->kind == 1)
        rc = qmp_client_connect_tcp(a->b->c, a->host, a->port, a->timeout_ms);
    else {
        rc = qmp_client_connect_fd(a->b->c, a->fd, a->timeout_ms);
        a->fd = -1;           /* taken, also on failure */
    }
    a->r = qmpb_result_of(rc);
    return NULL;
}

static qmpb_result *qmpb_connect(struct qmpb_connect_args *a)
{
    qmpb_result *refused = qmpb_run_blocking(a->call, qmpb_connect_run, a);
    if (refused && a->kind == 2 && a->fd >= 0)
        close(a->fd);         /* never handed to libqmp, which would have taken it */
    return refused ? refused : a->r;
}

static qmpb_result *qmpb_client_connect_unix(qmpb_client *b, qmp_call *call, const char *path, int timeout_ms)
{
    QMPB_CHECK(b);
    struct qmpb_connect_args a = { b, call, 0, path, NULL, NULL, -1, timeout_ms, NULL };
    return qmpb_connect(&a);
}

static qmpb_result *qmpb_client_connect_tcp(qmpb_client *b, qmp_call *call, const char *host, const char *port,
                                            int timeout_ms)
{
    QMPB_CHECK(b);
    struct qmpb_connect_args a = { b, call, 1, NULL, host, port, -1, timeout_ms, NULL };
    return qmpb_connect(&a);
}

static qmpb_result *qmpb_client_connect_fd(qmpb_client *b, qmp_call *call, int fd, int timeout_ms)
{
    QMPB_CHECK(b);
    struct qmpb_connect_args a = { b, call, 2, NULL, NULL, NULL, fd, timeout_ms, NULL };
    return qmpb_connect(&a);
}

static qmpb_result *qmpb_client_connect_agent_unix(qmpb_client *b, qmp_call *call, const char *path, int timeout_ms)
{
    QMPB_CHECK(b);
    struct qmpb_connect_args a = { b, call, 3, path, NULL, NULL, -1, timeout_ms, NULL };
    return qmpb_connect(&a);
}

static int qmpb_client_is_agent(qmpb_client *b) { return b ? qmp_client_is_agent(b->c) : 0; }

/* ---- the guest agent's helpers -------------------------------------------- */

/* Bytes cross the shim as lowercase hex text (every language decodes it in
   one call), so NUL bytes survive the char * of SWIG. */
static char *qmpb_hex_encode(const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = (char *)malloc(2 * n + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[2 * n] = '\0';
    return s;
}

static int qmpb_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 0 and *out (malloc'd, may be NULL when empty) on success; -1 on odd length
   or a non-hex digit; -2 when out of memory. */
static int qmpb_hex_decode(const char *s, unsigned char **out, size_t *len)
{
    size_t n = s ? strlen(s) : 0;
    *out = NULL;
    *len = 0;
    if (n % 2)
        return -1;
    if (n == 0)
        return 0;
    unsigned char *p = (unsigned char *)malloc(n / 2);
    if (!p)
        return -2;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = qmpb_hex_digit(s[2 * i]), lo = qmpb_hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(p);
            return -1;
        }
        p[i] = (unsigned char)(hi << 4 | lo);
    }
    *out = p;
    *len = n / 2;
    return 0;
}

static qmpb_result *qmpb_hex_error(int rc, const char *what)
{
    if (rc == -2)
        return qmpb_result_error(QMP_ENOMEM, "out of memory");
    char msg[128];
    snprintf(msg, sizeof msg, "%s: not an even-length hex string", what);
    return qmpb_result_error(QMP_EINVAL, msg);
}

/* A JSON array of strings (text) as a NULL-terminated vector pointing into
   *holder; NULL or empty text (Go passes "" for none) gives *out NULL.
   NULL result: ok; else the error. */
static qmpb_result *qmpb_strv_of_json(const char *text, const char *what, json_t **holder, const char ***out)
{
    *holder = NULL;
    *out = NULL;
    if (!text || !*text)
        return NULL;
    char msg[160];
    json_error_t jerr;
    json_t *a = json_loads(text, 0, &jerr);
    if (!a || !json_is_array(a)) {
        json_decref(a);
        snprintf(msg, sizeof msg, "%s: not a JSON array of strings", what);
        return qmpb_result_error(QMP_EINVAL, msg);
    }
    size_t n = json_array_size(a);
    const char **v = (const char **)calloc(n + 1, sizeof *v);
    if (!v) {
        json_decref(a);
        return qmpb_result_error(QMP_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        v[i] = json_string_value(json_array_get(a, i));
        if (!v[i]) {
            snprintf(msg, sizeof msg, "%s: element %zu is not a string", what, i);
            free(v);
            json_decref(a);
            return qmpb_result_error(QMP_EINVAL, msg);
        }
    }
    *holder = a;
    *out = v;
    return NULL;
}

struct qmpb_agent_args {
    qmpb_client *b;
    qmp_call *call;
    int kind;                 /* 0 ping, 1 commands, 2 exec, 3 file read, 4 file write */
    int timeout_ms;
    const char *path;
    const char *const *argv, *const *env;
    const unsigned char *data;
    size_t data_len, max_bytes;
    qmpb_result *r;
};

/* The exec result as JSON: pid, exit_code, signal, out/err (hex), out_truncated, err_truncated. */
static char *qmpb_exec_json(const qmp_agent_exec_result *x)
{
    char *out = qmpb_hex_encode(x->out, x->out_len), *err = qmpb_hex_encode(x->err, x->err_len);
    json_t *o = out && err ? json_pack("{sIsisisssssbsb}", "pid", (json_int_t)x->pid, "exit_code", x->exit_code,
                                       "signal", x->signal, "out", out, "err", err,
                                       "out_truncated", x->out_truncated, "err_truncated", x->err_truncated)
                           : NULL;
    free(out);
    free(err);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

static void *qmpb_agent_run(void *p)
{
    struct qmpb_agent_args *a = (struct qmpb_agent_args *)p;
    qmp_client *c = a->b->c;
    int rc;
    char *text = NULL;
    switch (a->kind) {
    case 0:
        rc = qmp_agent_ping(c, a->timeout_ms);
        a->r = qmpb_result_of(rc);
        return NULL;
    case 1: {
        char **names = NULL, *version = NULL;
        rc = qmp_agent_commands(c, &names, &version);
        if (rc == QMP_OK) {
            json_t *list = json_array();
            for (size_t i = 0; list && names && names[i]; i++)
                if (json_array_append_new(list, json_string(names[i])) < 0) {
                    json_decref(list);
                    list = NULL;
                }
            json_t *o = list ? json_pack("{sssO}", "version", version ? version : "", "commands", list) : NULL;
            json_decref(list);
            text = o ? json_dumps(o, JSON_COMPACT) : NULL;
            json_decref(o);
        }
        qmp_agent_strv_free(names);
        qmp_free(version);
        break;
    }
    case 2: {
        qmp_agent_exec_result x;
        memset(&x, 0, sizeof x);
        rc = qmp_agent_exec(c, a->argv, a->env, a->data, a->data_len, a->timeout_ms, &x);
        if (rc == QMP_OK)
            text = qmpb_exec_json(&x);
        qmp_agent_exec_result_clear(&x);
        break;
    }
    case 3: {
        void *data = NULL;
        size_t len = 0;
        rc = qmp_agent_file_read(c, a->path, a->max_bytes, &data, &len);
        if (rc == QMP_OK)
            text = qmpb_hex_encode((const unsigned char *)data, len);
        qmp_free(data);
        break;
    }
    default:
        rc = qmp_agent_file_write(c, a->path, a->data, a->data_len);
        a->r = qmpb_result_of(rc);
        return NULL;
    }
    if (rc == QMP_OK && !text) {
        a->r = qmpb_result_error(QMP_ENOMEM, "out of memory");
        return NULL;
    }
    a->r = qmpb_result_of(rc);
    if (a->r && text) {
        a->r->text = text;
        text = NULL;
    }
    free(text);
    return NULL;
}

static qmpb_result *qmpb_agent(struct qmpb_agent_args *a)
{
    qmpb_result *refused = qmpb_run_blocking(a->call, qmpb_agent_run, a);
    return refused ? refused : a->r;
}

static qmpb_result *qmpb_agent_ping(qmpb_client *b, qmp_call *call, int timeout_ms)
{
    QMPB_CHECK(b);
    struct qmpb_agent_args a;
    memset(&a, 0, sizeof a);
    a.b = b;
    a.call = call;
    a.kind = 0;
    a.timeout_ms = timeout_ms;
    return qmpb_agent(&a);
}

static qmpb_result *qmpb_agent_commands(qmpb_client *b, qmp_call *call)
{
    QMPB_CHECK(b);
    struct qmpb_agent_args a;
    memset(&a, 0, sizeof a);
    a.b = b;
    a.call = call;
    a.kind = 1;
    return qmpb_agent(&a);
}

static qmpb_result *qmpb_agent_exec(qmpb_client *b, qmp_call *call, const char *argv_json, const char *env_json,
                                    const char *input_hex, int timeout_ms)
{
    QMPB_CHECK(b);
    if (!argv_json)
        return qmpb_result_error(QMP_EINVAL, "argv: missing");
    json_t *argv_holder, *env_holder;
    const char **argv, **env;
    qmpb_result *bad = qmpb_strv_of_json(argv_json, "argv", &argv_holder, &argv);
    if (bad)
        return bad;
    bad = qmpb_strv_of_json(env_json, "env", &env_holder, &env);
    if (bad) {
        free(argv);
        json_decref(argv_holder);
        return bad;
    }
    unsigned char *input = NULL;
    size_t input_len = 0;
    int hx = input_hex ? qmpb_hex_decode(input_hex, &input, &input_len) : 0;
    qmpb_result *r;
    if (hx < 0) {
        r = qmpb_hex_error(hx, "input");
    } else {
        struct qmpb_agent_args a;
        memset(&a, 0, sizeof a);
        a.b = b;
        a.call = call;
        a.kind = 2;
        a.timeout_ms = timeout_ms;
        a.argv = argv;
        a.env = env;
        a.data = input;
        a.data_len = input_len;
        r = qmpb_agent(&a);
    }
    free(input);
    free(argv);
    free(env);
    json_decref(argv_holder);
    json_decref(env_holder);
    return r;
}

static qmpb_result *qmpb_agent_file_read(qmpb_client *b, qmp_call *call, const char *path, unsigned long long max_bytes)
{
    QMPB_CHECK(b);
    struct qmpb_agent_args a;
    memset(&a, 0, sizeof a);
    a.b = b;
    a.call = call;
    a.kind = 3;
    a.path = path;
    a.max_bytes = (size_t)max_bytes;
    return qmpb_agent(&a);
}

static qmpb_result *qmpb_agent_file_write(qmpb_client *b, qmp_call *call, const char *path, const char *data_hex)
{
    QMPB_CHECK(b);
    unsigned char *data = NULL;
    size_t len = 0;
    int hx = qmpb_hex_decode(data_hex, &data, &len);
    if (hx < 0)
        return qmpb_hex_error(hx, "data");
    struct qmpb_agent_args a;
    memset(&a, 0, sizeof a);
    a.b = b;
    a.call = call;
    a.kind = 4;
    a.path = path;
    a.data = data;
    a.data_len = len;
    qmpb_result *r = qmpb_agent(&a);
    free(data);
    return r;
}

static qmpb_result *qmpb_client_close(qmpb_client *b)
{
    QMPB_CHECK(b);
    return qmpb_result_of(qmp_client_close(b->c));
}

static int qmpb_client_is_connected(qmpb_client *b) { return b ? qmp_client_is_connected(b->c) : 0; }

static int qmpb_client_has_capability(qmpb_client *b, const char *capability)
{
    return b && capability ? qmp_client_has_capability(b->c, capability) : 0;
}

static qmpb_result *qmpb_client_greeting(qmpb_client *b)
{
    QMPB_CHECK(b);
    const json_t *g = qmp_client_greeting(b->c);
    if (!g)
        return qmpb_result_error(QMP_ECLOSED, "not connected");
    char *text = qmp_json_dumps(g);
    if (!text)
        return qmpb_result_of(QMP_ENOMEM);
    return qmpb_result_with_text(QMP_OK, text);
}

static int qmpb_client_get_fd(qmpb_client *b) { return b ? qmp_client_get_fd(b->c) : -1; }

static int qmpb_client_close_reason(qmpb_client *b)
{
    if (!b)
        return QMP_EINVAL;
    pthread_mutex_lock(&b->mu);
    int reason = b->close_reason;
    pthread_mutex_unlock(&b->mu);
    return reason;
}

/* ---- executing ----------------------------------------------------------- */

/* ---- events -------------------------------------------------------------- */

static unsigned long long qmpb_client_event_seq(qmpb_client *b)
{
    return b ? qmp_client_event_seq(b->c) : 0;
}

static unsigned long long qmpb_client_events_dropped(qmpb_client *b)
{
    if (!b)
        return 0;
    pthread_mutex_lock(&b->mu);
    unsigned long long n = b->dropped;
    pthread_mutex_unlock(&b->mu);
    return n;
}

static unsigned long long qmpb_client_events_queued(qmpb_client *b)
{
    if (!b)
        return 0;
    pthread_mutex_lock(&b->mu);
    unsigned long long n = b->queued;
    pthread_mutex_unlock(&b->mu);
    return n;
}

static qmpb_result *qmpb_client_queue_events(qmpb_client *b, unsigned long long max_events)
{
    QMPB_CHECK(b);
    pthread_mutex_lock(&b->mu);
    int registered = b->handler_id != 0;
    b->max_queued = (size_t)max_events;
    if (max_events == 0) {
        /* Off: forget what is queued. */
        while (b->head) {
            qmpb_event *e = b->head;
            b->head = e->next;
            qmpb_event_free(e);
        }
        b->tail = NULL;
        b->queued = 0;
    }
    while (b->queued > b->max_queued) {
        qmpb_event *e = b->head;
        b->head = e->next;
        if (!b->head)
            b->tail = NULL;
        b->queued--;
        b->dropped++;
        qmpb_event_free(e);
    }
    pthread_mutex_unlock(&b->mu);
    if (max_events == 0 || registered)
        return qmpb_result_of(QMP_OK);
    unsigned int id = 0;
    int rc = qmp_client_on_event(b->c, NULL, qmpb_on_event, b, NULL, &id);
    if (rc < 0)
        return qmpb_result_of(rc);
    /* Events in the ring from before the handler are not queued: skip them. */
    unsigned long long seq = qmp_client_event_seq(b->c);
    pthread_mutex_lock(&b->mu);
    b->handler_id = id;
    if (seq > b->seen_seq)
        b->seen_seq = seq;
    pthread_mutex_unlock(&b->mu);
    return qmpb_result_of(QMP_OK);
}

/* Pops the oldest queued event into a result; NULL when the queue is empty.  Holds b->mu. */
static qmpb_result *qmpb_pop_locked(qmpb_client *b, int *nomem)
{
    qmpb_event *e = b->head;
    *nomem = 0;
    if (!e)
        return NULL;
    qmpb_result *r = qmpb_result_of(QMP_OK);
    if (!r) {
        *nomem = 1;
        return NULL;
    }
    b->head = e->next;
    if (!b->head)
        b->tail = NULL;
    b->queued--;
    r->seq = e->seq;
    r->name = e->name;
    r->text = e->text;
    free(e);
    return r;
}

static long long qmpb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Processes input that is readable now, without blocking; then pops one event. */
static qmpb_result *qmpb_client_poll_event(qmpb_client *b)
{
    QMPB_CHECK(b);
    int nomem;
    pthread_mutex_lock(&b->mu);
    qmpb_result *r = qmpb_pop_locked(b, &nomem);
    pthread_mutex_unlock(&b->mu);
    if (r || nomem)
        return r;
    int rc = qmp_client_process(b->c, QMP_POLL_IN);
    pthread_mutex_lock(&b->mu);
    r = qmpb_pop_locked(b, &nomem);
    pthread_mutex_unlock(&b->mu);
    if (r || nomem)
        return r;
    return qmpb_result_of(rc == QMP_ECLOSED ? rc : QMP_OK);
}

struct qmpb_next_args {
    qmpb_client *b;
    int timeout_ms;
    qmpb_result *r;
};

static void *qmpb_next_run(void *p)
{
    struct qmpb_next_args *a = (struct qmpb_next_args *)p;
    qmpb_client *b = a->b;
    int nomem;
    long long deadline = a->timeout_ms > 0 ? qmpb_now_ms() + a->timeout_ms : -1;
    for (;;) {
        pthread_mutex_lock(&b->mu);
        qmpb_result *r = qmpb_pop_locked(b, &nomem);
        unsigned long long after = b->seen_seq;
        int queueing = b->max_queued > 0;
        pthread_mutex_unlock(&b->mu);
        if (r || nomem) {
            a->r = r;
            return NULL;
        }
        if (!queueing) {
            a->r = qmpb_result_error(QMP_EINVAL, "events are not queued: call queue_events first");
            return NULL;
        }
        int remaining = a->timeout_ms;
        if (deadline >= 0) {
            long long left = deadline - qmpb_now_ms();
            if (left <= 0) {
                a->r = qmpb_result_error(QMP_ETIMEDOUT, "no event within the timeout");
                return NULL;
            }
            remaining = (int)left;
        }
        /* Drives the connection (or waits for its driver) until an event
           newer than the queue's newest exists; the handler queues it. */
        int rc = qmp_client_wait_event_str(b->c, NULL, NULL, after, remaining, NULL);
        if (rc < 0) {
            pthread_mutex_lock(&b->mu);
            r = qmpb_pop_locked(b, &nomem);
            pthread_mutex_unlock(&b->mu);
            a->r = r || nomem ? r : qmpb_result_of(rc);
            return NULL;
        }
        /* Another thread may be the driver and run the handler a moment
           after waking us: wait for it, a slice at a time. */
        pthread_mutex_lock(&b->mu);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 100 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!b->head && b->seen_seq <= after) {
            if (pthread_cond_timedwait(&b->cv, &b->mu, &until) == ETIMEDOUT)
                break;
        }
        if (!b->head && b->seen_seq <= after) {
            /* An event the handler will never see (it came before the
               queue started): do not wait for it again. */
            unsigned long long seq = qmp_client_event_seq(b->c);
            if (seq > b->seen_seq)
                b->seen_seq = seq;
        }
        pthread_mutex_unlock(&b->mu);
    }
}

static qmpb_result *qmpb_client_next_event(qmpb_client *b, qmp_call *call, int timeout_ms)
{
    QMPB_CHECK(b);
    struct qmpb_next_args a = { b, timeout_ms, NULL };
    qmpb_result *refused = qmpb_run_blocking(call, qmpb_next_run, &a);
    return refused ? refused : a.r;
}

/* ---- the schema (qmp-schema.h) -------------------------------------------- */

/* A holder of one qmp_schema reference.  The language creates an empty one
   (qmpb_schema_new), fills it (qmpb_client_get_schema, qmpb_schema_load),
   may drop the reference early (qmpb_schema_release: close) and lets its
   object lifecycle free the holder (the SWIG destructor, which also drops
   the reference if still held).  Every call takes its own reference under
   the lock, so a release in another thread never frees a schema in use. */
typedef struct qmpb_schema {
    pthread_mutex_t mu;
    qmp_schema *s;            /* NULL: empty, or released */
    int released;
    long long accounted;      /* bytes reported to qmpb_schema_memory_hook for s */
} qmpb_schema;

/* A language whose garbage collector should know the C memory a holder
   keeps (Ruby: rb_gc_adjust_memory_usage) sets this: it is called with
   +QMPB_SCHEMA_BYTES when a parsed schema fills a holder and with the
   opposite when the holder drops it (release or free).  Called only where
   the language's lock is held (never inside qmpb_run_blocking), outside
   the holder's lock.  A schema from qmpb_client_get_schema is not counted:
   it is the connection's, which the client keeps while connected. */
typedef void (*qmpb_memory_fn)(long long delta);
static qmpb_memory_fn qmpb_schema_memory_hook;

/* The memory of one parsed QEMU 7.2 schema (tests/data/qemu-7.2): 639 KiB
   in use per schema by malloc's count (mallinfo2 over 200 parses held at
   once), 637 KiB of RSS each over 1,000. */
#define QMPB_SCHEMA_BYTES (640LL * 1024)

/* Drops what h reported; h's lock is not held. */
static void qmpb_schema_unaccount(qmpb_schema *h)
{
    pthread_mutex_lock(&h->mu);
    long long n = h->accounted;
    h->accounted = 0;
    pthread_mutex_unlock(&h->mu);
    if (n && qmpb_schema_memory_hook)
        qmpb_schema_memory_hook(-n);
}

static qmpb_schema *qmpb_schema_new(void)
{
    qmpb_schema *h = (qmpb_schema *)calloc(1, sizeof *h);
    if (h)
        pthread_mutex_init(&h->mu, NULL);
    return h;
}

static void qmpb_schema_release(qmpb_schema *h)
{
    if (!h)
        return;
    qmpb_schema_unaccount(h);
    pthread_mutex_lock(&h->mu);
    qmp_schema *s = h->s;
    h->s = NULL;
    h->released = 1;
    pthread_mutex_unlock(&h->mu);
    qmp_schema_unref(s);
}

static void qmpb_schema_free(qmpb_schema *h)
{
    if (!h)
        return;
    qmpb_schema_unaccount(h);
    qmp_schema_unref(h->s);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* Puts s (a new reference, taken) into the empty holder h. */
static qmpb_result *qmpb_schema_fill(qmpb_schema *h, qmp_schema *s)
{
    pthread_mutex_lock(&h->mu);
    int busy = h->s != NULL || h->released;
    if (!busy)
        h->s = s;
    pthread_mutex_unlock(&h->mu);
    if (busy) {
        qmp_schema_unref(s);
        return qmpb_result_error(QMP_EINVAL, "the schema holder is not empty");
    }
    return qmpb_result_of(QMP_OK);
}

/* A new reference to h's schema, or NULL with *err set. */
static qmp_schema *qmpb_schema_take(qmpb_schema *h, qmpb_result **err)
{
    if (!h) {
        *err = qmpb_result_error(QMP_EINVAL, "no schema (NULL)");
        return NULL;
    }
    pthread_mutex_lock(&h->mu);
    qmp_schema *s = qmp_schema_ref(h->s);
    int released = h->released;
    pthread_mutex_unlock(&h->mu);
    if (!s)
        *err = qmpb_result_error(QMP_EINVAL, released ? "the schema is closed" : "no schema loaded");
    return s;
}

static int qmpb_schema_loaded(qmpb_schema *h)
{
    if (!h)
        return 0;
    pthread_mutex_lock(&h->mu);
    int loaded = h->s != NULL;
    pthread_mutex_unlock(&h->mu);
    return loaded;
}

/* From JSON text: query-qmp-schema's return value, or a whole reply {"return": [...]}. */
static qmpb_result *qmpb_schema_load(qmpb_schema *h, const char *json)
{
    if (!h)
        return qmpb_result_error(QMP_EINVAL, "no schema (NULL)");
    if (!json)
        return qmpb_result_error(QMP_EINVAL, "the schema text is NULL");
    qmp_schema *s = qmp_schema_new_str(json, strlen(json));
    if (!s)
        return qmpb_result_of(QMP_EINVAL);
    qmpb_result *r = qmpb_schema_fill(h, s);
    if (r && r->code == QMP_OK) {
        /* The holder owns this schema: count it (once; a release in
           another thread since the fill has counted nothing). */
        pthread_mutex_lock(&h->mu);
        int count = h->s == s && !h->accounted;
        if (count)
            h->accounted = QMPB_SCHEMA_BYTES;
        pthread_mutex_unlock(&h->mu);
        if (count && qmpb_schema_memory_hook)
            qmpb_schema_memory_hook(QMPB_SCHEMA_BYTES);
    }
    return r;
}

/* A result whose text is the JSON of value (taken; NULL: the status of the
   call that failed to make it, read from qmp_error_last()). */
static qmpb_result *qmpb_result_with_json(json_t *value)
{
    if (!value) {
        const qmp_error *e = qmp_error_last();
        return qmpb_result_of(e->code < 0 ? e->code : QMP_ENOMEM);
    }
    char *text = qmp_json_dumps(value);
    json_decref(value);
    if (!text)
        return qmpb_result_of(QMP_ENOMEM);
    return qmpb_result_with_text(QMP_OK, text);
}

/* has: text "true" or "false"; code QMP_EINVAL for a malformed query. */
static qmpb_result *qmpb_result_of_has(int rc)
{
    qmpb_result *r = qmpb_result_of(rc < 0 ? rc : QMP_OK);
    if (r && rc >= 0) {
        r->text = strdup(rc ? "true" : "false");
        if (!r->text) {
            qmpb_result_free(r);
            return qmpb_result_error(QMP_ENOMEM, "out of memory");
        }
    }
    return r;
}

static qmpb_result *qmpb_schema_has(qmpb_schema *h, const char *query)
{
    qmpb_result *err = NULL;
    qmp_schema *s = qmpb_schema_take(h, &err);
    if (!s)
        return err;
    int rc = qmp_schema_has(s, query);
    qmpb_result *r = qmpb_result_of_has(rc);
    qmp_schema_unref(s);
    return r;
}

/* what: QMP_SCHEMA_COMMANDS or QMP_SCHEMA_EVENTS; text: a JSON array of names. */
static qmpb_result *qmpb_schema_list(qmpb_schema *h, int what)
{
    qmpb_result *err = NULL;
    qmp_schema *s = qmpb_schema_take(h, &err);
    if (!s)
        return err;
    qmpb_result *r = qmpb_result_with_json(qmp_schema_list(s, what));
    qmp_schema_unref(s);
    return r;
}

static qmpb_result *qmpb_schema_arguments(qmpb_schema *h, const char *name)
{
    qmpb_result *err = NULL;
    qmp_schema *s = qmpb_schema_take(h, &err);
    if (!s)
        return err;
    qmpb_result *r = qmpb_result_with_json(qmp_schema_arguments(s, name));
    qmp_schema_unref(s);
    return r;
}

static qmpb_result *qmpb_schema_describe(qmpb_schema *h, const char *name)
{
    qmpb_result *err = NULL;
    qmp_schema *s = qmpb_schema_take(h, &err);
    if (!s)
        return err;
    qmpb_result *r = qmpb_result_with_json(qmp_schema_describe(s, name));
    qmp_schema_unref(s);
    return r;
}

/* command_json: {"execute": ...}; text: the warnings, a JSON array of strings. */
static qmpb_result *qmpb_schema_validate(qmpb_schema *h, const char *command_json, int flags)
{
    qmpb_result *err = NULL;
    if (!command_json)
        return qmpb_result_error(QMP_EINVAL, "the command is NULL");
    qmp_schema *s = qmpb_schema_take(h, &err);
    if (!s)
        return err;
    qmpb_result *r;
    json_t *command = qmp_json_parse(command_json, strlen(command_json));
    if (!command) {
        r = qmpb_result_of(QMP_EINVAL);
    } else {
        json_t *warnings = NULL;
        int rc = qmp_schema_validate(s, command, flags, &warnings);
        r = rc < 0 ? qmpb_result_of(rc) : qmpb_result_with_json(warnings);
        if (rc < 0)
            json_decref(warnings);
        json_decref(command);
    }
    qmp_schema_unref(s);
    return r;
}

/* The client's calls that may fetch the schema (a round trip): blocking. */
struct qmpb_schema_args {
    qmpb_client *b;
    qmp_call *call;
    int kind;                 /* 0 get_schema, 1 schema_has, 2 set_validation */
    qmpb_schema *into;
    const char *query;
    int n;                    /* timeout_ms or flags */
    qmpb_result *r;
};

static void *qmpb_schema_run(void *p)
{
    struct qmpb_schema_args *a = (struct qmpb_schema_args *)p;
    if (a->kind == 0) {
        qmp_schema *s = qmp_client_get_schema(a->b->c, a->n);
        a->r = s ? qmpb_schema_fill(a->into, s) : qmpb_result_of(qmp_error_last()->code < 0
                                                                 ? qmp_error_last()->code : QMP_ENOMEM);
    } else if (a->kind == 1) {
        a->r = qmpb_result_of_has(qmp_client_schema_has(a->b->c, a->query));
    } else {
        a->r = qmpb_result_of(qmp_client_set_validation(a->b->c, a->n));
    }
    return NULL;
}

/* Fills the empty holder into with the connection's schema (fetched if need be). */
static qmpb_result *qmpb_schema_call(struct qmpb_schema_args *a)
{
    qmpb_result *refused = qmpb_run_blocking(a->call, qmpb_schema_run, a);
    return refused ? refused : a->r;
}

static qmpb_result *qmpb_client_get_schema(qmpb_client *b, qmp_call *call, qmpb_schema *into, int timeout_ms)
{
    QMPB_CHECK(b);
    if (!into)
        return qmpb_result_error(QMP_EINVAL, "no schema holder (NULL)");
    struct qmpb_schema_args a = { b, call, 0, into, NULL, timeout_ms, NULL };
    return qmpb_schema_call(&a);
}

static qmpb_result *qmpb_client_schema_has(qmpb_client *b, qmp_call *call, const char *query)
{
    QMPB_CHECK(b);
    struct qmpb_schema_args a = { b, call, 1, NULL, query, 0, NULL };
    return qmpb_schema_call(&a);
}

static qmpb_result *qmpb_client_set_validation(qmpb_client *b, qmp_call *call, int flags)
{
    QMPB_CHECK(b);
    struct qmpb_schema_args a = { b, call, 2, NULL, NULL, flags, NULL };
    return qmpb_schema_call(&a);
}

static int qmpb_client_get_validation(qmpb_client *b) { return b ? qmp_client_get_validation(b->c) : 0; }

/* ---- call handles (qmp-call.h): glue for the calls that take options ---- */

static qmp_call *qmpb_call_new(qmpb_client *b)
{
    return b ? qmp_call_new(b->c) : NULL;
}

/* The two calls below run through the language's hook (qmpb_blocking):
   the call is itself the wait on the handle.  When the hook skips it, rc
   stays QMP_ECANCELLED (and the hook has cancelled the handle). */
struct qmpb_call_args {
    qmp_call *call;
    const char *command_json, *name, *match_json;
    qmp_exec_options opts;
    unsigned long long after_seq;
    int timeout_ms;
    int rc;
};

static void *qmpb_call_execute_run(void *p)
{
    struct qmpb_call_args *a = (struct qmpb_call_args *)p;
    a->rc = qmp_call_execute_str(a->call, a->command_json, &a->opts);
    return NULL;
}

/* qmp_call_execute_str with its qmp_exec_options as arguments; fds stay the caller's. */
static int qmpb_call_execute(qmp_call *call, const char *command_json, int timeout_ms, const int *fds, size_t nfds,
                             int oob, int validate)
{
    struct qmpb_call_args a;
    memset(&a, 0, sizeof a);
    a.call = call;
    a.command_json = command_json;
    a.opts.version = QMP_EXEC_OPTIONS_VERSION;
    a.opts.timeout_ms = timeout_ms;
    a.opts.fds = nfds ? fds : NULL;
    a.opts.nfds = nfds;
    a.opts.oob = oob;
    a.opts.validate = validate;
    a.rc = QMP_ECANCELLED;
    qmpb_blocking(call, qmpb_call_execute_run, &a);
    return a.rc;
}

static void *qmpb_call_wait_event_run(void *p)
{
    struct qmpb_call_args *a = (struct qmpb_call_args *)p;
    a->rc = qmp_call_wait_event_str(a->call, a->name, a->match_json, a->after_seq, a->timeout_ms);
    return NULL;
}

/* qmp_call_wait_event_str, "" standing for NULL (any name, no match). */
static int qmpb_call_wait_event(qmp_call *call, const char *name, const char *match_json,
                                unsigned long long after_seq, int timeout_ms)
{
    struct qmpb_call_args a;
    memset(&a, 0, sizeof a);
    a.call = call;
    a.name = name && *name ? name : NULL;
    a.match_json = match_json && *match_json ? match_json : NULL;
    a.after_seq = after_seq;
    a.timeout_ms = timeout_ms;
    a.rc = QMP_ECANCELLED;
    qmpb_blocking(call, qmpb_call_wait_event_run, &a);
    return a.rc;
}
%}

/* ---- Ruby: the GVL is released around the blocking calls ----------------- */
#ifdef SWIGRUBY
%{
#include <ruby/thread.h>

/*
 * Every blocking call of the Ruby layer (lib/libqmp.rb) runs on a fresh
 * qmp_call handle, and Ruby ends it the way it ends any call blocked
 * without the GVL (Thread#kill, Thread#raise and so Timeout.timeout,
 * Ctrl-C's Interrupt, a signal whose trap handler must run in the main
 * thread): by calling the unblocking function from another thread, here
 * qmp_call_cancel().  The wait ends at once with QMP_ECANCELLED (a command
 * already sent has its late reply dropped, a connect closes what it
 * opened); the call returns to Ruby, which lets go of the handle and then
 * runs its pending interrupts (qmpb_rb_check_interrupts).  What happens
 * after a trap handler that does not raise is the Ruby layer's choice
 * (libqmp.rb, Client#blocking).
 */

/* The unblocking function: qmp_call_cancel() wakes the C wait at once. */
static void qmpb_rb_call_cancel(void *p)
{
    qmp_call_cancel((qmp_call *)p);
}

struct qmpb_rb_blocking {
    void *(*fn)(void *);
    void *arg;
    int ran;
};

static void *qmpb_rb_blocking_run(void *p)
{
    struct qmpb_rb_blocking *s = (struct qmpb_rb_blocking *)p;
    s->ran = 1;
    return s->fn(s->arg);
}

/* Whether the last call this thread made through the hook with a handle
   never ran (Ruby threads are native threads). */
static __thread int qmpb_rb_not_run;

/* The shim's hook (qmpb_blocking): rb_thread_call_without_gvl2, which
   runs no interrupt afterwards (a raise would jump over the shim's
   clean-up) and does not call fn at all while any interrupt flag of the
   thread is up: a real interrupt, but also the time slice's timer or a
   postponed job.  With a handle, the call then ends as if interrupted (the
   handle is cancelled) and qmpb_rb_check_interrupts() says that nothing
   ran, so that the call is made again once the flags are dealt with.
   Without one (the test server's close and verify: not interruptible), fn
   then runs with the GVL held. */
static void qmpb_ruby_without_gvl(qmp_call *call, void *(*fn)(void *), void *arg)
{
    struct qmpb_rb_blocking s = { fn, arg, 0 };
    rb_thread_call_without_gvl2(qmpb_rb_blocking_run, &s, call ? qmpb_rb_call_cancel : NULL, call);
    qmpb_rb_not_run = call && !s.ran;
    if (s.ran)
        return;
    if (call)
        qmp_call_cancel(call);
    else
        fn(arg);
}

/* Runs Ruby's pending interrupts now: an exception raised by them (or a
   Thread#kill) propagates; else (a trap handler ran, a time slice ended)
   this returns 1 when the thread's last call through the hook never ran
   its C part, else 0. */
static int qmpb_rb_check_interrupts(void)
{
    rb_thread_check_ints();
    int not_run = qmpb_rb_not_run;
    qmpb_rb_not_run = 0;
    return not_run;
}

/* The GC does not see a schema's C memory (some 640 KiB): tell it, so that
   a loop that leaves schemas to it triggers collections in time. */
static void qmpb_ruby_memory(long long delta)
{
    rb_gc_adjust_memory_usage((ssize_t)delta);
}
%}
%init %{
    qmpb_blocking_hook = qmpb_ruby_without_gvl;
    qmpb_schema_memory_hook = qmpb_ruby_memory;
%}
#endif

/* ---- what the languages see ---------------------------------------------- */

/* Status codes (qmp_status), qmp_strerror(), qmp_version_string(), QMP_MAX_FDS,
   QMP_POLL_*, QMP_VERSION_*. */
%ignore qmp_error_last;   /* per thread: a language reads a qmp_call's error instead */
%ignore qmp_free;
/* qmp_error: read-only, as qmp_call_error() lends it. */
%nodefaultctor qmp_error;
%nodefaultdtor qmp_error;
%immutable;
%include "qmp/qmp-common.h"
%mutable;
%constant int QMP_VERSION_MAJOR = QMP_VERSION_MAJOR;
%constant int QMP_VERSION_MINOR = QMP_VERSION_MINOR;
%constant int QMP_VERSION_MICRO = QMP_VERSION_MICRO;
%constant int QMP_MAX_FDS = QMP_MAX_FDS;
%constant int QMP_POLL_IN = QMP_POLL_IN;
%constant int QMP_POLL_OUT = QMP_POLL_OUT;

/* A result: read its members, then let it go (Python/Ruby: the garbage
   collector frees it; Go: DeleteQmpb_result). */
%nodefaultctor qmpb_result;
%immutable;
typedef struct qmpb_result {
    int code;
    int sys_errno;
    char *message;
    char *error_class;
    char *error_desc;
    char *text;
    char *name;
    unsigned long long seq;
} qmpb_result;
%mutable;
%extend qmpb_result {
    ~qmpb_result() { qmpb_result_free($self); }
}

/* Every function that returns a qmpb_result returns a new one (NULL only
   when out of memory): the language owns it. */
%newobject qmpb_client_set_timeout;
%newobject qmpb_client_set_oob;
%newobject qmpb_client_set_max_message_size;
%newobject qmpb_client_set_event_buffer;
%newobject qmpb_add_secret_member;
%newobject qmpb_client_connect_unix;
%newobject qmpb_client_connect_tcp;
%newobject qmpb_client_connect_fd;
%newobject qmpb_client_close;
%newobject qmpb_client_connect_agent_unix;
%newobject qmpb_agent_ping;
%newobject qmpb_agent_commands;
%newobject qmpb_agent_exec;
%newobject qmpb_agent_file_read;
%newobject qmpb_agent_file_write;
%newobject qmpb_client_greeting;
%newobject qmpb_client_queue_events;
%newobject qmpb_client_poll_event;
%newobject qmpb_client_next_event;
%newobject qmpb_client_get_schema;
%newobject qmpb_client_schema_has;
%newobject qmpb_client_set_validation;
%newobject qmpb_schema_load;
%newobject qmpb_schema_has;
%newobject qmpb_schema_list;
%newobject qmpb_schema_arguments;
%newobject qmpb_schema_describe;
%newobject qmpb_schema_validate;

/* Call handles (qmp-call.h), declared before the calls that take one. */
%ignore qmp_call_new;             /* qmpb_call_new: from the shim's client */
%ignore qmp_call_execute_str;     /* qmpb_call_execute */
%ignore qmp_call_wait_event_str;  /* qmpb_call_wait_event */
%ignore qmp_call_run;             /* the shim's blocking calls take the handle instead */
%include "qmp/qmp-call.h"

/* The client: opaque; qmpb_client_free() it (after every call on it has returned). */
typedef struct qmpb_client qmpb_client;
qmpb_client *qmpb_client_new(void);
void qmpb_client_free(qmpb_client *b);

qmpb_result *qmpb_client_set_timeout(qmpb_client *b, int timeout_ms);
qmpb_result *qmpb_client_set_oob(qmpb_client *b, int enable);
qmpb_result *qmpb_client_set_max_message_size(qmpb_client *b, unsigned long long bytes);
qmpb_result *qmpb_client_set_event_buffer(qmpb_client *b, unsigned long long max_events);
qmpb_result *qmpb_add_secret_member(const char *name);

qmpb_result *qmpb_client_connect_unix(qmpb_client *b, qmp_call *call, const char *path, int timeout_ms);
qmpb_result *qmpb_client_connect_tcp(qmpb_client *b, qmp_call *call, const char *host, const char *port, int timeout_ms);
qmpb_result *qmpb_client_connect_fd(qmpb_client *b, qmp_call *call, int fd, int timeout_ms);
qmpb_result *qmpb_client_close(qmpb_client *b);
/* The guest agent (qemu-ga; the tests start it only with -b): connect, then the helpers.  Bytes are hex text;
   argv and env are JSON arrays of strings (env may be NULL); results are JSON:
   commands {"version", "commands"}, exec {"pid", "exit_code", "signal", "out",
   "err" (hex), "out_truncated", "err_truncated"}, file_read the data in hex. */
qmpb_result *qmpb_client_connect_agent_unix(qmpb_client *b, qmp_call *call, const char *path, int timeout_ms);
int qmpb_client_is_agent(qmpb_client *b);
qmpb_result *qmpb_agent_ping(qmpb_client *b, qmp_call *call, int timeout_ms);
qmpb_result *qmpb_agent_commands(qmpb_client *b, qmp_call *call);
qmpb_result *qmpb_agent_exec(qmpb_client *b, qmp_call *call, const char *argv_json, const char *env_json, const char *input_hex,
                             int timeout_ms);
qmpb_result *qmpb_agent_file_read(qmpb_client *b, qmp_call *call, const char *path, unsigned long long max_bytes);
qmpb_result *qmpb_agent_file_write(qmpb_client *b, qmp_call *call, const char *path, const char *data_hex);
int qmpb_client_is_connected(qmpb_client *b);
int qmpb_client_has_capability(qmpb_client *b, const char *capability);
qmpb_result *qmpb_client_greeting(qmpb_client *b);
int qmpb_client_get_fd(qmpb_client *b);
int qmpb_client_close_reason(qmpb_client *b);


unsigned long long qmpb_client_event_seq(qmpb_client *b);
qmpb_result *qmpb_client_queue_events(qmpb_client *b, unsigned long long max_events);
unsigned long long qmpb_client_events_queued(qmpb_client *b);
unsigned long long qmpb_client_events_dropped(qmpb_client *b);
qmpb_result *qmpb_client_poll_event(qmpb_client *b);
qmpb_result *qmpb_client_next_event(qmpb_client *b, qmp_call *call, int timeout_ms);

/* Call handles (qmp-call.h): the blocking calls a language cancels from
   another thread (Go: a goroutine watching ctx.Done(); Ruby: the unblocking
   function), with the outcome read from the handle, not from a per-thread
   error.  The two calls that take options or optional text are bound through
   the glue below; the rest as they are. */
/* fds: an array of ints in each language, at most QMP_MAX_FDS; they stay the caller's. */
#ifdef SWIGPYTHON
/* A sequence of ints (the Python layer turns file objects into their fileno()). */
%typemap(in) (const int *fds, size_t nfds) (int fdv[QMP_MAX_FDS]) {
    if (!PySequence_Check($input)) {
        PyErr_SetString(PyExc_TypeError, "fds: expected a sequence of file descriptors");
        SWIG_fail;
    }
    Py_ssize_t n = PySequence_Size($input);
    if (n < 0)
        SWIG_fail;
    if (n > QMP_MAX_FDS) {
        PyErr_Format(PyExc_ValueError, "fds: at most %d file descriptors go with one command, got %zd",
                     QMP_MAX_FDS, n);
        SWIG_fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PySequence_GetItem($input, i);
        long v = o ? PyLong_AsLong(o) : -1;
        Py_XDECREF(o);
        if (v == -1 && PyErr_Occurred())
            SWIG_fail;
        if (v < 0 || v > INT_MAX) {
            PyErr_Format(PyExc_ValueError, "fds: %ld is not a file descriptor", v);
            SWIG_fail;
        }
        fdv[i] = (int)v;
    }
    $1 = fdv;
    $2 = (size_t)n;
}
#endif
#ifdef SWIGRUBY
/* An Array of Integer (the Ruby layer turns IOs into their fileno). */
%typemap(in) (const int *fds, size_t nfds) (int fdv[QMP_MAX_FDS]) {
    Check_Type($input, T_ARRAY);
    long n = RARRAY_LEN($input);
    if (n > QMP_MAX_FDS)
        rb_raise(rb_eArgError, "fds: at most %d file descriptors go with one command, got %ld", QMP_MAX_FDS, n);
    for (long i = 0; i < n; i++) {
        int v = NUM2INT(rb_ary_entry($input, i));
        if (v < 0)
            rb_raise(rb_eArgError, "fds: %d is not a file descriptor", v);
        fdv[i] = v;
    }
    $1 = fdv;
    $2 = (size_t)n;
}
#endif
#ifdef SWIGGO
/* fds as a Go []int32, borrowed for the call (cgo allows it: no pointers inside). */
%typemap(gotype) (const int *fds, size_t nfds) "[]int32"
%typemap(in) (const int *fds, size_t nfds) %{
    $1 = ($1_ltype)$input.array;
    $2 = (size_t)$input.len;
%}
#endif
qmp_call *qmpb_call_new(qmpb_client *b);
int qmpb_call_execute(qmp_call *call, const char *command_json, int timeout_ms, const int *fds, size_t nfds,
                      int oob, int validate);
int qmpb_call_wait_event(qmp_call *call, const char *name, const char *match_json,
                         unsigned long long after_seq, int timeout_ms);

/* The schema (qmp-schema.h): QMP_VALIDATE flags, QMP_SCHEMA_COMMANDS/EVENTS. */
%constant int QMP_VALIDATE = QMP_VALIDATE;
%constant int QMP_VALIDATE_DENY_DEPRECATED = QMP_VALIDATE_DENY_DEPRECATED;
%constant int QMP_VALIDATE_DENY_UNSTABLE = QMP_VALIDATE_DENY_UNSTABLE;
%constant int QMP_VALIDATE_OFF = QMP_VALIDATE_OFF;
%constant int QMP_SCHEMA_COMMANDS = QMP_SCHEMA_COMMANDS;
%constant int QMP_SCHEMA_EVENTS = QMP_SCHEMA_EVENTS;

/* A holder of one schema reference, owned by the language's object: new
   (empty), filled by qmpb_client_get_schema or qmpb_schema_load (once);
   release drops the reference early (later calls: QMP_EINVAL "the schema is
   closed"); the destructor (GC in Python/Ruby, DeleteQmpb_schema in Go)
   frees the holder.  Calls on one holder may come from several threads. */
%nodefaultctor qmpb_schema;
typedef struct qmpb_schema {} qmpb_schema;
%extend qmpb_schema {
    ~qmpb_schema() { qmpb_schema_free($self); }
}
%newobject qmpb_schema_new;
qmpb_schema *qmpb_schema_new(void);
void qmpb_schema_release(qmpb_schema *h);
int qmpb_schema_loaded(qmpb_schema *h);
qmpb_result *qmpb_schema_load(qmpb_schema *h, const char *json);
qmpb_result *qmpb_schema_has(qmpb_schema *h, const char *query);
qmpb_result *qmpb_schema_list(qmpb_schema *h, int what);
qmpb_result *qmpb_schema_arguments(qmpb_schema *h, const char *name);
qmpb_result *qmpb_schema_describe(qmpb_schema *h, const char *name);
qmpb_result *qmpb_schema_validate(qmpb_schema *h, const char *command_json, int flags);

qmpb_result *qmpb_client_get_schema(qmpb_client *b, qmp_call *call, qmpb_schema *into, int timeout_ms);
qmpb_result *qmpb_client_schema_has(qmpb_client *b, qmp_call *call, const char *query);
qmpb_result *qmpb_client_set_validation(qmpb_client *b, qmp_call *call, int flags);
int qmpb_client_get_validation(qmpb_client *b);

/* Ruby: runs the pending interrupts after a call its unblocking function
   ended (the SWIGRUBY block above). */
#ifdef SWIGRUBY
int qmpb_rb_check_interrupts(void);
#endif

/* ==== the test server (qmp-mock.h) ========================================= */

/* A holder of one qmp_mock, owned by the language's object: closing it
   (qmpb_mock_close) stops the server and frees it once every call in
   progress on it has returned; the destructor (GC in Python/Ruby,
   DeleteQmpb_mock in Go) closes it too and frees the holder.  Script items
   may be added from any thread while the server runs. */
%{
#include <unistd.h>

typedef struct qmpb_mock {
    pthread_mutex_t mu;
    pthread_cond_t idle;      /* busy dropped to 0 */
    qmp_mock *m;              /* NULL once closed */
    int busy;                 /* calls in progress on m */
} qmpb_mock;

static qmpb_mock *qmpb_mock_new(void)
{
    qmpb_mock *h = (qmpb_mock *)calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->m = qmp_mock_new();
    if (!h->m) {
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->idle, NULL);
    return h;
}

/* The server for one call (busy counted), or NULL with *err set. */
static qmp_mock *qmpb_mock_enter(qmpb_mock *h, qmpb_result **err)
{
    if (!h) {
        *err = qmpb_result_error(QMP_EINVAL, "no test server (NULL)");
        return NULL;
    }
    pthread_mutex_lock(&h->mu);
    qmp_mock *m = h->m;
    if (m)
        h->busy++;
    pthread_mutex_unlock(&h->mu);
    if (!m)
        *err = qmpb_result_error(QMP_EINVAL, "the test server is closed");
    return m;
}

static void qmpb_mock_leave(qmpb_mock *h)
{
    pthread_mutex_lock(&h->mu);
    if (--h->busy == 0)
        pthread_cond_broadcast(&h->idle);
    pthread_mutex_unlock(&h->mu);
}

static void *qmpb_mock_close_run(void *p)
{
    qmpb_mock *h = (qmpb_mock *)p;
    pthread_mutex_lock(&h->mu);
    qmp_mock *m = h->m;
    h->m = NULL;
    while (h->busy)
        pthread_cond_wait(&h->idle, &h->mu);
    pthread_mutex_unlock(&h->mu);
    qmp_mock_free(m);
    return NULL;
}

/* Stops and frees the server (waiting for the calls in progress, e.g. a
   verify, to return); later calls fail with "the test server is closed". */
static void qmpb_mock_close(qmpb_mock *h)
{
    if (h)
        qmpb_run_blocking(NULL, qmpb_mock_close_run, h);
}

static void qmpb_mock_free(qmpb_mock *h)
{
    if (!h)
        return;
    qmpb_mock_close_run(h);
    pthread_cond_destroy(&h->idle);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static qmpb_result *qmpb_mock_set_greeting(qmpb_mock *h, const char *greeting_json)
{
    qmpb_result *err = NULL;
    qmp_mock *m = qmpb_mock_enter(h, &err);
    if (!m)
        return err;
    qmpb_result *r = qmpb_result_of(qmp_mock_set_greeting_str(m, greeting_json));
    qmpb_mock_leave(h);
    return r;
}

/* arguments_json NULL or "": any arguments. */
static qmpb_result *qmpb_mock_expect(qmpb_mock *h, const char *command, const char *arguments_json,
                                     const char *response_json)
{
    qmpb_result *err = NULL;
    if (arguments_json && !*arguments_json)
        arguments_json = NULL;
    qmp_mock *m = qmpb_mock_enter(h, &err);
    if (!m)
        return err;
    qmpb_result *r = qmpb_result_of(qmp_mock_expect_str(m, command, arguments_json, response_json));
    qmpb_mock_leave(h);
    return r;
}

static qmpb_result *qmpb_mock_event(qmpb_mock *h, const char *event_json)
{
    qmpb_result *err = NULL;
    qmp_mock *m = qmpb_mock_enter(h, &err);
    if (!m)
        return err;
    qmpb_result *r = qmpb_result_of(qmp_mock_event_str(m, event_json));
    qmpb_mock_leave(h);
    return r;
}

static qmpb_result *qmpb_mock_load_replies(qmpb_mock *h, const char *path)
{
    qmpb_result *err = NULL;
    qmp_mock *m = qmpb_mock_enter(h, &err);
    if (!m)
        return err;
    qmpb_result *r = qmpb_result_of(qmp_mock_load_replies(m, path));
    qmpb_mock_leave(h);
    return r;
}

/* schema NULL turns checking off. */
static qmpb_result *qmpb_mock_set_schema(qmpb_mock *h, qmpb_schema *schema)
{
    qmpb_result *err = NULL;
    qmp_schema *s = NULL;
    if (schema && !(s = qmpb_schema_take(schema, &err)))
        return err;
    qmp_mock *m = qmpb_mock_enter(h, &err);
    if (!m) {
        qmp_schema_unref(s);
        return err;
    }
    qmpb_result *r = qmpb_result_of(qmp_mock_set_schema(m, s));
    qmpb_mock_leave(h);
    qmp_schema_unref(s);
    return r;
}

/* text: the client's end of the socketpair, a decimal fd (the caller's). */
static qmpb_result *qmpb_mock_socketpair(qmpb_mock *h)
{
    qmpb_result *err = NULL;
    qmp_mock *m = qmpb_mock_enter(h, &err);
    if (!m)
        return err;
    int fd = qmp_mock_socketpair(m);
    qmpb_result *r = qmpb_result_of(fd < 0 ? fd : QMP_OK);
    qmpb_mock_leave(h);
    if (r && fd >= 0) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", fd);
        r->text = strdup(buf);
        if (!r->text) {
            close(fd);
            qmpb_result_free(r);
            return qmpb_result_error(QMP_ENOMEM, "out of memory");
        }
    } else if (!r && fd >= 0) {
        close(fd);
    }
    return r;
}

static qmpb_result *qmpb_mock_listen_unix(qmpb_mock *h, const char *path)
{
    qmpb_result *err = NULL;
    qmp_mock *m = qmpb_mock_enter(h, &err);
    if (!m)
        return err;
    qmpb_result *r = qmpb_result_of(qmp_mock_listen_unix(m, path));
    qmpb_mock_leave(h);
    return r;
}

struct qmpb_mock_verify_args {
    qmp_mock *m;
    int timeout_ms;
    qmpb_result *r;
};

static void *qmpb_mock_verify_run(void *p)
{
    struct qmpb_mock_verify_args *a = (struct qmpb_mock_verify_args *)p;
    a->r = qmpb_result_of(qmp_mock_verify(a->m, a->timeout_ms));
    return NULL;
}

/* Blocking: up to timeout_ms (-1: for ever). */
static qmpb_result *qmpb_mock_verify(qmpb_mock *h, int timeout_ms)
{
    qmpb_result *err = NULL;
    qmp_mock *m = qmpb_mock_enter(h, &err);
    if (!m)
        return err;
    struct qmpb_mock_verify_args a = { m, timeout_ms, NULL };
    qmpb_run_blocking(NULL, qmpb_mock_verify_run, &a);
    qmpb_mock_leave(h);
    return a.r;
}
%}

%nodefaultctor qmpb_mock;
typedef struct qmpb_mock {} qmpb_mock;
%extend qmpb_mock {
    ~qmpb_mock() { qmpb_mock_free($self); }
}
%newobject qmpb_mock_new;
%newobject qmpb_mock_set_greeting;
%newobject qmpb_mock_expect;
%newobject qmpb_mock_event;
%newobject qmpb_mock_load_replies;
%newobject qmpb_mock_set_schema;
%newobject qmpb_mock_socketpair;
%newobject qmpb_mock_listen_unix;
%newobject qmpb_mock_verify;
qmpb_mock *qmpb_mock_new(void);
void qmpb_mock_close(qmpb_mock *h);
qmpb_result *qmpb_mock_set_greeting(qmpb_mock *h, const char *greeting_json);
qmpb_result *qmpb_mock_expect(qmpb_mock *h, const char *command, const char *arguments_json,
                              const char *response_json);
qmpb_result *qmpb_mock_event(qmpb_mock *h, const char *event_json);
qmpb_result *qmpb_mock_load_replies(qmpb_mock *h, const char *path);
qmpb_result *qmpb_mock_set_schema(qmpb_mock *h, qmpb_schema *schema);
qmpb_result *qmpb_mock_socketpair(qmpb_mock *h);
qmpb_result *qmpb_mock_listen_unix(qmpb_mock *h, const char *path);
qmpb_result *qmpb_mock_verify(qmpb_mock *h, int timeout_ms);
/* ==== end of the test server ============================================== */

/* ==== Python: the asyncio client's glue ================================== */
#ifdef SWIGPYTHON
/* libqmp.aio drives a client from the asyncio loop: it submits with
   qmp_client_execute_async()/qmp_client_connect_unix_async(), watches the
   fds the client names, and calls qmp_client_process().  The reply callbacks
   run inside those calls (or in qmp_client_close/free), with the interpreter
   lock released by SWIG, so they only queue the outcome here; Python takes
   the outcomes with qmpb_aio_take() after each call.  The holder owns its
   qmpb_client, and frees it before the queue so that every callback has
   somewhere to write. */
%{
typedef struct qmpb_done {
    struct qmpb_done *next;
    struct qmpb_aio *a;
    unsigned long long token;
    int status;
    int sys_errno;
    char *message, *error_class, *error_desc, *text;
} qmpb_done;

typedef struct qmpb_aio {
    qmpb_client *b;
    pthread_mutex_t mu;
    qmpb_done *head, *tail;
} qmpb_aio;

static qmpb_aio *qmpb_aio_new(void)
{
    qmpb_aio *a = (qmpb_aio *)calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->b = qmpb_client_new();
    if (!a->b) {
        free(a);
        return NULL;
    }
    pthread_mutex_init(&a->mu, NULL);
    return a;
}

static void qmpb_done_free(qmpb_done *d)
{
    free(d->message);
    free(d->error_class);
    free(d->error_desc);
    free(d->text);
    free(d);
}

static void qmpb_aio_free(qmpb_aio *a)
{
    if (!a)
        return;
    qmpb_client_free(a->b);   /* the last callbacks queue here */
    qmpb_done *d = a->head;
    while (d) {
        qmpb_done *next = d->next;
        qmpb_done_free(d);
        d = next;
    }
    pthread_mutex_destroy(&a->mu);
    free(a);
}

static qmpb_client *qmpb_aio_client(qmpb_aio *a) { return a ? a->b : NULL; }

/* Fills d from status and qmp_error_last() (the callback's error) and queues it. */
static void qmpb_aio_finish(qmpb_done *d, int status, const json_t *result)
{
    d->status = status;
    if (status < 0) {
        const qmp_error *e = qmp_error_last();
        d->sys_errno = e->sys_errno;
        d->message = qmpb_strdup(e->message && *e->message ? e->message : qmp_strerror(status));
        d->error_class = qmpb_strdup(e->qmp_class);
        d->error_desc = qmpb_strdup(e->qmp_desc);
    }
    if (result) {
        char *t = json_dumps(result, JSON_ENCODE_ANY | JSON_COMPACT);
        d->text = t;   /* jansson allocates with malloc here: free() frees it */
        if (!t && status == QMP_OK) {
            d->status = QMP_ENOMEM;
            d->message = qmpb_strdup("out of memory");
        }
    }
    qmpb_aio *a = d->a;
    pthread_mutex_lock(&a->mu);
    if (a->tail)
        a->tail->next = d;
    else
        a->head = d;
    a->tail = d;
    pthread_mutex_unlock(&a->mu);
}

static void qmpb_aio_on_reply(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    qmpb_aio_finish((qmpb_done *)user_data, status, result);
}

static void qmpb_aio_on_connect(qmp_client *c, int status, void *user_data)
{
    (void)c;
    qmpb_aio_finish((qmpb_done *)user_data, status, NULL);
}

static qmpb_done *qmpb_done_new(qmpb_aio *a, unsigned long long token)
{
    qmpb_done *d = (qmpb_done *)calloc(1, sizeof *d);
    if (d) {
        d->a = a;
        d->token = token;
    }
    return d;
}

/* Begins connecting; the outcome comes back as token. */
static qmpb_result *qmpb_aio_connect_unix(qmpb_aio *a, const char *path, int timeout_ms,
                                          unsigned long long token)
{
    if (!a)
        return qmpb_result_error(QMP_EINVAL, "no client (NULL)");
    qmpb_done *d = qmpb_done_new(a, token);
    if (!d)
        return qmpb_result_error(QMP_ENOMEM, "out of memory");
    int rc = qmp_client_connect_unix_async(a->b->c, path, timeout_ms, qmpb_aio_on_connect, d, NULL);
    qmpb_result *r = qmpb_result_of(rc);
    if (rc < 0)
        free(d);
    return r;
}

/* Begins connecting over an fd the caller made (a TCP socket: the shim takes it). */
static qmpb_result *qmpb_aio_connect_fd(qmpb_aio *a, int fd, int timeout_ms, unsigned long long token)
{
    if (!a)
        return qmpb_result_error(QMP_EINVAL, "no client (NULL)");
    qmpb_done *d = qmpb_done_new(a, token);
    if (!d) {
        close(fd);
        return qmpb_result_error(QMP_ENOMEM, "out of memory");
    }
    int rc = qmp_client_connect_fd_async(a->b->c, fd, timeout_ms, qmpb_aio_on_connect, d, NULL);
    qmpb_result *r = qmpb_result_of(rc);
    if (rc < 0)
        free(d);
    return r;
}

/* Queues command_json; the reply comes back as token.  timeout_ms 0: none. */
static qmpb_result *qmpb_aio_execute(qmpb_aio *a, const char *command_json, int timeout_ms,
                                     int oob, int validate, unsigned long long token)
{
    if (!a)
        return qmpb_result_error(QMP_EINVAL, "no client (NULL)");
    json_error_t jerr;
    json_t *cmd = json_loads(command_json, 0, &jerr);
    if (!cmd)
        return qmpb_result_error(QMP_EINVAL, "the command is not valid JSON");
    qmpb_done *d = qmpb_done_new(a, token);
    if (!d) {
        json_decref(cmd);
        return qmpb_result_error(QMP_ENOMEM, "out of memory");
    }
    qmp_exec_options opts;
    memset(&opts, 0, sizeof opts);
    opts.version = QMP_EXEC_OPTIONS_VERSION;
    opts.timeout_ms = timeout_ms;
    opts.oob = oob;
    opts.validate = validate;
    int rc = qmp_client_execute_async(a->b->c, cmd, &opts, qmpb_aio_on_reply, d, NULL);
    qmpb_result *r = qmpb_result_of(rc);
    if (rc < 0)
        free(d);   /* cb never runs on failure */
    return r;
}

/* The oldest finished call (its token in seq), or NULL when none. */
static qmpb_result *qmpb_aio_take(qmpb_aio *a)
{
    if (!a)
        return NULL;
    pthread_mutex_lock(&a->mu);
    qmpb_done *d = a->head;
    if (d) {
        a->head = d->next;
        if (!a->head)
            a->tail = NULL;
    }
    pthread_mutex_unlock(&a->mu);
    if (!d)
        return NULL;
    qmpb_result *r = (qmpb_result *)calloc(1, sizeof *r);
    if (!r) {
        /* put it back: the caller retries */
        pthread_mutex_lock(&a->mu);
        d->next = a->head;
        a->head = d;
        if (!a->tail)
            a->tail = d;
        pthread_mutex_unlock(&a->mu);
        return NULL;
    }
    r->code = d->status;
    r->sys_errno = d->sys_errno;
    r->message = d->message;
    r->error_class = d->error_class;
    r->error_desc = d->error_desc;
    r->text = d->text;
    r->seq = d->token;
    free(d);
    return r;
}

static int qmpb_aio_process(qmpb_aio *a, int revents) { return a ? qmp_client_process(a->b->c, revents) : QMP_EINVAL; }
static int qmpb_aio_get_fd(qmpb_aio *a) { return a ? qmp_client_get_fd(a->b->c) : -1; }
static int qmpb_aio_get_events(qmpb_aio *a) { return a ? qmp_client_get_events(a->b->c) : 0; }
static int qmpb_aio_get_timeout_ms(qmpb_aio *a) { return a ? qmp_client_get_timeout_ms(a->b->c) : -1; }
static int qmpb_aio_get_wakeup_fd(qmpb_aio *a) { return a ? qmp_client_get_wakeup_fd(a->b->c) : -1; }
%}
%nodefaultctor qmpb_aio;
typedef struct qmpb_aio {} qmpb_aio;
%extend qmpb_aio {
    ~qmpb_aio() { qmpb_aio_free($self); }
}
%newobject qmpb_aio_new;
%newobject qmpb_aio_connect_unix;
%newobject qmpb_aio_connect_fd;
%newobject qmpb_aio_execute;
%newobject qmpb_aio_take;
qmpb_aio *qmpb_aio_new(void);
qmpb_client *qmpb_aio_client(qmpb_aio *a);
qmpb_result *qmpb_aio_connect_unix(qmpb_aio *a, const char *path, int timeout_ms, unsigned long long token);
qmpb_result *qmpb_aio_connect_fd(qmpb_aio *a, int fd, int timeout_ms, unsigned long long token);
qmpb_result *qmpb_aio_execute(qmpb_aio *a, const char *command_json, int timeout_ms,
                              int oob, int validate, unsigned long long token);
qmpb_result *qmpb_aio_take(qmpb_aio *a);
int qmpb_aio_process(qmpb_aio *a, int revents);
int qmpb_aio_get_fd(qmpb_aio *a);
int qmpb_aio_get_events(qmpb_aio *a);
int qmpb_aio_get_timeout_ms(qmpb_aio *a);
int qmpb_aio_get_wakeup_fd(qmpb_aio *a);
#endif
/* ==== end of the asyncio client's glue ==================================== */
