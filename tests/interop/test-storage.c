/*
 * The client against a real qemu-storage-daemon with a null-co node
 * "null0": transactions, block queries.
 */
#include "fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The names of null0's dirty bitmaps, sorted into a "b1,b2" string. */
static void bitmap_names(qmp_client *c, char *out, size_t outlen)
{
    json_t *nodes = exec_ok(c, qmp_command_new("query-named-block-nodes", "b:flat", 1, NULL));
    assert_true(json_is_array(nodes));
    const char *names[16];
    size_t n = 0;
    int found = 0;
    size_t i, j;
    json_t *node, *bm;
    json_array_foreach(nodes, i, node) {
        if (strcmp(json_string_value(json_object_get(node, "node-name")), "null0") != 0)
            continue;
        found = 1;
        json_array_foreach(json_object_get(node, "dirty-bitmaps"), j, bm) {
            assert_true(n < 16);
            names[n++] = json_string_value(json_object_get(bm, "name"));
            assert_int_equal(json_integer_value(json_object_get(bm, "granularity")), 65536);
        }
    }
    assert_int_equal(found, 1);
    /* Sort (QEMU lists the newest first). */
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++)
            if (strcmp(names[b], names[a]) < 0) {
                const char *t = names[a];
                names[a] = names[b];
                names[b] = t;
            }
    out[0] = '\0';
    for (size_t a = 0; a < n; a++) {
        if (a)
            strncat(out, ",", outlen - strlen(out) - 1);
        strncat(out, names[a], outlen - strlen(out) - 1);
    }
    json_decref(nodes);
}

static json_t *bitmap_add_action(const char *name)
{
    json_t *a = qmp_transaction_action_new("block-dirty-bitmap-add",
                                           "s:node", "null0", "s:name", name, NULL);
    assert_non_null(a);
    return a;
}

static void test_greeting_and_version(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);

    int bmajor, bminor, bmicro, major, minor, micro;
    assert_int_equal(qemu_binary_version(QEMU_STORAGE_DAEMON, &bmajor, &bminor, &bmicro), 0);
    assert_int_equal(qmp_client_get_version(f->c, &major, &minor, &micro), QMP_OK);
    assert_int_equal(major, bmajor);
    assert_int_equal(minor, bminor);
    assert_int_equal(micro, bmicro);
    assert_non_null(json_object_get(qmp_client_greeting(f->c), "QMP"));

    /* The storage daemon has no VM: query-status does not exist there. */
    json_t *cmd = qmp_command_new("query-status", NULL);
    exec_fails_with(f->c, cmd, "CommandNotFound");
}

static void test_transaction_two_bitmaps(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);

    char names[256];
    bitmap_names(f->c, names, sizeof names);
    assert_string_equal(names, "");

    json_t *actions = json_array();
    assert_int_equal(json_array_append_new(actions, bitmap_add_action("b1")), 0);
    assert_int_equal(json_array_append_new(actions, bitmap_add_action("b2")), 0);
    json_t *tx = qmp_transaction_new(actions, NULL);
    assert_non_null(tx);
    json_decref(exec_ok(f->c, tx));

    bitmap_names(f->c, names, sizeof names);
    assert_string_equal(names, "b1,b2");

    /* Adding b1 again fails... */
    exec_fails_with(f->c, qmp_command_new("block-dirty-bitmap-add", "s:node", "null0",
                                          "s:name", "b1", NULL), "GenericError");
    assert_non_null(strstr(qmp_error_last()->qmp_desc, "b1"));

    /* ...and a transaction with it fails whole: b3 is not added either. */
    actions = json_array();
    assert_int_equal(json_array_append_new(actions, bitmap_add_action("b3")), 0);
    assert_int_equal(json_array_append_new(actions, bitmap_add_action("b1")), 0);
    exec_fails_with(f->c, qmp_transaction_new(actions, NULL), "GenericError");
    bitmap_names(f->c, names, sizeof names);
    assert_string_equal(names, "b1,b2");

    /* A completion mode reaches QEMU: "grouped" is refused for this action. */
    actions = json_array();
    assert_int_equal(json_array_append_new(actions, bitmap_add_action("b4")), 0);
    exec_fails_with(f->c, qmp_transaction_new(actions, "grouped"), "GenericError");
    assert_non_null(strstr(qmp_error_last()->qmp_desc, "grouped"));
    actions = json_array();
    assert_int_equal(json_array_append_new(actions, bitmap_add_action("b4")), 0);
    json_decref(exec_ok(f->c, qmp_transaction_new(actions, "individual")));
    bitmap_names(f->c, names, sizeof names);
    assert_string_equal(names, "b1,b2,b4");

    /* Remove them in one transaction too. */
    actions = json_array();
    const char *rm[] = { "b1", "b2", "b4" };
    for (int i = 0; i < 3; i++) {
        json_t *a = qmp_transaction_action_new("block-dirty-bitmap-remove",
                                               "s:node", "null0", "s:name", rm[i], NULL);
        assert_non_null(a);
        assert_int_equal(json_array_append_new(actions, a), 0);
    }
    json_decref(exec_ok(f->c, qmp_transaction_new(actions, NULL)));
    bitmap_names(f->c, names, sizeof names);
    assert_string_equal(names, "");
}

