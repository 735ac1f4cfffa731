/*
 * The client on a guest agent connection, against a real qemu-ga started per
 * test by qga.h (always with -b: every command that changes the machine is
 * blocked).  Only read-only commands, guest-exec of /bin/echo, and files in
 * the instance's private directory are used here.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <qmp/qmp.h>
#include <qmp/qmp-glib.h>

#include "qga.h"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static qmp_client *connect_agent(const qga *g)
{
    qmp_client *c = qmp_client_new();
    assert_non_null(c);
    int rc = qmp_client_connect_agent_unix(c, g->sock, 10000);
    if (rc != QMP_OK) fail_msg("connect: %s", qmp_error_last()->message);
    return c;
}

static void test_connect_and_ping(void **state)
{
    (void)state;
    qga g;
    qga_start(&g);
    qmp_client *c = connect_agent(&g);
    assert_int_equal(qmp_client_is_agent(c), 1);
    assert_int_equal(qmp_client_is_connected(c), 1);
    assert_null(qmp_client_greeting(c));
    json_t *r = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-ping", NULL), &r), QMP_OK);
    assert_true(json_is_object(r));
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
    /* The ids of a second and third command route as well. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-ping", NULL), &r), QMP_OK);
        json_decref(r);
    }
    qmp_client_close(c);
    assert_int_equal(qmp_client_is_agent(c), 0);
    qmp_client_free(c);
    qga_stop(&g);
}

/* guest-info lists the commands -b blocked as disabled: the safety net holds. */
static void test_blocked_commands_disabled(void **state)
{
    (void)state;
    qga g;
    qga_start(&g);
    qmp_client *c = connect_agent(&g);
    json_t *r = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-info", NULL), &r), QMP_OK);
    json_t *cmds = json_object_get(r, "supported_commands");
    assert_true(json_is_array(cmds));
    const char *blocked[] = {"guest-shutdown", "guest-suspend-ram", "guest-set-time", "guest-fsfreeze-freeze",
                             "guest-set-user-password", "guest-fstrim"};
    int seen = 0;
    size_t i;
    json_t *cmd;
    json_array_foreach(cmds, i, cmd) {
        const char *name = json_string_value(json_object_get(cmd, "name"));
        for (size_t k = 0; k < sizeof blocked / sizeof *blocked; k++) {
            if (name && strcmp(name, blocked[k]) == 0) {
                assert_true(json_is_false(json_object_get(cmd, "enabled")));
                seen++;
            }
        }
        if (name && strcmp(name, "guest-ping") == 0) assert_true(json_is_true(json_object_get(cmd, "enabled")));
    }
    assert_int_equal(seen, 6);
    json_decref(r);
    qmp_client_free(c);
    qga_stop(&g);
}

/* The agent's own error for an unknown command: QMP_ECOMMAND with class and desc. */
static void test_command_error(void **state)
{
    (void)state;
    qga g;
    qga_start(&g);
    qmp_client *c = connect_agent(&g);
    json_t *r = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-no-such-command", NULL), &r), QMP_ECOMMAND);
    assert_string_equal(json_string_value(json_object_get(r, "class")), "CommandNotFound");
    json_decref(r);
    /* The connection still works. */
    assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-ping", NULL), &r), QMP_OK);
    json_decref(r);
    qmp_client_free(c);
    qga_stop(&g);
}

/* fds, exec-oob and schema queries are QMP's: QMP_EINVAL, the agent never sees them. */
/*
 * qemu-ga answers each command before it reads on and has no queue to
 * overrun: 64 commands go out at once and each callback gets its own
 * answer, in order (odd ones name no command, so each error names its own).
 */
#define AGENT_MANY 64

struct agent_slot {
    int index;
    int *next;
    int order_errors;
    int status;
    char *text;
};

static void agent_slot_reply(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    struct agent_slot *s = user_data;
    if (*s->next != s->index) s->order_errors++;
    (*s->next)++;
    s->status = status;
    s->text = result ? json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("");
}

