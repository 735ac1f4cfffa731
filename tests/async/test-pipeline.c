/*
 * test-pipeline: many async commands at once.  Without "oob" QEMU reads one
 * command at a time and drops none, so the client sends them all; with
 * "oob" negotiated it keeps at most 7 in-band commands unanswered (QEMU
 * stops reading when its queue of 8 fills, and an out-of-band command
 * behind them would wait) and holds the rest back until replies come.
 * Replies in any order reach their own callbacks; out-of-band commands are
 * not held back and may overtake.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <qmp/qmp.h>

#include "echo-peer.h"
#include "helpers.h"
#include "peer.h"

#define N 20

static json_t *work(int n)
{
    return qmp_command_new("work", "i:n", n, NULL);
}

static int expect_work(peer *p, int n)
{
    char args[32];
    snprintf(args, sizeof args, "{\"n\": %d}", n);
    return peer_expect(p, "work", args);
}

static void return_work(peer *p, int cmd, int n)
{
    char ret[48];
    snprintf(ret, sizeof ret, "{\"n\": %d, \"echo\": \"w%d\"}", n, n);
    peer_return_to(p, cmd, ret);
}

static void assert_work_result(struct tally *t, int n)
{
    char want[48];
    snprintf(want, sizeof want, "{\"echo\":\"w%d\",\"n\":%d}", n, n);
    assert_tally(t, QMP_OK, want);
}

/* The order in which the peer replies: reversed, then shuffled, then shuffled. */
static const int reply_order[N] = { 7, 6, 5, 4, 3, 2, 1, 0,
                                    11, 8, 15, 9, 14, 10, 13, 12,
                                    18, 16, 19, 17 };

/* Without "oob": all twenty go out at once, before any reply. */
static void test_no_limit_without_oob_and_reordering(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_client(&p);
    int cmd[N];

    for (int n = 0; n < N; n++)
        cmd[n] = expect_work(p, n);
    for (int k = 0; k < N; k++)
        return_work(p, cmd[reply_order[k]], reply_order[k]);

    atomic_int done = 0;
    struct tally t[N];
    for (int n = 0; n < N; n++) {
        tally_init(&t[n], &done);
        assert_status(tally_send(c, work(n), NULL, &t[n]), QMP_OK);
    }
    /* All sent without anything driving the client. */
    free(peer_received(p, cmd[N - 1]));

    assert_int_equal(pump_until(c, &done, N, t_io_timeout_ms(), NULL), QMP_OK);
    for (int n = 0; n < N; n++)
        assert_work_result(&t[n], n);
    /* Callbacks in the order the server replied. */
    for (int k = 1; k < N; k++) {
        if (atomic_load(&t[reply_order[k]].cb_tick) <= atomic_load(&t[reply_order[k - 1]].cb_tick))
            fail_msg("reply %d (to work %d) reached its callback before reply %d (to work %d)",
                     k, reply_order[k], k - 1, reply_order[k - 1]);
    }

    qmp_client_free(c);
    for (int n = 0; n < N; n++)
        tally_clear(&t[n]);
    assert_int_equal(peer_finish(p), 0);
}

