// The server side of a Unix stream connection, for the test server
// (lib/mock): a socketpair, a listening socket that takes one connection,
// and a read that also takes the fds sent with SCM_RIGHTS.  Like the rest of
// this layer: every fd is non-blocking and close-on-exec, EINTR is retried
// here.
#pragma once

#include <cstddef>
#include <vector>

#include "common/error.h"
#include "transport/socket.h"

namespace qmp::transport {

// A connected pair of stream sockets: fds[0] and fds[1].
Error socket_pair(int fds[2]);

// A socket listening at path (which must not exist yet).
Error listen_unix(const char *path, int *out_fd);

// Accepts one connection if one is waiting: *out_fd >= 0, or -1 (WouldBlock).
Error accept_one(int listen_fd, int *out_fd);

// receive() that also takes the fds that came with the bytes (appended to
// *fds, close-on-exec; the caller closes them).
Error receive_fds(int fd, char *buf, size_t cap, size_t *n, IoResult *res, std::vector<int> *fds);

}  // namespace qmp::transport
