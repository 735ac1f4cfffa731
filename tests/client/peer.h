/*
 * peer.h: a scripted QMP server for the client tests.
 *
 * The peer owns one end of a socketpair and runs in its own thread, so the
 * test thread can make blocking client calls against it.  The test queues
 * steps; the peer runs them in order, one after another, as soon as they are
 * queued.  Steps may be queued before the client connects or in between the
 * client calls, so a test reads as the conversation it is:
 *
 *   int fd;
 *   peer *p = peer_new(&fd);
 *   peer_handshake(p, 0, 0);               // greeting, expect qmp_capabilities, reply
 *   qmp_client *c = qmp_client_new();
 *   assert_int_equal(qmp_client_connect_fd(c, fd, 5000), QMP_OK);
 *
 *   peer_expect(p, "query-status", NULL);  // read one command, check its name
 *   peer_return(p, "{\"status\": \"running\"}");   // reply with the command's own id
 *   assert_int_equal(qmp_client_execute(c, qmp_command_new("query-status", NULL), &r), QMP_OK);
 *
 *   qmp_client_free(c);
 *   assert_int_equal(peer_finish(p), 0);   // runs the rest, joins, 0 = every expectation met
 *
 * Ids: the library chooses them and they may be any JSON value, so the peer
 * keeps the id of every command it read as the exact text the client sent and
 * echoes that text.  Commands are numbered 0, 1, 2... in the order their
 * peer_expect() steps were queued (qmp_capabilities included); peer_expect()
 * returns the number, which the reply steps take.
 *
 * A step that is not met (wrong name, wrong arguments, EOF, timeout, a stray
 * fd) is recorded as a failure and printed by peer_finish(), which returns
 * how many there were.  After a read fails (EOF, timeout, not JSON) the peer
 * skips the remaining I/O steps.  Every read gives up after
 * peer_io_timeout_ms() so a broken test fails instead of hanging.
 *
 * The peer reads one byte per recvmsg(), so it knows on which byte of the
 * stream each SCM_RIGHTS fd arrived.  A command is expected to carry no fds
 * unless peer_expect_fds() says otherwise; received fds are closed.
 */
#ifndef QMP_TEST_PEER_H
#define QMP_TEST_PEER_H

#include <stddef.h>

typedef struct peer peer;

/* The reply-template placeholder: replaced by the id text of the command replied to. */
#define PEER_ID "$ID"
/* peer_expect() args: the command must have no "arguments" member. */
#define PEER_NO_ARGS ""
/* peer_expect() args: do not look at the arguments. */
#define PEER_ANY_ARGS NULL

/* The standard QEMU 7.2 greeting, as qemu-system-x86_64 7.2 sends it. */
#define PEER_GREETING_OOB \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, " \
    "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}\r\n"
#define PEER_GREETING_NO_OOB \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, " \
    "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": []}}\r\n"

/* Creates the socketpair and starts the peer thread; *client_fd is the client's end (CLOEXEC). */
peer *peer_new(int *client_fd);

/*
 * Runs the steps still queued, then closes the peer's end, joins the thread,
 * prints the failures and frees the peer.  Returns the number of failures.
 * Free the client first when the script ends by waiting for it to close.
 */
int peer_finish(peer *p);

/* How long a read waits before it is a failure (10 s; 120 s under valgrind). */
int peer_io_timeout_ms(void);

/* --- sending ------------------------------------------------------------- */

/* Sends a NUL-terminated text as is (one write). */
void peer_send(peer *p, const char *text);
/* Sends arbitrary bytes (one write). */
void peer_send_bytes(peer *p, const void *bytes, size_t length);
/* Sends text one byte per write, delay_ms apart. */
void peer_send_slowly(peer *p, const char *text, int delay_ms);
/* Sends the QEMU 7.2 greeting, offering "oob" or not. */
void peer_greeting(peer *p, int offer_oob);
/* Greeting, then expects qmp_capabilities (with {"enable": ["oob"]} iff enable_oob) and returns {}. */
void peer_handshake(peer *p, int offer_oob, int enable_oob);
/* Sends an event with QEMU's timestamp; data_json may be NULL (no "data" member). */
void peer_event(peer *p, const char *name, const char *data_json);

