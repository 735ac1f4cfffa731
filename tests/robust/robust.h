/*
 * robust.h: helpers of the fault tests (tests/robust): process resources,
 * a pre-answered socketpair, a minimal QMP server thread, scaling under
 * valgrind.  The tests use the public API, the scripted peer
 * (tests/client/peer.h) and these.
 */
#ifndef QMP_TEST_ROBUST_H
#define QMP_TEST_ROBUST_H

#include <stddef.h>

#include <qmp/qmp.h>

/* LIBQMP_TEST_VALGRIND=1 (the valgrind setup): heavy loops run fewer times. */
int robust_under_valgrind(void);
/* Built with AddressSanitizer: its quarantine makes RSS meaningless. */
int robust_under_asan(void);
/* n, or n / divisor (at least 1) under valgrind. */
long robust_scale(long n, long divisor);

/* Number of open fds of this process (entries of /proc/self/fd). */
int robust_fd_count(void);
/* VmRSS / VmHWM of this process in KiB (from /proc/self/status), -1 if unknown. */
long robust_rss_kib(void);
long robust_hwm_kib(void);
/* Resets VmHWM to the current RSS (writes 5 to /proc/self/clear_refs); 0 on success. */
int robust_reset_hwm(void);

/*
 * Connects c over a fresh socketpair with no server thread: the greeting is
 * written up front, connecting runs through qmp_client_connect_fd_async()
 * and qmp_client_process(), and the test answers qmp_capabilities itself
 * once the client has sent it.  Returns the connect status; *server_fd (the
 * server's end, close-on-exec) is the test's to close.
 */
int robust_connect_pair(qmp_client *c, int *server_fd);

/*
 * A minimal QMP server in a thread, on a socketpair or a Unix socket:
 * it sends the greeting, answers qmp_capabilities (with the command's own
 * id), then hands the connection to then(fd, arg) in its thread, and closes
 * the fd when that returns.
 */
typedef struct mini_server mini_server;
typedef void (*mini_then_fn)(int fd, void *arg);
/* On a socketpair: *client_fd is for qmp_client_connect_fd(). */
mini_server *mini_server_pair(int *client_fd, mini_then_fn then, void *arg);
/* Joins the thread and frees. */
void mini_server_join(mini_server *s);
/*
 * Reads one whole JSON message (by brace depth, strings respected) from fd
 * into buf (NUL-terminated); returns its length, or -1 on EOF/error/overflow.
 */
long mini_read_message(int fd, char *buf, size_t cap, int timeout_ms);
/* The text of the "id" member of a command (e.g. "2"), copied into out. */
int mini_command_id(const char *msg, char *out, size_t cap);
/* The server's half of the handshake on fd: greeting, qmp_capabilities answered with its id.  0 or -1. */
int robust_answer_handshake(int fd);
/* Writes everything (MSG_NOSIGNAL); -1 when the client has gone. */
int mini_write_all(int fd, const void *buf, size_t len);

#endif /* QMP_TEST_ROBUST_H */
