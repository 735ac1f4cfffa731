/*
 * echo-peer.h: a fast QMP server for the thread and loop tests.
 *
 * Where peer.h (tests/client) plays a script one step at a time, reading a
 * byte per system call, this peer answers whatever comes, as fast as it
 * comes, so many threads can share one client against it:
 *
 *   - qmp_capabilities     -> {"return": {}, "id": <id>}
 *   - "hold"               -> never answered (counted: echo_peer_held())
 *   - any other command    -> {"return": <its arguments, or {}>, "id": <id>}
 *
 * With event_every = N > 0 it also sends {"event": "TICK", "data": {"n": k}}
 * (k = 1, 2, 3...) after every N-th answered command, so events arrive
 * throughout a run.  It reads in large chunks and writes each batch of
 * answers with one send().  The peer runs in its own thread until the client
 * closes its end (or echo_peer_finish() is called).
 */
#ifndef QMP_TEST_ECHO_PEER_H
#define QMP_TEST_ECHO_PEER_H

typedef struct echo_peer echo_peer;

/* A socketpair; *client_fd is the client's end.  The greeting is sent at once. */
echo_peer *echo_peer_new(int *client_fd, int offer_oob, int event_every);
/* The same over a connected socket the peer takes (e.g. from accept()). */
echo_peer *echo_peer_start(int server_fd, int offer_oob, int event_every);

/* Stop reading (the client's output then fills the socket), and go on. */
void echo_peer_pause(echo_peer *p);
void echo_peer_resume(echo_peer *p);

/* Commands read so far (qmp_capabilities included). */
long echo_peer_commands(echo_peer *p);
/* "hold" commands read so far. */
long echo_peer_held(echo_peer *p);
/* Events sent so far. */
long echo_peer_events(echo_peer *p);
/* Waits up to timeout_ms until echo_peer_held(p) >= n; returns 1 if it got there. */
int echo_peer_wait_held(echo_peer *p, long n, int timeout_ms);

/*
 * Waits (up to the I/O timeout) for the client to close, closes the
 * peer's end, joins the thread, prints the failures and frees the peer.
 * Returns the number of failures (malformed commands, I/O errors).
 */
int echo_peer_finish(echo_peer *p);

#endif /* QMP_TEST_ECHO_PEER_H */
