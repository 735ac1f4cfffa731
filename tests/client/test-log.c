/*
 * test-log: the wire trace (qmp_client_set_log) shows what is sent and
 * received, says what was dropped, and never shows a secret.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

/* --- secrets at every level, in the callback and in LIBQMP_DEBUG's output --- */

/* A trace of any length, as the callback or stderr delivered it. */
typedef struct {
    char *text;
    size_t len;
    int kinds[5]; /* lines per QMP_LOG_* kind */
} full_trace;

static void full_append(full_trace *t, const char *text)
{
    size_t n = strlen(text);
    t->text = realloc(t->text, t->len + n + 2);
    assert_non_null(t->text);
    memcpy(t->text + t->len, text, n);
    t->len += n;
    t->text[t->len++] = '\n';
    t->text[t->len] = '\0';
}

static void on_full_log(qmp_client *c, int kind, const char *text, void *user_data)
{
    (void)c;
    full_trace *t = user_data;
    if (kind >= 1 && kind <= 4)
        t->kinds[kind]++;
    full_append(t, text);
}

/* Every secret the conversation below sends or receives: none may be traced. */
static const char *const secrets[] = {
    "SENT-vnc-password",    "SENT-secret-data",     "SENT-key-secret-id",  "ECHO-password",
    "UNKNOWN-ID-password",  "NO-ID-key-secret",     "NAMELESS-passphrase", "GREETING-token",
    "MALFORMED-password",   "BOTH-new-secret",      "NOT-QMP-new-secret",
};

/* QEMU 7.2's schema, as the return value of query-qmp-schema. */
static char *schema_7_2(void)
{
    const char *dir = getenv("LIBQMP_TEST_DATA");
    assert_non_null(dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/qemu-7.2/query-qmp-schema.json", dir);
    json_t *reply = json_load_file(path, 0, NULL);
    assert_non_null(reply);
    char *text = json_dumps(json_object_get(reply, "return"), JSON_COMPACT);
    assert_non_null(text);
    json_decref(reply);
    return text;
}

/*
 * set_password, object-add of a secret and blockdev-add with key-secret go
 * out validated (the last two flagged: QMP_LOG_WARNING); the server echoes a
 * password, then sends secrets in every message the client drops or refuses:
 * a reply to an unknown id, one without an id and no command waiting, an
 * event without a name, a second greeting, a malformed error reply and one
 * with both "return" and "error" (QMP_EPROTO for the call), and finally a
 * message that is not QMP, which closes the connection.
 */
static void secret_conversation(qmp_client *c, peer *p)
{
    char *schema = schema_7_2();
    peer_expect(p, "query-qmp-schema", PEER_NO_ARGS);
    peer_return(p, schema);
    free(schema);
    assert_status(qmp_client_set_validation(c, QMP_VALIDATE), QMP_OK);

    peer_expect(p, "set_password", "{\"protocol\": \"vnc\", \"password\": \"SENT-vnc-password\"}");
    peer_reply_raw(p, PEER_LAST, "{\"return\": {\"password\": \"ECHO-password\"}, \"id\": $ID}");
    assert_status(qmp_client_execute_str(c,
                                         "{\"execute\": \"set_password\", \"arguments\": {\"protocol\": \"vnc\","
                                         " \"password\": \"SENT-vnc-password\"}}",
                                         NULL),
                  QMP_OK);

    peer_expect(p, "object-add", PEER_ANY_ARGS);
    peer_return(p, "{}");
    assert_status(qmp_client_execute_str(c,
                                         "{\"execute\": \"object-add\", \"arguments\": {\"qom-type\": \"secret\","
                                         " \"id\": \"sec0\", \"data\": \"SENT-secret-data\", \"loaded\": true}}",
                                         NULL),
                  QMP_OK);

    peer_expect(p, "blockdev-add", PEER_ANY_ARGS);
    peer_return(p, "{}");
    assert_status(qmp_client_execute_str(c,
                                         "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"luks\","
                                         " \"node-name\": \"d0\", \"key-secret\": \"SENT-key-secret-id\","
                                         " \"file\": {\"driver\": \"file\", \"filename\": \"/dev/null\","
                                         " \"x-check-cache-dropped\": true}}}",
                                         NULL),
                  QMP_OK);

    /* Dropped: read while nothing is on the wire (waiting for MARK). */
    peer_send(p, "{\"return\": {\"password\": \"UNKNOWN-ID-password\"}, \"id\": \"somebody-else\"}\r\n");
    peer_send(p, "{\"return\": {\"key-secret\": \"NO-ID-key-secret\"}}\r\n");
    peer_send(p, "{\"event\": null, \"data\": {\"passphrase\": \"NAMELESS-passphrase\"},"
                 " \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n");
    peer_send(p, "{\"QMP\": {\"token\": \"GREETING-token\", \"version\": {}, \"capabilities\": []}}\r\n");
    peer_event(p, "MARK", NULL);
    assert_status(qmp_client_wait_event(c, "MARK", NULL, 0, peer_io_timeout_ms(), NULL), QMP_OK);

    /* Refused replies: the call fails, and its message quotes the reply redacted. */
    peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_reply_raw(p, PEER_LAST, "{\"error\": {\"password\": \"MALFORMED-password\", \"class\": 1}, \"id\": $ID}");
    assert_status(qmp_client_execute_str(c, "{\"execute\": \"query-status\"}", NULL), QMP_EPROTO);
    assert_null(strstr(qmp_error_last()->message, "MALFORMED"));
    assert_non_null(strstr(qmp_error_last()->message, "<redacted>"));
    peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_reply_raw(p, PEER_LAST,
                   "{\"return\": {\"new-secret\": \"BOTH-new-secret\"}, \"error\": {\"class\": \"x\", \"desc\": \"y\"},"
                   " \"id\": $ID}");
    assert_status(qmp_client_execute_str(c, "{\"execute\": \"query-status\"}", NULL), QMP_EPROTO);
    assert_null(strstr(qmp_error_last()->message, "BOTH"));

    /* Not QMP at all: the connection closes, saying why. */
    peer_send(p, "{\"new-secret\": \"NOT-QMP-new-secret\", \"what\": 1}\r\n");
    assert_status(qmp_client_wait_event(c, "NEVER", NULL, 0, peer_io_timeout_ms(), NULL), QMP_ECLOSED);
    assert_null(strstr(qmp_error_last()->message, "NOT-QMP"));
}

static void assert_no_secret(const char *text)
{
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        const char *at = strstr(text, secrets[i]);
        if (!at)
            continue;
        const char *line = at;
        while (line > text && line[-1] != '\n')
            line--;
        const char *end = strchr(at, '\n');
        fail_msg("the trace shows %s: %.*s", secrets[i], (int)(end ? end - line : (long)strlen(line)), line);
    }
}

