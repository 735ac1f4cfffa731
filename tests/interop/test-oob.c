/*
 * test-oob: out-of-band execution against real QEMU.  An in-band command
 * keeps QEMU's main loop busy (blockdev-add of a blkdebug node whose config
 * file is a FIFO blocks in open() until a writer appears); meanwhile an
 * exec-oob migrate-pause is answered, and both replies reach the right
 * callers.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <qmp/qmp.h>
#include "qemu.h"

typedef struct {
    int done;
    int status;
    long long at_ms;
    int destroyed;
} inband;

static void on_inband(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    (void)result;
    inband *r = user_data;
    r->done++;
    r->status = status;
    r->at_ms = now_ms();
}

static void on_destroy(void *user_data) { ((inband *)user_data)->destroyed++; }

static void test_oob_answered_while_inband_blocks(void **state)
{
    (void)state;
    qemu_proc q;
    assert_int_equal(qemu_start(&q, QEMU_SYSTEM, NULL), 0);
    char fifo[200];
    snprintf(fifo, sizeof fifo, "%s/config.fifo", q.dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);

    qmp_client *c = qemu_connect(&q, 1);
    assert_int_equal(qmp_client_has_capability(c, "oob"), 1);

    inband r = {0};
    json_t *image = json_pack("{s:s}", "driver", "null-co");
    json_t *add = qmp_command_new("blockdev-add", "s:driver", "blkdebug", "s:node-name", "dbg0",
                                  "s:config", fifo, "a:image", &image, NULL);
    assert_non_null(add);
    assert_int_equal(qmp_client_execute_async(c, add, NULL, on_inband, &r, on_destroy), QMP_OK);

    /* QEMU's main loop is now stuck opening the FIFO: an in-band command waits... */
    qmp_exec_options busy = QMP_EXEC_OPTIONS_INIT;
    busy.timeout_ms = 300;
    assert_int_equal(qmp_client_execute_full(c, qmp_command_new("query-status", NULL), &busy, NULL), QMP_ETIMEDOUT);
    assert_int_equal(r.done, 0);

    /* ...while an out-of-band one is answered by the monitor thread. */
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.oob = 1;
    o.timeout_ms = 5000;
    long long t0 = now_ms();
    json_t *err = NULL;
    int rc = qmp_client_execute_full(c, qmp_command_new("migrate-pause", NULL), &o, &err);
    long long oob_at = now_ms();
    assert_int_equal(rc, QMP_ECOMMAND);
    assert_string_equal(qmp_error_last()->qmp_class, "GenericError");
    assert_non_null(strstr(qmp_error_last()->qmp_desc, "postcopy"));
    json_decref(err);
    assert_true(oob_at - t0 < 4000);
    assert_int_equal(r.done, 0);  /* the in-band command is still blocked */

    /* Unblock: a writer opens the FIFO and closes it (an empty config). */
    int w = open(fifo, O_WRONLY | O_CLOEXEC);
    assert_true(w >= 0);
    close(w);

    /* Drive until the in-band reply arrives. */
    while (!r.done && now_ms() - t0 < 10000) {
        unsigned long long seq = qmp_client_event_seq(c);
        qmp_client_wait_event(c, "NO-SUCH-EVENT", NULL, seq, 50, NULL);
    }
    assert_int_equal(r.done, 1);
    assert_int_equal(r.destroyed, 1);
    /* Its own reply: blkdebug accepts the empty config, and the node exists. */
    assert_int_equal(r.status, QMP_OK);
    assert_true(r.at_ms >= oob_at);
    json_t *nodes = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("query-named-block-nodes", NULL), &nodes), QMP_OK);
    int found = 0;
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        const char *name = json_string_value(json_object_get(json_array_get(nodes, i), "node-name"));
        found += name && strcmp(name, "dbg0") == 0;
    }
    assert_int_equal(found, 1);
    json_decref(nodes);

    /* The timed-out query-status's late reply went nowhere; the client works. */
    json_t *ret = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("query-status", NULL), &ret), QMP_OK);
    assert_true(json_is_string(json_object_get(ret, "status")));
    json_decref(ret);

    qmp_client_free(c);
    qemu_stop(&q);
}

static void test_oob_needs_negotiation(void **state)
{
    (void)state;
    qemu_proc q;
    assert_int_equal(qemu_start(&q, QEMU_SYSTEM, NULL), 0);
    qmp_client *c = qemu_connect(&q, 0);
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.oob = 1;
    assert_int_equal(qmp_client_execute_full(c, qmp_command_new("migrate-pause", NULL), &o, NULL), QMP_EINVAL);
    assert_non_null(strstr(qmp_error_last()->message, "oob"));
    /* Still usable in band. */
    json_t *ret = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("query-status", NULL), &ret), QMP_OK);
    json_decref(ret);
    qmp_client_free(c);
    qemu_stop(&q);
}

int main(void)
{
    static const qemu_kind kinds[] = {QEMU_SYSTEM};
    int missing = qemu_require(kinds, 1);
    if (missing) return missing;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oob_answered_while_inband_blocks),
        cmocka_unit_test(test_oob_needs_negotiation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
