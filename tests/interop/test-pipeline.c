/*
 * test-pipeline: many in-band commands in flight against real QEMU.
 *
 * QEMU drops no command: its monitor stops reading the socket while its
 * in-band queue is full (always one request without "oob", 8 with it) and
 * the kernel's socket buffers hold the rest (docs/internals.md).  A raw
 * client writes 64 commands in one write() and gets 64 replies in order,
 * with and without "oob", and no COMMAND_DROPPED event.  libqmp sends 200
 * async commands at once and each callback gets its own reply, in order.
 * With "oob", an exec-oob command reaches QEMU while its main loop is stuck
 * and many in-band commands wait: the client keeps at most 7 of them
 * unanswered, so QEMU never stops reading.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include <qmp/qmp.h>
#include "qemu.h"

/* --- a raw client: the bytes QEMU sees, with no library in between -------------------- */

typedef struct {
    int fd;
    char buf[65536];
    size_t len;
} raw_conn;

static void raw_connect(raw_conn *r, const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path)
        fail_msg("socket path too long: %s", path);
    memcpy(a.sun_path, path, strlen(path) + 1);
    long long t0 = now_ms();
    for (;;) {
        r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(r->fd >= 0);
        if (connect(r->fd, (struct sockaddr *)&a, sizeof a) == 0)
            break;
        close(r->fd);
        if (now_ms() - t0 > 30000)
            fail_msg("connecting to %s: %s", path, strerror(errno));
        usleep(20000);
    }
    r->len = 0;
}

/* The next message QEMU sent (it ends each with a newline), parsed. */
static json_t *raw_read(raw_conn *r)
{
    for (;;) {
        char *nl = memchr(r->buf, '\n', r->len);
        if (nl) {
            size_t n = (size_t)(nl - r->buf) + 1;
            json_error_t err;
            json_t *m = json_loadb(r->buf, n, 0, &err);
            if (!m)
                fail_msg("QEMU sent what is not JSON (%s): %.*s", err.text, (int)n, r->buf);
            memmove(r->buf, r->buf + n, r->len - n);
            r->len -= n;
            return m;
        }
        if (r->len == sizeof r->buf)
            fail_msg("a message longer than %zu bytes", sizeof r->buf);
        ssize_t got = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            fail_msg("QEMU closed the connection or failed: %s", got < 0 ? strerror(errno) : "EOF");
        r->len += (size_t)got;
    }
}

static void raw_write_all(raw_conn *r, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = send(r->fd, text, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n > 0);
        text += n;
        len -= (size_t)n;
    }
}

/* The greeting, then qmp_capabilities (enabling "oob" if oob) and its reply. */
static void raw_handshake(raw_conn *r, int oob)
{
    json_t *g = raw_read(r);
    json_t *caps = json_object_get(json_object_get(g, "QMP"), "capabilities");
    assert_true(json_is_array(caps));
    int offered = 0;
    for (size_t i = 0; i < json_array_size(caps); i++)
        offered += strcmp(json_string_value(json_array_get(caps, i)), "oob") == 0;
    assert_int_equal(offered, 1);  /* a socket monitor runs in QEMU's I/O thread: oob is offered */
    json_decref(g);
    const char *neg = oob ? "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}\n"
                          : "{\"execute\":\"qmp_capabilities\"}\n";
    raw_write_all(r, neg, strlen(neg));
    json_t *m = raw_read(r);
    assert_non_null(json_object_get(m, "return"));
    json_decref(m);
}

#define BURST 64

/*
 * 64 in-band commands in one write(): every one is answered, in order.
 * Odd ones name a command that does not exist, so each error names its
 * command and the replies cannot be told apart only by their ids.
 */