/* With "oob": seven at once; each reply lets one more go. */
static void test_limit_with_oob(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_oob_client(&p);
    int cmd[N];

    for (int n = 0; n < 7; n++)
        cmd[n] = expect_work(p, n);
    peer_expect_quiet(p, 300);
    /* Replies in reverse order: each frees one place for the next held command. */
    for (int n = 7; n < 14; n++) {
        return_work(p, cmd[13 - n], 13 - n);
        cmd[n] = expect_work(p, n);
    }
    peer_expect_quiet(p, 300);
    for (int n = 7; n < 14; n++)
        return_work(p, cmd[n], n);
    for (int n = 14; n < N; n++)
        cmd[n] = expect_work(p, n);
    for (int n = 14; n < N; n++)
        return_work(p, cmd[n], n);

    atomic_int done = 0;
    struct tally t[N];
    for (int n = 0; n < N; n++) {
        tally_init(&t[n], &done);
        assert_status(tally_send(c, work(n), NULL, &t[n]), QMP_OK);
    }
    assert_int_equal(pump_until(c, &done, N, t_io_timeout_ms(), NULL), QMP_OK);
    for (int n = 0; n < N; n++) {
        assert_work_result(&t[n], n);
        tally_clear(&t[n]);
    }
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

/* A synchronous call waits its turn behind held-back async ones, and gets its own reply. */
static void test_sync_behind_async(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_oob_client(&p);
    int cmd[9];
    for (int n = 0; n < 7; n++)
        cmd[n] = expect_work(p, n);
    peer_expect_quiet(p, 200);
    return_work(p, cmd[6], 6);
    cmd[7] = expect_work(p, 7);
    for (int n = 7; n >= 0; n--)
        if (n != 6) return_work(p, cmd[n], n);
    cmd[8] = peer_expect(p, "query-status", PEER_NO_ARGS);
    peer_return_to(p, cmd[8], "{\"status\": \"running\"}");

    atomic_int done = 0;
    struct tally t[8];
    for (int n = 0; n < 8; n++) {
        tally_init(&t[n], &done);
        assert_status(tally_send(c, work(n), NULL, &t[n]), QMP_OK);
    }
    json_t *r = NULL;
    assert_status(qmp_client_execute(c, qmp_command_new("query-status", NULL), &r), QMP_OK);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "running");
    json_decref(r);
    /* The synchronous call drove the connection: the async replies before it ran their callbacks. */
    assert_int_equal(atomic_load(&done), 8);
    for (int n = 0; n < 8; n++) {
        assert_work_result(&t[n], n);
        tally_clear(&t[n]);
    }
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

static void test_oob_not_held_back(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_oob_client(&p);

    int cmd[9];
    for (int n = 0; n < 7; n++)
        cmd[n] = expect_work(p, n);
    /* The oob command passes the held-back eighth and ninth in-band ones... */
    int oob = peer_expect_oob(p, "ping", PEER_NO_ARGS);
    /* ...and its reply comes first, while all in-band ones are pending. */
    peer_return_to(p, oob, "{\"pong\": true}");
    peer_expect_quiet(p, 200);
    for (int n = 0; n < 7; n++)
        return_work(p, cmd[n], n);
    cmd[7] = expect_work(p, 7);
    cmd[8] = expect_work(p, 8);
    return_work(p, cmd[7], 7);
    return_work(p, cmd[8], 8);

    atomic_int done = 0, oob_done = 0;
    struct tally t[9], to;
    for (int n = 0; n < 9; n++) {
        tally_init(&t[n], &done);
        assert_status(tally_send(c, work(n), NULL, &t[n]), QMP_OK);
    }
    tally_init(&to, &oob_done);
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.oob = 1;
    assert_status(tally_send(c, qmp_command_new("ping", NULL), &o, &to), QMP_OK);

    assert_int_equal(pump_until(c, &oob_done, 1, t_io_timeout_ms(), NULL), QMP_OK);
    assert_tally(&to, QMP_OK, "{\"pong\":true}");
    for (int n = 0; n < 9; n++)
        assert_int_equal(atomic_load(&t[n].cb), 0);

    assert_int_equal(pump_until(c, &done, 9, t_io_timeout_ms(), NULL), QMP_OK);
    for (int n = 0; n < 9; n++) {
        assert_work_result(&t[n], n);
        assert_true(atomic_load(&t[n].cb_tick) > atomic_load(&to.cb_tick));
        tally_clear(&t[n]);
    }
    tally_clear(&to);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

/* The oob command given as {"exec-oob": ...} is out-of-band too, with or without opts.oob. */
static void test_oob_by_command_text(void **state)
{
    (void)state;
    peer *p;
    qmp_client *c = connect_oob_client(&p);

    int cmd[8];
    for (int n = 0; n < 7; n++)
        cmd[n] = expect_work(p, n);
    int oob = peer_expect_oob(p, "ping", PEER_NO_ARGS);
    peer_return_to(p, oob, "{}");
    return_work(p, cmd[0], 0);
    cmd[7] = expect_work(p, 7);
    for (int n = 1; n < 8; n++)
        return_work(p, cmd[n], n);

    atomic_int done = 0;
    struct tally t[8], to;
    for (int n = 0; n < 8; n++) {
        tally_init(&t[n], &done);
        assert_status(tally_send(c, work(n), NULL, &t[n]), QMP_OK);
    }
    tally_init(&to, &done);
    json_t *ping = qmp_command_new("ping", NULL);
    assert_status(qmp_command_set_oob(ping), QMP_OK);
    assert_status(tally_send(c, ping, NULL, &to), QMP_OK);
    if (pump_until(c, &done, 9, t_valgrind() ? 10000 : 3000, NULL) != QMP_OK)
        fail_msg("%d of 9 callbacks: the {\"exec-oob\": ...} command (qmp_command_set_oob) was not sent "
                 "while 7 in-band commands were pending: the client held it back as if it were in-band",
                 atomic_load(&done));
    assert_tally(&to, QMP_OK, "{}");
    for (int n = 0; n < 8; n++) {
        assert_work_result(&t[n], n);
        assert_true(atomic_load(&t[n].cb_tick) > atomic_load(&to.cb_tick));
        tally_clear(&t[n]);
    }
    tally_clear(&to);
    qmp_client_free(c);
    assert_int_equal(peer_finish(p), 0);
}

/*
 * 64 in flight, each reply's callback sending the next, 2,000 in all: every
 * reply reaches its own callback in order, and a callback's execute_async
 * does not run the callbacks queued behind it (they would nest one level
 * per command, as deep as a read brings replies).
 */
#define CHAIN_TOTAL 2000
#define CHAIN_IN_FLIGHT 64

struct chain {
    atomic_int done;
    int sent;
    int entered;  /* callbacks begun: the n the next reply must carry */
    int depth, max_depth;
    int mismatches;
};

static void chain_send(qmp_client *c, struct chain *ch);

static void chain_reply(qmp_client *c, int status, const json_t *result, void *user_data)
{
    struct chain *ch = user_data;
    ch->depth++;
    if (ch->depth > ch->max_depth)
        ch->max_depth = ch->depth;
    if (status != QMP_OK || json_integer_value(json_object_get(result, "n")) != ch->entered)
        ch->mismatches++;
    ch->entered++;
    if (ch->sent < CHAIN_TOTAL)
        chain_send(c, ch);
    atomic_fetch_add(&ch->done, 1);
    ch->depth--;
}

static void chain_send(qmp_client *c, struct chain *ch)
{
    json_t *cmd = qmp_command_new("echo", "i:n", ch->sent, NULL);
    ch->sent++;
    assert_status(qmp_client_execute_async(c, cmd, NULL, chain_reply, ch, NULL), QMP_OK);
}

static void test_callbacks_sending_do_not_nest(void **state)
{
    (void)state;
    int fd;
    echo_peer *p = echo_peer_new(&fd, 0, 0);
    qmp_client *c = qmp_client_new();
    assert_status(qmp_client_connect_fd(c, fd, t_io_timeout_ms()), QMP_OK);
    struct chain ch = {0};
    for (int i = 0; i < CHAIN_IN_FLIGHT; i++)
        chain_send(c, &ch);
    assert_int_equal(pump_until(c, &ch.done, CHAIN_TOTAL, t_io_timeout_ms(), NULL), QMP_OK);
    assert_int_equal(ch.mismatches, 0);
    assert_int_equal(ch.max_depth, 1);
    qmp_client_free(c);
    assert_int_equal(echo_peer_finish(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_limit_without_oob_and_reordering),
        cmocka_unit_test(test_limit_with_oob),
        cmocka_unit_test(test_sync_behind_async),
        cmocka_unit_test(test_oob_not_held_back),
        cmocka_unit_test(test_oob_by_command_text),
        cmocka_unit_test(test_callbacks_sending_do_not_nest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