/* --- reading ------------------------------------------------------------- */

/*
 * Reads one message and checks it is {"execute": name, ...} with an "id".
 * args_json: PEER_ANY_ARGS, PEER_NO_ARGS, or JSON text the "arguments" must
 * equal.  Returns the command's number for the reply steps.
 */
int peer_expect(peer *p, const char *name, const char *args_json);
/* The same for {"exec-oob": name, ...}. */
int peer_expect_oob(peer *p, const char *name, const char *args_json);
/*
 * peer_expect(), and the command must carry exactly nfds fds, all on its
 * first byte (every other command must carry none).  same_as (may be NULL)
 * lists nfds of the test's own fds, which the received ones must refer to
 * (same device and inode), in order.
 */
int peer_expect_fds(peer *p, const char *name, const char *args_json, int nfds, const int *same_as);
/* Fails if the client sends anything within ms (it should be holding back). */
void peer_expect_quiet(peer *p, int ms);
/* Reads until the client closes; any byte it sends meanwhile is a failure. */
void peer_expect_close(peer *p);
/* Reads and ignores everything until the client closes: a silent server. */
void peer_silent_until_close(peer *p);

/*
 * Waits until the peer has read command cmd and returns a copy of its text
 * (free() it), or NULL if it never will (the read failed).
 */
char *peer_received(peer *p, int cmd);

/* --- replying (cmd: a number from peer_expect(); PEER_LAST: that of the latest peer_expect() queued) */

#define PEER_LAST (-1)

/* {"return": return_json, "id": <id>} */
void peer_return(peer *p, const char *return_json);
void peer_return_to(peer *p, int cmd, const char *return_json);
/* {"id": <id>, "error": {"class": cls, "desc": desc}} */
void peer_error(peer *p, const char *cls, const char *desc);
void peer_error_to(peer *p, int cmd, const char *cls, const char *desc);
/* Sends template with every PEER_ID ("$ID") replaced by the id text of cmd. */
void peer_reply_raw(peer *p, int cmd, const char *template_text);

/* --- other --------------------------------------------------------------- */

/* Sleeps; for tests whose subject is timing. */
void peer_sleep(peer *p, int ms);
/* Shuts the socket down and closes it (unread bytes already received are discarded first). */
void peer_close(peer *p);
/* Blocks the test until the peer has run every step queued so far. */
void peer_wait_idle(peer *p);

/* --- client-side helpers (libqmp and CMocka asserts) ------------------------- */

#include <qmp/qmp.h>

/* Fails the test unless rc == expected (and, for an error, qmp_error_last()->code == expected). */
#define assert_status(rc, expected) assert_status_at((rc), (expected), __FILE__, __LINE__)
void assert_status_at(int rc, int expected, const char *file, int line);
/* "QMP_ETIMEDOUT" for QMP_ETIMEDOUT. */
const char *status_name(int status);

/* A new client connected on fd, whose server sends the greeting; asserts it is connected. */
qmp_client *client_on_fd(int fd);
/* A new peer (*pp) that does the handshake (no oob), and a client connected to it. */
qmp_client *connect_client(peer **pp);
/* The same with "oob" offered and negotiated (the client keeps at most 7 in-band commands unanswered). */
qmp_client *connect_oob_client(peer **pp);
/* Runs query-status on c (its server answers "running") and asserts the result, c connected. */
void assert_query_status_running(qmp_client *c);
/* Asserts that c still works: a query-status round trip through p. */
void assert_client_usable(qmp_client *c, peer *p);
/* Asserts that c is cleanly closed: not connected, no greeting, and calls give QMP_ECLOSED. */
void assert_client_closed(qmp_client *c);

/*
 * Drives c from a poll() loop (get_fd, get_events, get_timeout_ms, process)
 * until *counter >= target; fails the test after peer_io_timeout_ms().
 * Returns the last qmp_client_process() status.  Stops early (returning
 * QMP_ECLOSED) when the connection closes.
 */
int drive_until(qmp_client *c, const int *counter, int target);

#endif /* QMP_TEST_PEER_H */