static void raw_burst(int oob)
{
    qemu_proc q;
    assert_int_equal(qemu_start(&q, QEMU_SYSTEM, NULL), 0);
    raw_conn r;
    raw_connect(&r, q.sock);
    raw_handshake(&r, oob);

    static char text[BURST * 80];
    size_t len = 0;
    for (int i = 0; i < BURST; i++) {
        if (i % 2)
            len += (size_t)snprintf(text + len, sizeof text - len,
                                    "{\"execute\":\"x-no-such-%d\",\"id\":%d}\n", i, i);
        else
            len += (size_t)snprintf(text + len, sizeof text - len, "{\"execute\":\"query-status\",\"id\":%d}\n", i);
    }
    raw_write_all(&r, text, len);

    int replies = 0;
    while (replies < BURST) {
        json_t *m = raw_read(&r);
        const char *ev = json_string_value(json_object_get(m, "event"));
        if (ev) {
            if (strcmp(ev, "COMMAND_DROPPED") == 0)
                fail_msg("QEMU dropped a command: %s", json_dumps(m, JSON_COMPACT));
            json_decref(m);
            continue;
        }
        json_t *id = json_object_get(m, "id");
        if (!json_is_integer(id) || json_integer_value(id) != replies)
            fail_msg("reply %d has id %lld, expected %d", replies, (long long)json_integer_value(id), replies);
        if (replies % 2) {
            json_t *e = json_object_get(m, "error");
            char want[40];
            snprintf(want, sizeof want, "x-no-such-%d", replies);
            assert_string_equal(json_string_value(json_object_get(e, "class")), "CommandNotFound");
            assert_non_null(strstr(json_string_value(json_object_get(e, "desc")), want));
        } else {
            assert_true(json_is_string(json_object_get(json_object_get(m, "return"), "status")));
        }
        json_decref(m);
        replies++;
    }
    close(r.fd);
    qemu_stop(&q);
}

static void test_raw_burst_without_oob(void **state)
{
    (void)state;
    raw_burst(0);
}

static void test_raw_burst_with_oob(void **state)
{
    (void)state;
    raw_burst(1);
}

/* --- libqmp with many commands in flight ------------------------------------------------ */

typedef struct {
    int index;
    int *next;      /* the index the next callback should have */
    int *order_errors;
    int status;
    char *text;     /* the result, or the error object */
    int done;
} slot;

static void on_reply(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    slot *s = user_data;
    s->done++;
    s->status = status;
    if (*s->next != s->index)
        (*s->order_errors)++;
    (*s->next)++;
    /* The "return" value, or for QMP_ECOMMAND the "error" object. */
    s->text = result ? json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("");
}

static json_t *numbered(int i)
{
    if (i % 2 == 0)
        return qmp_command_new("query-status", NULL);
    char name[40];
    snprintf(name, sizeof name, "x-no-such-%d", i);
    return qmp_command_new(name, NULL);
}

static void assert_slot(const slot *s, int i)
{
    assert_int_equal(s->done, 1);
    if (i % 2 == 0) {
        assert_int_equal(s->status, QMP_OK);
        assert_non_null(strstr(s->text, "\"status\""));
    } else {
        char want[40];
        snprintf(want, sizeof want, "x-no-such-%d", i);
        assert_int_equal(s->status, QMP_ECOMMAND);
        assert_non_null(strstr(s->text, want));
    }
}

#define MANY 200

static void test_many_in_flight_in_order(void **state)
{
    (void)state;
    qemu_proc q;
    assert_int_equal(qemu_start(&q, QEMU_SYSTEM, NULL), 0);
    qmp_client *c = qemu_connect(&q, 0);

    static slot s[MANY];
    int next = 0, order_errors = 0;
    for (int i = 0; i < MANY; i++) {
        s[i] = (slot){.index = i, .next = &next, .order_errors = &order_errors};
        assert_int_equal(qmp_client_execute_async(c, numbered(i), NULL, on_reply, &s[i], NULL), QMP_OK);
    }
    /* All 200 were written before any reply was read. */
    assert_int_equal(qmp_client_get_events(c) & QMP_POLL_OUT, 0);
    assert_int_equal(next, 0);

    /* QEMU answers in order: the reply to this one comes after all of theirs. */
    json_t *ret = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("query-status", NULL), &ret), QMP_OK);
    json_decref(ret);
    assert_int_equal(next, MANY);
    assert_int_equal(order_errors, 0);
    for (int i = 0; i < MANY; i++) {
        assert_slot(&s[i], i);
        free(s[i].text);
    }
    qmp_client_free(c);
    qemu_stop(&q);
}