static void test_many_in_flight(void **state)
{
    (void)state;
    qga g;
    qga_start(&g);
    qmp_client *c = connect_agent(&g);
    static struct agent_slot s[AGENT_MANY];
    int next = 0;
    for (int i = 0; i < AGENT_MANY; i++) {
        char name[40];
        snprintf(name, sizeof name, i % 2 ? "x-no-such-%d" : "guest-ping", i);
        s[i] = (struct agent_slot){.index = i, .next = &next};
        assert_int_equal(qmp_client_execute_async(c, qmp_command_new(name, NULL), NULL, agent_slot_reply, &s[i], NULL),
                         QMP_OK);
    }
    /* All were written at once: nothing is left for the socket to take. */
    assert_int_equal(qmp_client_get_events(c) & QMP_POLL_OUT, 0);
    /* The agent answers in order: this one's answer comes after all of theirs. */
    json_t *r = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-ping", NULL), &r), QMP_OK);
    json_decref(r);
    assert_int_equal(next, AGENT_MANY);
    for (int i = 0; i < AGENT_MANY; i++) {
        assert_int_equal(s[i].order_errors, 0);
        if (i % 2) {
            char want[40];
            snprintf(want, sizeof want, "x-no-such-%d", i);
            assert_int_equal(s[i].status, QMP_ECOMMAND);
            assert_non_null(strstr(s[i].text, want));
        } else {
            assert_int_equal(s[i].status, QMP_OK);
            assert_string_equal(s[i].text, "{}");
        }
        free(s[i].text);
    }
    qmp_client_free(c);
    qga_stop(&g);
}

static void test_qmp_only_features_refused(void **state)
{
    (void)state;
    qga g;
    qga_start(&g);
    qmp_client *c = connect_agent(&g);
    json_t *r = NULL;
    int fd = 0;
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.fds = &fd;
    o.nfds = 1;
    assert_int_equal(qmp_client_execute_full(c, qmp_command_new("guest-ping", NULL), &o, &r), QMP_EINVAL);
    assert_non_null(strstr(qmp_error_last()->message, "guest agent"));
    assert_int_equal(qmp_client_execute_str(c, "{\"exec-oob\": \"guest-ping\"}", NULL), QMP_EINVAL);
    assert_non_null(strstr(qmp_error_last()->message, "exec-oob"));
    assert_null(qmp_client_get_schema(c, 0));
    assert_int_equal(qmp_error_last()->code, QMP_EINVAL);
    assert_non_null(strstr(qmp_error_last()->message, "guest agent"));
    assert_int_equal(qmp_client_execute(c, qmp_command_new("guest-ping", NULL), &r), QMP_OK);
    json_decref(r);
    qmp_client_free(c);
    qga_stop(&g);
}

/* A socket that does not exist yet is retried until the agent creates it. */
static void test_missing_socket_retried(void **state)
{
    (void)state;
    qga g;
    qga_spawn(&g);  /* not waiting for the socket */
    qmp_client *c = qmp_client_new();
    int rc = qmp_client_connect_agent_unix(c, g.sock, 10000);
    if (rc != QMP_OK) fail_msg("connect: %s", qmp_error_last()->message);
    assert_int_equal(qmp_client_is_agent(c), 1);
    qmp_client_free(c);
    qga_stop(&g);
}

/* A socket nobody answers on (no agent in the guest): QMP_ETIMEDOUT within the timeout, naming the agent. */
static void test_agent_absent(void **state)
{
    (void)state;
    char dir[] = "/tmp/libqmp-noagent-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/silent.sock", dir);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 1), 0);
    qmp_client *c = qmp_client_new();
    long long t0 = now_ms();
    assert_int_equal(qmp_client_connect_agent_unix(c, path, 300), QMP_ETIMEDOUT);
    long long took = now_ms() - t0;
    assert_true(took >= 290);
    assert_true(took < 5000);
    assert_non_null(strstr(qmp_error_last()->message, "guest agent"));
    assert_int_equal(qmp_client_is_agent(c), 0);
    qmp_client_free(c);
    close(lfd);
    unlink(path);
    rmdir(dir);
}