static void test_secrets_never_reach_the_callback(void **state)
{
    (void)state;
    full_trace t = {0};
    peer *p;
    qmp_client *c = connect_client(&p);
    assert_status(qmp_client_set_log(c, on_full_log, &t, NULL), QMP_OK);
    secret_conversation(c, p);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);

    assert_no_secret(t.text);
    /* Every level was there, and the notes quoted the messages, redacted. */
    assert_true(t.kinds[QMP_LOG_SEND] >= 6);
    assert_true(t.kinds[QMP_LOG_RECEIVE] >= 10);
    assert_int_equal(t.kinds[QMP_LOG_WARNING], 2);
    assert_true(t.kinds[QMP_LOG_INFO] >= 5);
    assert_non_null(strstr(t.text, "dropped a reply with an unknown id: {\"return\":{\"password\":\"<redacted>\"}"));
    assert_non_null(strstr(t.text, "dropped a reply without id, no command waiting: {\"return\":{\"key-secret\":\"<redacted>\"}"));
    assert_non_null(strstr(t.text, "dropped an event without a name: {\"event\":null,\"data\":{\"passphrase\":\"<redacted>\"}"));
    assert_non_null(strstr(t.text, "ignored a second greeting: {\"QMP\":{\"token\":\"<redacted>\""));
    assert_non_null(strstr(t.text, "closing: the server sent a message that is not QMP: {\"new-secret\":\"<redacted>\""));
    assert_non_null(strstr(t.text, "\"data\":\"<redacted>\""));
    assert_non_null(strstr(t.text, "\"key-secret\":\"<redacted>\""));
    free(t.text);
}

static void test_secrets_never_reach_libqmp_debug(void **state)
{
    (void)state;
    char path[] = "/tmp/libqmp-test-log-XXXXXX";
    int out = mkstemp(path);
    assert_true(out >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_int_equal(dup2(out, 2), 2);

    setenv("LIBQMP_DEBUG", "1", 1);
    peer *p;
    qmp_client *c = connect_client(&p);
    unsetenv("LIBQMP_DEBUG");
    secret_conversation(c, p);
    qmp_client_free(c);

    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    assert_int_equal(peer_finish(p), 0);

    off_t size = lseek(out, 0, SEEK_END);
    assert_true(size > 0);
    char *text = malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(pread(out, text, (size_t)size, 0), size);
    text[size] = '\0';
    close(out);

    assert_no_secret(text);
    /* Every level: sent, received, notes, warnings. */
    assert_non_null(strstr(text, "\"execute\":\"set_password\",\"arguments\":{\"protocol\":\"vnc\",\"password\":\"<redacted>\"}"));
    assert_non_null(strstr(text, " -> "));
    assert_non_null(strstr(text, " <- {\"return\":{\"password\":\"<redacted>\"}"));
    assert_non_null(strstr(text, " -- dropped a reply with an unknown id: "));
    assert_non_null(strstr(text, " !! "));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_redacts_secrets),
        cmocka_unit_test(test_trace_says_what_was_dropped),
        cmocka_unit_test(test_secret_member_list_extends),
        cmocka_unit_test(test_secrets_never_reach_the_callback),
        cmocka_unit_test(test_secrets_never_reach_libqmp_debug),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
