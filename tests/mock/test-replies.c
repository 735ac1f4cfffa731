/*
 * qmp_mock_load_replies(): libvirt's .replies format.  A recording of QEMU
 * 7.2 (tests/data/qemu-7.2/session.replies, made by
 * tests/data/record-replies.py) replays into the test server and the client
 * gets the answers QEMU gave; malformed files are refused naming the line.
 */
#include "helpers.h"

#include <errno.h>
#include <unistd.h>

static char g_dir[] = "/tmp/libqmp-replies-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(g_dir);
}

/* Writes text to a file in the test's directory; returns its path (static). */
static const char *write_file(const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/t.replies", g_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static char *data_path(const char *name)
{
    const char *dir = getenv("LIBQMP_TEST_DATA");
    if (!dir)
        fail_msg("LIBQMP_TEST_DATA is not set");
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* The recorded values, read here with jansson, apart from the library. */
static json_t *recorded_values(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    json_t *all = json_array();
    char block[1 << 16];
    size_t len = 0;
    char line[4096];
    for (;;) {
        char *got = fgets(line, sizeof line, f);
        if (!got || line[0] == '\n') {
            if (len) {
                json_error_t err;
                json_t *v = json_loadb(block, len, 0, &err);
                assert_non_null(v);
                json_array_append_new(all, v);
                len = 0;
            }
            if (!got)
                break;
            continue;
        }
        size_t l = strlen(line);
        assert_true(len + l < sizeof block);
        memcpy(block + len, line, l);
        len += l;
    }
    fclose(f);
    return all;
}

/* Replays the QEMU 7.2 recording: every command gets the answer QEMU gave
 * (compared as JSON, ids aside), the events come where they came. */
static void test_replay_qemu_recording(void **state)
{
    (void)state;
    char *path = data_path("qemu-7.2/session.replies");
    json_t *values = recorded_values(path);
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_load_replies(m, path));
    qmp_client *c = connect_mock(m);
    size_t i;
    json_t *v;
    int commands = 0, events = 0;
    json_array_foreach(values, i, v) {
        const char *name = json_string_value(json_object_get(v, "execute"));
        if (!name)
            continue;
        if (strcmp(name, "qmp_capabilities") == 0)
            continue; /* the negotiation, done by qmp_client_connect_fd() */
        /* The command as recorded, without its id. */
        json_t *cmd = json_deep_copy(v);
        json_object_del(cmd, "id");
        unsigned long long seq = qmp_client_event_seq(c);
        json_t *result = NULL;
        int rc = qmp_client_execute(c, cmd, &result);
        /* The response follows the command, after the events that came first. */
        size_t j = i + 1;
        for (; j < json_array_size(values) && json_object_get(json_array_get(values, j), "event"); j++) {
            const char *ev = json_string_value(json_object_get(json_array_get(values, j), "event"));
            json_t *got = NULL;
            assert_ok(qmp_client_wait_event(c, ev, NULL, seq, wait_ms(), &got));
            assert_true(json_equal(json_object_get(got, "timestamp"),
                                   json_object_get(json_array_get(values, j), "timestamp")));
            json_decref(got);
            events++;
        }
        json_t *resp = json_array_get(values, j);
        if (json_object_get(resp, "return")) {
            assert_ok(rc);
            assert_true(json_equal(result, json_object_get(resp, "return")));
        } else {
            assert_int_equal(rc, QMP_ECOMMAND);
            json_t *err = json_object_get(resp, "error");
            assert_string_equal(qmp_error_last()->qmp_class, json_string_value(json_object_get(err, "class")));
            assert_string_equal(qmp_error_last()->qmp_desc, json_string_value(json_object_get(err, "desc")));
        }
        json_decref(result);
        commands++;
    }
    assert_int_equal(commands, 8);
    assert_int_equal(events, 2); /* STOP and RESUME */
    assert_ok(qmp_mock_verify(m, wait_ms()));
    qmp_client_free(c);
    qmp_mock_free(m);
    json_decref(values);
    free(path);
}

/* With QEMU 7.2's schema too: the recording is what QEMU would send. */
static void test_replay_checked_by_schema(void **state)
{
    (void)state;
    char *spath = data_path("qemu-7.2/query-qmp-schema.json");
    FILE *f = fopen(spath, "rb");
    assert_non_null(f);
    static char text[4 << 20];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    free(spath);
    qmp_schema *s = qmp_schema_new_str(text, n);
    assert_non_null(s);
    char *path = data_path("qemu-7.2/session.replies");
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_set_schema(m, s));
    assert_ok(qmp_mock_load_replies(m, path));
    free(path);
    qmp_schema_unref(s);
    qmp_mock_free(m);
}

