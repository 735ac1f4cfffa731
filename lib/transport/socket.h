// Sockets: the one place that makes system calls on the connection.
// Every fd made here is close-on-exec; every send uses MSG_NOSIGNAL, and
// every read and write MSG_DONTWAIT but a direct read (below), so a client's
// socket never blocks where it should not, whatever its mode; EINTR is
// retried here and nowhere else.
#pragma once

#include <sys/uio.h>
#include <sys/un.h>

#include <atomic>
#include <cstddef>

#include "common/deadline.h"
#include "common/error.h"

namespace qmp::transport {

// Fills *addr with the address of the Unix socket at path (for connect or
// bind); QMP_EINVAL when path is empty or does not fit in sun_path.
Error unix_address(const char *path, struct sockaddr_un *addr);

// Connects to a Unix socket; a path that does not exist yet or refuses is
// retried until the deadline (QEMU may still be starting).  A cancel flag
// (nullptr: none), once set, ends the wait with QMP_ECANCELLED within
// 20 ms; the same for connect_tcp().
Error connect_unix(const char *path, const Deadline &deadline, const std::atomic<bool> *cancel, int *out_fd);

// One non-blocking attempt of the same, for a caller that waits in its own
// loop: connected (*out_fd >= 0); worth another try at *retry_at (*out_fd
// is -1, no error); or the error that ends it (QMP_ETIMEDOUT when the
// socket was still missing or refusing at the deadline).
Error connect_unix_attempt(const char *path, const Deadline &deadline, int *out_fd, Deadline *retry_at);

// Connects over TCP to every address of host:port in turn until the deadline.
Error connect_tcp(const char *host, const char *port, const Deadline &deadline, const std::atomic<bool> *cancel,
                  int *out_fd);

// Checks that an adopted fd is a stream socket and makes it close-on-exec.
Error adopt(int fd);

// A client's socket is in blocking mode, and every receive() and send_iov()
// passes MSG_DONTWAIT, except a direct read: one blocking recv() that waits
// for the reply of an uncontended synchronous call, instead of a poll()
// followed by a recv().  SO_RCVTIMEO bounds it to slice_ms.  Returns false
// when the socket could not be set up so (the caller then always polls).
bool prepare_direct_read(int fd, int slice_ms);

enum class IoResult { Done, WouldBlock, Eof };

// Linux takes at most SCM_MAX_FD (253) fds in one SCM_RIGHTS message
// (include/net/scm.h); send() refuses more.
constexpr size_t kMaxFdsPerMessage = 253;

// Reads what is available into buf.  *n is the byte count when Done.  With
// block, waits for the first byte until the socket's SO_RCVTIMEO (a direct
// read); WouldBlock then means that time passed.
Error receive(int fd, char *buf, size_t cap, size_t *n, IoResult *res, bool block = false);

// What a read that failed with err (EINTR excepted: the caller retries it)
// means: WouldBlock when nothing is there yet, Eof when the peer reset the
// connection, else an error naming `call`.  *n is 0.
Error receive_failed(int err, const char *call, size_t *n, IoResult *res);

// Sends len bytes (fds, if any, ride on the first byte with SCM_RIGHTS).
// *written is what the kernel took (0 with WouldBlock).  A peer that is gone
// gives QMP_ECLOSED, never SIGPIPE.
Error send(int fd, const char *data, size_t len, const int *fds, size_t nfds, size_t *written,
           IoResult *res);
// The same for niov buffers sent together, in one system call.
Error send_iov(int fd, const struct iovec *iov, size_t niov, const int *fds, size_t nfds, size_t *written,
               IoResult *res);

// Waits for fd to be ready for `events` (POLLIN/POLLOUT) or for wake_fd to
// be readable, until the deadline.  *revents gets fd's poll() revents (0 on
// timeout); *woken is set when wake_fd fired (and it is drained).
Error wait(int fd, short events, int wake_fd, int timeout_ms, short *revents, bool *woken);

// An eventfd to wake a thread blocked in wait(); signal() from any thread.
Error wakeup_new(int *out_fd);
void wakeup_signal(int wake_fd);
void wakeup_drain(int wake_fd);

// Duplicates fd (close-on-exec), for fds held until a message is sent.
Error dup_cloexec(int fd, int *out_fd);

void close_fd(int fd);

// Ends the connection both ways without closing fd: a thread blocked in a
// direct read of it returns at once.
void shut_down(int fd);

}  // namespace qmp::transport
