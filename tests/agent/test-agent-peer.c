/*
 * The client on a guest agent connection against a scripted agent: the
 * faults a real qemu-ga (which the tests only ever start with -b, see
 * qga.h) cannot be made to show (stale bytes and replies in
 * the channel, an agent that never answers, one that restarts mid-call,
 * the commands that answer only on failure).  The scripted agent is a thread
 * on the other end of a socketpair; it reads the client's bytes one at a
 * time, so it sees every 0xFF reset byte, and records what went wrong.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <qmp/qmp.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

typedef struct agent agent;
typedef void (*script_fn)(agent *a);

struct agent {
    int fd;             /* the agent's end */
    int client_fd;      /* the client's end, until the client takes it */
    pthread_t thread;
    script_fn script;
    int failures;
    char failure[512];
    int resets;         /* 0xFF bytes the client sent */
};

static void agent_fail(agent *a, const char *fmt, ...)
{
    if (a->failures++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(a->failure, sizeof a->failure, fmt, ap);
        va_end(ap);
    }
}

static void agent_send(agent *a, const char *bytes, size_t n)
{
    while (n > 0) {
        ssize_t w = send(a->fd, bytes, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            agent_fail(a, "send failed: %s", strerror(errno));
            return;
        }
        bytes += w;
        n -= (size_t)w;
    }
}

static void agent_send_str(agent *a, const char *text) { agent_send(a, text, strlen(text)); }

/* Reads one JSON object (0xFF bytes and whitespace before it are counted or skipped); NULL on EOF or 10 s of silence. */
static json_t *agent_read(agent *a)
{
    char buf[8192];
    size_t len = 0;
    int depth = 0, in_string = 0, escaped = 0;
    for (;;) {
        struct pollfd p = {a->fd, POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0) return NULL;
        char ch;
        ssize_t r = recv(a->fd, &ch, 1, 0);
        if (r <= 0) return NULL;
        if (len == 0) {
            if ((unsigned char)ch == 0xff) {
                a->resets++;
                continue;
            }
            if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') continue;
        }
        if (len + 1 >= sizeof buf) return NULL;
        buf[len++] = ch;
        if (in_string) {
            if (escaped) escaped = 0;
            else if (ch == '\\') escaped = 1;
            else if (ch == '"') in_string = 0;
        } else if (ch == '"') {
            in_string = 1;
        } else if (ch == '{') {
            depth++;
        } else if (ch == '}' && --depth == 0) {
            break;
        }
    }
    buf[len] = 0;
    json_t *m = json_loads(buf, 0, NULL);
    if (!m) agent_fail(a, "the client sent something that is not JSON: %s", buf);
    return m;
}

/* Reads guest-sync-delimited (after at least one 0xFF reset byte) and answers it, the sentinel first. */
static void agent_sync(agent *a)
{
    int resets = a->resets;
    json_t *m = agent_read(a);
    const char *name = json_string_value(json_object_get(m, "execute"));
    if (!m || !name || strcmp(name, "guest-sync-delimited") != 0) {
        agent_fail(a, "expected guest-sync-delimited, got %s", name ? name : "nothing");
        json_decref(m);
        return;
    }
    if (a->resets == resets) agent_fail(a, "guest-sync-delimited came without a 0xFF reset byte before it");
    json_t *id = json_object_get(json_object_get(m, "arguments"), "id");
    if (!json_is_integer(id)) agent_fail(a, "guest-sync-delimited without an integer id");
    char reply[128];
    snprintf(reply, sizeof reply, "\xff{\"return\": %lld}\n", (long long)json_integer_value(id));
    json_decref(m);
    agent_send_str(a, reply);
}

/* Reads a command, checks its name, returns its "id" as JSON text (free() it). */
static char *agent_expect(agent *a, const char *name)
{
    json_t *m = agent_read(a);
    const char *got = json_string_value(json_object_get(m, "execute"));
    if (!m || !got || strcmp(got, name) != 0) {
        agent_fail(a, "expected %s, got %s", name, got ? got : "nothing");
        json_decref(m);
        return NULL;
    }
    char *id = json_dumps(json_object_get(m, "id"), JSON_ENCODE_ANY);
    json_decref(m);
    if (!id) agent_fail(a, "%s came without an id", name);
    return id;
}