/* ids replaced, the leading qmp_capabilities consumed, numbers exact. */
static void test_ids_and_numbers(void **state)
{
    (void)state;
    const char *path = write_file(
        "{\n    \"execute\": \"qmp_capabilities\",\n    \"id\": \"libvirt-1\"\n}\n\n"
        "{\n    \"return\": {\n    },\n    \"id\": \"libvirt-1\"\n}\n\n"
        "{\n    \"execute\": \"query-big\",\n    \"arguments\": {\"n\": 18446744073709551615},\n"
        "    \"id\": \"libvirt-2\"\n}\n\n"
        "{\n    \"return\": {\"size\": 18446744073709551614},\n    \"id\": \"libvirt-2\"\n}\n");
    qmp_mock *m = qmp_mock_new();
    assert_ok(qmp_mock_load_replies(m, path));
    qmp_client *c = connect_mock(m);
    int rc;
    char *r = run(c, "{\"execute\": \"query-big\", \"arguments\": {\"n\": 18446744073709551615}}", &rc);
    assert_ok(rc);
    assert_string_equal(r, "{\"size\":18446744073709551614}");
    qmp_free(r);
    assert_ok(qmp_mock_verify(m, wait_ms()));
    qmp_client_free(c);
    qmp_mock_free(m);
    unlink(path);
}

static void assert_load_fails(const char *text, const char *message_after_path)
{
    const char *path = write_file(text);
    char want[512];
    snprintf(want, sizeof want, "%s:%s", path, message_after_path);
    qmp_mock *m = qmp_mock_new();
    assert_error(qmp_mock_load_replies(m, path), QMP_EINVAL, want);
    /* Nothing was appended. */
    assert_ok(qmp_mock_verify(m, 0));
    qmp_mock_free(m);
    unlink(path);
}

static void test_bad_files(void **state)
{
    (void)state;
    assert_load_fails("{\"execute\": \"stop\"}\n\n{\"return\": {}}\n\n{\n    \"execute\": \"cont\",\n    \"id\"",
                      "5: the JSON value that starts here is cut off");
    assert_load_fails("{\"execute\": \"stop\"}\n\n{\"execute\": \"cont\"}\n\n{\"return\": {}}\n",
                      "1: the command 'stop' has no response (line 3 holds the next command)");
    assert_load_fails("{\"execute\": \"stop\"}\n\n{\"return\": {}}\n\n{\"execute\": \"cont\"}\n",
                      "5: the command 'cont' has no response (the file ends)");
    assert_load_fails("{\"execute\": \"stop\"}\n\n{\"return\": {}}\n\nexecute stop\n",
                      "5: not JSON: malformed JSON: unexpected 'e' at byte 0");
    assert_load_fails("{\"return\": {}}\n", "1: a response without a command before it");
    assert_load_fails("{\"execute\": \"stop\"}\n\n{\"return\": {}, \"error\": {}}\n",
                      "3: a response must be {\"return\": ...} or {\"error\": {\"class\": ..., \"desc\": ...}}, not both");
    assert_load_fails("{\"execute\": \"stop\"}\n\n{\"return\": {}}\n\n{\"event\": 5}\n",
                      "5: an event must have an \"event\" name");
    assert_load_fails("\n\n[1, 2]\n", "3: not a JSON object");
    assert_load_fails("{\"hello\": 1}\n", "1: neither a command, a response nor an event");

    qmp_mock *m = qmp_mock_new();
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.replies", g_dir);
    assert_int_equal(qmp_mock_load_replies(m, missing), QMP_EIO);
    assert_int_equal(qmp_error_last()->sys_errno, ENOENT);
    assert_error(qmp_mock_load_replies(m, NULL), QMP_EINVAL, "the .replies path is NULL");
    qmp_mock_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_qemu_recording),
        cmocka_unit_test(test_replay_checked_by_schema),
        cmocka_unit_test(test_ids_and_numbers),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