/* guest-exec of /bin/echo, then guest-exec-status: the output comes back base64. */
static void test_exec_echo(void **state)
{
    (void)state;
    qga g;
    qga_start(&g);
    qmp_client *c = connect_agent(&g);
    char *out = NULL;
    assert_int_equal(qmp_client_execute_str(c,
        "{\"execute\": \"guest-exec\", \"arguments\": {\"path\": \"/bin/echo\", \"arg\": [\"hello\"], "
        "\"capture-output\": true}}", &out), QMP_OK);
    json_t *r = json_loads(out, 0, NULL);
    qmp_free(out);
    long long pid = json_integer_value(json_object_get(r, "pid"));
    json_decref(r);
    assert_true(pid > 0);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "{\"execute\": \"guest-exec-status\", \"arguments\": {\"pid\": %lld}}", pid);
    json_t *st = NULL;
    for (int i = 0; i < 500; i++) {
        out = NULL;
        assert_int_equal(qmp_client_execute_str(c, cmd, &out), QMP_OK);
        st = json_loads(out, 0, NULL);
        qmp_free(out);
        if (json_is_true(json_object_get(st, "exited"))) break;
        json_decref(st);
        st = NULL;
        usleep(10000);
    }
    assert_non_null(st);
    assert_int_equal(json_integer_value(json_object_get(st, "exitcode")), 0);
    assert_string_equal(json_string_value(json_object_get(st, "out-data")), "aGVsbG8K"); /* "hello\n" */
    json_decref(st);
    qmp_client_free(c);
    qga_stop(&g);
}

struct logbuf {
    char text[65536];
    size_t len;
};

static void collect(qmp_client *c, int kind, const char *text, void *user_data)
{
    (void)c;
    (void)kind;
    struct logbuf *b = user_data;
    size_t n = strlen(text);
    if (b->len + n + 2 < sizeof b->text) {
        memcpy(b->text + b->len, text, n);
        b->len += n;
        b->text[b->len++] = '\n';
        b->text[b->len] = 0;
    }
}

/* guest-file-write's data (buf-b64) never reaches the trace; the file is in the private directory. */
static void test_trace_redacts_file_data(void **state)
{
    (void)state;
    qga g;
    qga_start(&g);
    qmp_client *c = connect_agent(&g);
    static struct logbuf log;
    memset(&log, 0, sizeof log);
    assert_int_equal(qmp_client_set_log(c, collect, &log, NULL), QMP_OK);
    char path[400], cmd[700];
    qga_path(&g, "secret.txt", path, sizeof path);
    snprintf(cmd, sizeof cmd, "{\"execute\": \"guest-file-open\", \"arguments\": {\"path\": \"%s\", \"mode\": \"w\"}}", path);
    char *out = NULL;
    assert_int_equal(qmp_client_execute_str(c, cmd, &out), QMP_OK);
    long long h = atoll(out);
    qmp_free(out);
    /* "c2VjcmV0LWRhdGE=" is "secret-data" */
    snprintf(cmd, sizeof cmd, "{\"execute\": \"guest-file-write\", \"arguments\": {\"handle\": %lld, \"buf-b64\": \"c2VjcmV0LWRhdGE=\"}}", h);
    assert_int_equal(qmp_client_execute_str(c, cmd, NULL), QMP_OK);
    snprintf(cmd, sizeof cmd, "{\"execute\": \"guest-file-close\", \"arguments\": {\"handle\": %lld}}", h);
    assert_int_equal(qmp_client_execute_str(c, cmd, NULL), QMP_OK);
    assert_non_null(strstr(log.text, "guest-file-write"));
    assert_null(strstr(log.text, "c2VjcmV0LWRhdGE="));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[32] = {0};
    assert_int_equal(fread(buf, 1, sizeof buf - 1, f), 11);
    fclose(f);
    assert_string_equal(buf, "secret-data");
    qmp_client_free(c);
    qga_stop(&g);
}