static void agent_return(agent *a, const char *id, const char *value)
{
    if (!id) return;
    char reply[512];
    snprintf(reply, sizeof reply, "{\"return\": %s, \"id\": %s}\n", value, id);
    agent_send_str(a, reply);
}

static void *agent_main(void *arg)
{
    agent *a = arg;
    a->script(a);
    return NULL;
}

/* The channel; bytes may be queued in it (agent_send_str) before the script starts. */
static agent *agent_new(void)
{
    agent *a = calloc(1, sizeof *a);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    a->fd = sv[0];
    a->client_fd = sv[1];
    return a;
}

static void agent_run(agent *a, script_fn script)
{
    a->script = script;
    assert_int_equal(pthread_create(&a->thread, NULL, agent_main, a), 0);
}

/* Joins the script and fails the test with its first failure, if any. */
static void agent_finish(agent *a)
{
    pthread_join(a->thread, NULL);
    close(a->fd);
    int failures = a->failures;
    if (failures) fprintf(stderr, "scripted agent: %s\n", a->failure);
    free(a);
    assert_int_equal(failures, 0);
}

static qmp_client *connect_to(agent *a)
{
    qmp_client *c = qmp_client_new();
    int rc = qmp_client_connect_agent_fd(c, a->client_fd, 5000);
    if (rc != QMP_OK) fail_msg("connect: %s", qmp_error_last()->message);
    return c;
}

/* --- stale replies and garbage queued before connect ---------------------- */

static void script_stale(agent *a)
{
    agent_sync(a);
    char *id = agent_expect(a, "guest-info");
    agent_return(a, id, "{\"version\": \"mine\"}");
    free(id);
}

static void test_stale_bytes_before_connect(void **state)
{
    (void)state;
    agent *a = agent_new();
    /* What earlier clients left in the channel: a reply carrying the id the
       client's first command will get, an older sync's answer, garbage, and
       half a message. */
    agent_send_str(a, "{\"return\": {\"version\": \"stale\"}, \"id\": 1}\n");
    agent_send_str(a, "\xff{\"return\": 12345}\n");
    agent_send_str(a, "garbage}{[ \"half a str");
    agent_run(a, script_stale);
    qmp_client *c = connect_to(a);
    json_t *r = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-info", NULL), &r), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(r, "version")), "mine");
    json_decref(r);
    qmp_client_free(c);
    agent_finish(a);
}

/* --- a late reply after a timeout ------------------------------------------ */

static void script_late(agent *a)
{
    agent_sync(a);
    char *id = agent_expect(a, "guest-ping");
    usleep(400 * 1000);  /* the client gave up after 150 ms */
    agent_return(a, id, "{\"late\": true}");
    free(id);
    int resets = a->resets;
    agent_sync(a);  /* the client synchronises again before its next command */
    if (a->resets == resets) agent_fail(a, "no reset byte before the resync");
    id = agent_expect(a, "guest-info");
    agent_return(a, id, "{\"version\": \"mine\"}");
    free(id);
}

static void test_late_reply_after_timeout(void **state)
{
    (void)state;
    agent *a = agent_new();
    agent_run(a, script_late);
    qmp_client *c = connect_to(a);
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = 150;
    json_t *r = NULL;
    assert_int_equal(qmp_client_execute_full(c, qmp_command_new("guest-ping", NULL), &o, &r), QMP_ETIMEDOUT);
    assert_non_null(strstr(qmp_error_last()->message, "guest agent"));
    assert_null(r);
    usleep(300 * 1000);  /* the late reply is in the channel now */
    assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-info", NULL), &r), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(r, "version")), "mine");
    json_decref(r);
    qmp_client_free(c);
    agent_finish(a);
}

/* --- ids after a timeout and the resync -------------------------------------- */