/* A block job: JOB_STATUS_CHANGE events with data, filtered by id. */
static void test_job_events(void **state)
{
    fixture *f = *state;
    fixture_connect(f, 0);

    json_decref(exec_ok(f->c, qmp_command_new("blockdev-add",
        "s:driver", "null-co", "s:node-name", "null1", "U:size", 67108864ULL, NULL)));

    unsigned long long seq = qmp_client_event_seq(f->c);
    /* A mirror of 64 MiB of zeroes: it completes fast once started. */
    json_decref(exec_ok(f->c, qmp_command_new("blockdev-mirror",
        "s:job-id", "job0", "s:device", "null0", "s:target", "null1", "s:sync", "full", NULL)));

    json_t *ev = NULL;
    json_t *match = json_pack("{s:s, s:s}", "id", "job0", "status", "ready");
    assert_int_equal(qmp_client_wait_event(f->c, "JOB_STATUS_CHANGE", match, seq, 20000, &ev), QMP_OK);
    json_decref(match);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "data"), "status")), "ready");
    json_decref(ev);

    unsigned long long seq2 = qmp_client_event_seq(f->c);
    json_decref(exec_ok(f->c, qmp_command_new("job-complete", "s:id", "job0", NULL)));
    char *text = NULL;
    assert_int_equal(qmp_client_wait_event_str(f->c, "BLOCK_JOB_COMPLETED",
                                               "{\"device\": \"job0\", \"type\": \"mirror\"}",
                                               seq2, 20000, &text), QMP_OK);
    assert_non_null(strstr(text, "\"len\""));
    qmp_free(text);
    assert_int_equal(qmp_client_wait_event_str(f->c, "JOB_STATUS_CHANGE",
                                               "{\"id\": \"job0\", \"status\": \"concluded\"}",
                                               seq2, 20000, NULL), QMP_OK);
    /* Auto-dismissed: gone from query-jobs. */
    long long deadline = now_ms() + 5000;
    for (;;) {
        json_t *jobs = exec_ok(f->c, qmp_command_new("query-jobs", NULL));
        size_t n = json_array_size(jobs);
        json_decref(jobs);
        if (n == 0)
            break;
        assert_true(now_ms() < deadline);
    }
}

int main(void)
{
    const qemu_kind needed[] = { QEMU_STORAGE_DAEMON };
    int rc = qemu_require(needed, 1);
    if (rc)
        return rc;
    /* LIBQMP_TEST_FILTER=test_name (a glob) runs some of the cases only. */
    if (getenv("LIBQMP_TEST_FILTER"))
        cmocka_set_test_filter(getenv("LIBQMP_TEST_FILTER"));

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup_storage_daemon, fixture_teardown)
    const struct CMUnitTest tests[] = {
        T(test_greeting_and_version),
        T(test_transaction_two_bitmaps),
        T(test_job_events),
    };
    return cmocka_run_group_tests_name("interop: qemu-storage-daemon", tests, NULL, NULL);
}