struct pinger {
    qmp_client *c;
    int ok;
};

static void *ping_loop(void *arg)
{
    struct pinger *p = arg;
    for (int i = 0; i < 20; i++) {
        json_t *r = NULL;
        if (qmp_client_execute(p->c, qmp_command_new("guest-ping", NULL), &r) == QMP_OK && json_is_object(r)) p->ok++;
        json_decref(r);
    }
    return NULL;
}

/* Several threads share the one agent connection; each gets its own replies. */
static void test_threads(void **state)
{
    (void)state;
    qga g;
    qga_start(&g);
    qmp_client *c = connect_agent(&g);
    struct pinger p[3] = {{c, 0}, {c, 0}, {c, 0}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++) assert_int_equal(pthread_create(&t[i], NULL, ping_loop, &p[i]), 0);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++) assert_int_equal(p[i].ok, 20);
    qmp_client_free(c);
    qga_stop(&g);
}

static void on_reply(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    int *done = user_data;
    if (status == QMP_OK && json_is_object(result)) *done += 1;
    else *done = -1000;
}

/* execute_async on an agent connection, driven by the caller's poll loop. */
static void test_async_with_loop(void **state)
{
    (void)state;
    qga g;
    qga_start(&g);
    qmp_client *c = connect_agent(&g);
    int done = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal(qmp_client_execute_async(c, qmp_command_new("guest-ping", NULL), NULL, on_reply, &done, NULL), QMP_OK);
    long long end = now_ms() + 10000;
    while (done < 3 && done >= 0 && now_ms() < end) {
        fd_set rd, wr;
        FD_ZERO(&rd);
        FD_ZERO(&wr);
        int fd = qmp_client_get_fd(c);
        int ev = qmp_client_get_events(c);
        if (ev & QMP_POLL_IN) FD_SET(fd, &rd);
        if (ev & QMP_POLL_OUT) FD_SET(fd, &wr);
        struct timeval tv = {0, 100000};
        int n = select(fd + 1, &rd, &wr, NULL, &tv);
        int revents = 0;
        if (n > 0 && FD_ISSET(fd, &rd)) revents |= QMP_POLL_IN;
        if (n > 0 && FD_ISSET(fd, &wr)) revents |= QMP_POLL_OUT;
        qmp_client_process(c, revents);
    }
    assert_int_equal(done, 3);
    qmp_client_free(c);
    qga_stop(&g);
}

/* Attached to a GMainContext: async calls complete as the context runs, and a sync call waits on it. */
static void test_glib_attach(void **state)
{
    (void)state;
    qga g;
    qga_start(&g);
    qmp_client *c = connect_agent(&g);
    GMainContext *ctx = g_main_context_new();
    assert_int_equal(qmp_client_attach(c, ctx), QMP_OK);
    int done = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal(qmp_client_execute_async(c, qmp_command_new("guest-ping", NULL), NULL, on_reply, &done, NULL), QMP_OK);
    long long end = now_ms() + 10000;
    while (done < 3 && done >= 0 && now_ms() < end) g_main_context_iteration(ctx, TRUE);
    assert_int_equal(done, 3);
    qmp_client_detach(c);
    qmp_client_free(c);
    g_main_context_unref(ctx);
    qga_stop(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_and_ping),
        cmocka_unit_test(test_blocked_commands_disabled),
        cmocka_unit_test(test_command_error),
        cmocka_unit_test(test_many_in_flight),
        cmocka_unit_test(test_qmp_only_features_refused),
        cmocka_unit_test(test_missing_socket_retried),
        cmocka_unit_test(test_agent_absent),
        cmocka_unit_test(test_exec_echo),
        cmocka_unit_test(test_trace_redacts_file_data),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_async_with_loop),
        cmocka_unit_test(test_glib_attach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