static void script_ids(agent *a)
{
    agent_sync(a);
    char *slow = agent_expect(a, "guest-ping");
    if (slow && strcmp(slow, "1") != 0) agent_fail(a, "the first command has id %s, not 1", slow);
    usleep(300 * 1000); /* the client gave up after 100 ms */
    agent_return(a, slow, "{}");
    agent_sync(a);
    /* Made while the timed-out command was still awaited: another id. */
    char *next = agent_expect(a, "guest-info");
    if (next && slow && strcmp(next, slow) == 0) agent_fail(a, "a new command took the id %s of one unanswered", next);
    agent_return(a, next, "{\"version\": \"next\"}");
    /* The sync was answered, so the timed-out command can no longer be: small ids again. */
    char *later = agent_expect(a, "guest-info");
    if (later && strcmp(later, "1") != 0) agent_fail(a, "the command after the resync has id %s, not 1", later);
    agent_return(a, later, "{\"version\": \"later\"}");
    free(slow);
    free(next);
    free(later);
}

static void test_ids_after_timeout_and_resync(void **state)
{
    (void)state;
    agent *a = agent_new();
    agent_run(a, script_ids);
    qmp_client *c = connect_to(a);
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = 100;
    assert_int_equal(qmp_client_execute_full(c, qmp_command_new("guest-ping", NULL), &o, NULL), QMP_ETIMEDOUT);
    usleep(350 * 1000); /* the late reply is in the channel now */
    json_t *r = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-info", NULL), &r), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(r, "version")), "next");
    json_decref(r);
    r = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-info", NULL), &r), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(r, "version")), "later");
    json_decref(r);
    qmp_client_free(c);
    agent_finish(a);
}

/* --- exec: the deadline passes during a status query ------------------------- */

static void script_exec_status_late(agent *a)
{
    agent_sync(a);
    char *id = agent_expect(a, "guest-exec");
    agent_return(a, id, "{\"pid\": 42}");
    free(id);
    /* "Still running" at once, until 150 ms have passed; the query in flight
       then is answered only after the client's 300 ms are up (a loaded
       machine, slowly). */
    long long t0 = now_ms();
    for (;;) {
        id = agent_expect(a, "guest-exec-status");
        if (!id) return;
        int late = now_ms() - t0 >= 150;
        if (late) usleep(400 * 1000);
        agent_return(a, id, "{\"exited\": false}");
        free(id);
        if (late) break;
    }
    agent_sync(a);
    id = agent_expect(a, "guest-ping");
    agent_return(a, id, "{}");
    free(id);
}

/* A status query still unanswered at the deadline means what "not exited"
   means: QMP_ETIMEDOUT, the pid, "it keeps running"; the channel stays usable. */
static void test_exec_deadline_during_status(void **state)
{
    (void)state;
    agent *a = agent_new();
    agent_run(a, script_exec_status_late);
    qmp_client *c = connect_to(a);
    const char *argv[] = {"/bin/sleep", "5", NULL};
    qmp_agent_exec_result r;
    long long t0 = now_ms();
    assert_int_equal(qmp_agent_exec(c, argv, NULL, NULL, 0, 300, &r), QMP_ETIMEDOUT);
    long long took = now_ms() - t0;
    assert_true(took >= 290 && took < 2000);
    assert_int_equal(r.pid, 42);
    if (!strstr(qmp_error_last()->message, "keeps running") || !strstr(qmp_error_last()->message, "pid 42"))
        fail_msg("the error says: %s", qmp_error_last()->message);
    qmp_agent_exec_result_clear(&r);
    assert_int_equal(qmp_agent_ping(c, 0), QMP_OK);
    qmp_client_free(c);
    agent_finish(a);
}

/* --- the agent restarts mid-call -------------------------------------------- */

static void script_restart(agent *a)
{
    agent_sync(a);
    char *id = agent_expect(a, "guest-get-osinfo");
    free(id);  /* the agent restarts: it forgets the command and never answers */
    agent_sync(a);
    id = agent_expect(a, "guest-get-osinfo");
    agent_return(a, id, "{\"id\": \"debian\"}");
    free(id);
}

static void test_restart_mid_call(void **state)
{
    (void)state;
    agent *a = agent_new();
    agent_run(a, script_restart);
    qmp_client *c = connect_to(a);
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = 200;
    json_t *r = NULL;
    long long t0 = now_ms();
    assert_int_equal(qmp_client_execute_full(c, qmp_command_new("guest-get-osinfo", NULL), &o, &r), QMP_ETIMEDOUT);
    assert_true(now_ms() - t0 < 3000);
    assert_non_null(strstr(qmp_error_last()->message, "the guest agent did not answer 'guest-get-osinfo'"));
    assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-get-osinfo", NULL), &r), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(r, "id")), "debian");
    json_decref(r);
    assert_int_equal(qmp_client_is_agent(c), 1);
    qmp_client_free(c);
    agent_finish(a);
}