/*
 * With "oob": QEMU's main loop is stuck in an in-band blockdev-add (a
 * blkdebug config that is a FIFO blocks in open() until a writer comes, as
 * in test-oob.c), and 50 more in-band commands wait behind it.  An exec-oob
 * command is answered meanwhile; then everything completes, in order.
 */
#define BEHIND 50

static void test_oob_passes_many_inband(void **state)
{
    (void)state;
    qemu_proc q;
    assert_int_equal(qemu_start(&q, QEMU_SYSTEM, NULL), 0);
    char fifo[200];
    snprintf(fifo, sizeof fifo, "%s/config.fifo", q.dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    qmp_client *c = qemu_connect(&q, 1);
    assert_int_equal(qmp_client_has_capability(c, "oob"), 1);

    static slot s[BEHIND + 1];
    int next = 0, order_errors = 0;
    json_t *image = json_pack("{s:s}", "driver", "null-co");
    json_t *add = qmp_command_new("blockdev-add", "s:driver", "blkdebug", "s:node-name", "dbg0",
                                  "s:config", fifo, "a:image", &image, NULL);
    assert_non_null(add);
    s[0] = (slot){.index = 0, .next = &next, .order_errors = &order_errors};
    assert_int_equal(qmp_client_execute_async(c, add, NULL, on_reply, &s[0], NULL), QMP_OK);
    for (int i = 1; i <= BEHIND; i++) {
        s[i] = (slot){.index = i, .next = &next, .order_errors = &order_errors};
        assert_int_equal(qmp_client_execute_async(c, numbered(i + 1), NULL, on_reply, &s[i], NULL), QMP_OK);
    }

    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.oob = 1;
    o.timeout_ms = 5000;
    int rc = qmp_client_execute_full(c, qmp_command_new("migrate-pause", NULL), &o, NULL);
    if (rc == QMP_ETIMEDOUT)
        fail_msg("exec-oob was not answered while %d in-band commands waited: QEMU stopped reading", BEHIND + 1);
    assert_int_equal(rc, QMP_ECOMMAND);
    assert_non_null(strstr(qmp_error_last()->qmp_desc, "postcopy"));
    assert_int_equal(next, 0);  /* the in-band ones all still wait */

    /* Unblock: a writer opens the FIFO and closes it (an empty config). */
    int w = open(fifo, O_WRONLY | O_CLOEXEC);
    assert_true(w >= 0);
    close(w);
    json_t *ret = NULL;
    assert_int_equal(qmp_client_execute(c, qmp_command_new("query-status", NULL), &ret), QMP_OK);
    json_decref(ret);
    assert_int_equal(next, BEHIND + 1);
    assert_int_equal(order_errors, 0);
    assert_int_equal(s[0].status, QMP_OK);
    free(s[0].text);
    for (int i = 1; i <= BEHIND; i++) {
        assert_slot(&s[i], i + 1);
        free(s[i].text);
    }
    qmp_client_free(c);
    qemu_stop(&q);
}

int main(void)
{
    static const qemu_kind kinds[] = {QEMU_SYSTEM};
    int missing = qemu_require(kinds, 1);
    if (missing) return missing;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_burst_without_oob),
        cmocka_unit_test(test_raw_burst_with_oob),
        cmocka_unit_test(test_many_in_flight_in_order),
        cmocka_unit_test(test_oob_passes_many_inband),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