/* --- an agent that never answers ------------------------------------------------ */

static void script_silent(agent *a)
{
    json_t *m = agent_read(a);  /* the sync, never answered */
    if (!m) agent_fail(a, "no guest-sync-delimited");
    json_decref(m);
    char ch;
    while (recv(a->fd, &ch, 1, 0) > 0) {
    }
}

static void test_agent_never_answers(void **state)
{
    (void)state;
    agent *a = agent_new();
    agent_run(a, script_silent);
    qmp_client *c = qmp_client_new();
    long long t0 = now_ms();
    assert_int_equal(qmp_client_connect_agent_fd(c, a->client_fd, 300), QMP_ETIMEDOUT);
    long long took = now_ms() - t0;
    assert_true(took >= 290 && took < 3000);
    assert_non_null(strstr(qmp_error_last()->message, "guest agent"));
    assert_int_equal(qmp_client_is_agent(c), 0);
    qmp_client_free(c);  /* closes the channel: the script ends */
    agent_finish(a);
}

/* --- commands that answer only on failure ------------------------------------------- */

static void script_no_answer(agent *a)
{
    agent_sync(a);
    char *id = agent_expect(a, "guest-shutdown");
    free(id);  /* success: no answer */
    id = agent_expect(a, "guest-suspend-ram");
    if (id) {
        char reply[256];
        snprintf(reply, sizeof reply,
                 "{\"error\": {\"class\": \"GenericError\", \"desc\": \"suspend not supported\"}, \"id\": %s}\n", id);
        agent_send_str(a, reply);
    }
    free(id);
    id = agent_expect(a, "guest-ping");
    agent_return(a, id, "{}");
    free(id);
    id = agent_expect(a, "guest-shutdown");
    free(id);
    shutdown(a->fd, SHUT_RDWR);  /* the guest goes down at once */
}

static void test_commands_answering_only_on_failure(void **state)
{
    (void)state;
    agent *a = agent_new();
    agent_run(a, script_no_answer);
    qmp_client *c = connect_to(a);
    json_t *r = NULL;
    long long t0 = now_ms();
    assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-shutdown", NULL), &r), QMP_OK);
    long long took = now_ms() - t0;
    assert_true(took < 5000);  /* a short grace, not the 30 s default timeout */
    json_decref(r);
    r = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-suspend-ram", NULL), &r), QMP_ECOMMAND);
    assert_string_equal(json_string_value(json_object_get(r, "desc")), "suspend not supported");
    json_decref(r);
    r = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-ping", NULL), &r), QMP_OK);
    json_decref(r);
    r = NULL;
    /* The channel closing right after guest-shutdown is its success. */
    assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-shutdown", NULL), &r), QMP_OK);
    json_decref(r);
    qmp_client_free(c);
    agent_finish(a);
}

/* --- the trace redacts guest-set-user-password's password ------------------------------- */

static void collect(qmp_client *c, int kind, const char *text, void *user_data)
{
    (void)c;
    (void)kind;
    char *log = user_data;
    size_t len = strlen(log), n = strlen(text);
    if (len + n + 2 < 16384) {
        memcpy(log + len, text, n);
        log[len + n] = '\n';
        log[len + n + 1] = 0;
    }
}

static void script_password(agent *a)
{
    agent_sync(a);
    char *id = agent_expect(a, "guest-set-user-password");
    agent_return(a, id, "{}");
    free(id);
}

static void test_trace_redacts_password(void **state)
{
    (void)state;
    static char log[16384];
    log[0] = 0;
    agent *a = agent_new();
    agent_run(a, script_password);
    qmp_client *c = qmp_client_new();
    assert_int_equal(qmp_client_set_log(c, collect, log, NULL), QMP_OK);
    assert_int_equal(qmp_client_connect_agent_fd(c, a->client_fd, 5000), QMP_OK);
    assert_int_equal(qmp_client_execute_str(c,
        "{\"execute\": \"guest-set-user-password\", \"arguments\": {\"username\": \"alice\", "
        "\"password\": \"aHVudGVyMg==\", \"crypted\": false}}", NULL), QMP_OK);
    assert_non_null(strstr(log, "guest-set-user-password"));
    assert_non_null(strstr(log, "alice"));
    assert_null(strstr(log, "aHVudGVyMg=="));
    qmp_client_free(c);
    agent_finish(a);
}

/* --- async: a timeout, then the next command after a resync ------------------------------- */

static void script_async(agent *a)
{
    agent_sync(a);
    char *id = agent_expect(a, "guest-ping");
    free(id);  /* never answered */
    agent_sync(a);
    id = agent_expect(a, "guest-info");
    agent_return(a, id, "{\"version\": \"7.2\"}");
    free(id);
}

static void on_reply(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    (void)result;
    *(int *)user_data = status;
}

static void test_async_timeout_then_resync(void **state)
{
    (void)state;
    agent *a = agent_new();
    agent_run(a, script_async);
    qmp_client *c = connect_to(a);
    int status = 1;
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = 150;
    assert_int_equal(qmp_client_execute_async(c, qmp_command_new("guest-ping", NULL), &o, on_reply, &status, NULL), QMP_OK);
    long long end = now_ms() + 5000;
    while (status == 1 && now_ms() < end) {
        struct pollfd p = {qmp_client_get_fd(c), POLLIN, 0};
        if (qmp_client_get_events(c) & QMP_POLL_OUT) p.events |= POLLOUT;
        int n = poll(&p, 1, qmp_client_get_timeout_ms(c) < 0 ? 100 : qmp_client_get_timeout_ms(c));
        int rev = 0;
        if (n > 0 && (p.revents & (POLLIN | POLLHUP))) rev |= QMP_POLL_IN;
        if (n > 0 && (p.revents & POLLOUT)) rev |= QMP_POLL_OUT;
        qmp_client_process(c, rev);
    }
    assert_int_equal(status, QMP_ETIMEDOUT);
    json_t *r = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-info", NULL), &r), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(r, "version")), "7.2");
    json_decref(r);
    qmp_client_free(c);
    agent_finish(a);
}

/* --- a resync the agent never answers is replaced by a fresh one ------------------------- */

static void script_lost_resync(agent *a)
{
    agent_sync(a);
    char *id = agent_expect(a, "guest-ping");
    free(id);  /* never answered: the client gives up and resyncs */
    json_t *m = agent_read(a);  /* that resync: lost (the agent restarted) */
    const char *name = json_string_value(json_object_get(m, "execute"));
    if (!name || strcmp(name, "guest-sync-delimited") != 0) agent_fail(a, "expected the first resync");
    json_decref(m);
    agent_sync(a);  /* a fresh one, with the next command */
    id = agent_expect(a, "guest-info");
    agent_return(a, id, "{\"version\": \"after\"}");
    free(id);
}

static void test_lost_resync_replaced(void **state)
{
    (void)state;
    agent *a = agent_new();
    agent_run(a, script_lost_resync);
    qmp_client *c = connect_to(a);
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.timeout_ms = 150;
    json_t *r = NULL;
    assert_int_equal(qmp_client_execute_full(c, qmp_command_new("guest-ping", NULL), &o, &r), QMP_ETIMEDOUT);
    /* Held behind the unanswered resync: times out too, naming the agent. */
    assert_int_equal(qmp_client_execute_full(c, qmp_command_new("guest-info", NULL), &o, &r), QMP_ETIMEDOUT);
    assert_non_null(strstr(qmp_error_last()->message, "guest agent"));
    assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-info", NULL), &r), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(r, "version")), "after");
    json_decref(r);
    qmp_client_free(c);
    agent_finish(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_bytes_before_connect),
        cmocka_unit_test(test_late_reply_after_timeout),
        cmocka_unit_test(test_ids_after_timeout_and_resync),
        cmocka_unit_test(test_exec_deadline_during_status),
        cmocka_unit_test(test_restart_mid_call),
        cmocka_unit_test(test_agent_never_answers),
        cmocka_unit_test(test_commands_answering_only_on_failure),
        cmocka_unit_test(test_trace_redacts_password),
        cmocka_unit_test(test_async_timeout_then_resync),
        cmocka_unit_test(test_lost_resync_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
