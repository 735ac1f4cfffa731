#include "transport/server.h"

#include <cerrno>
#include <cstring>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace qmp::transport {

Error socket_pair(int fds[2]) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0)
        return Error::sys(errno, "socketpair");
    return Error::ok();
}

Error listen_unix(const char *path, int *out_fd) {
    *out_fd = -1;
    struct sockaddr_un addr;
    if (Error e = unix_address(path, &addr)) return e;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return Error::sys(errno, "socket");
    if (bind(fd, reinterpret_cast<struct sockaddr *>(&addr), sizeof addr) < 0) {
        Error e = Error::sys(errno, "bind %s", path);
        close(fd);
        return e;
    }
    if (listen(fd, 1) < 0) {
        Error e = Error::sys(errno, "listen %s", path);
        close(fd);
        unlink(path);
        return e;
    }
    *out_fd = fd;
    return Error::ok();
}

Error accept_one(int listen_fd, int *out_fd) {
    for (;;) {
        int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            *out_fd = fd;
            return Error::ok();
        }
        if (errno == EINTR) continue;
        *out_fd = -1;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED) return Error::ok();
        return Error::sys(errno, "accept");
    }
}

Error receive_fds(int fd, char *buf, size_t cap, size_t *n, IoResult *res, std::vector<int> *fds) {
    // Room for the most fds Linux sends in one message (SCM_MAX_FD).
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
    for (;;) {
        struct iovec iov = {buf, cap};
        struct msghdr msg;
        std::memset(&msg, 0, sizeof msg);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
        if (r >= 0) {
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
                size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int got[kMaxFdsPerMessage];
                if (count > kMaxFdsPerMessage) count = kMaxFdsPerMessage;
                std::memcpy(got, CMSG_DATA(c), count * sizeof(int));
                try {
                    fds->insert(fds->end(), got, got + count);
                } catch (...) {
                    for (size_t i = 0; i < count; i++) close(got[i]);
                    throw;
                }
            }
            *n = static_cast<size_t>(r);
            *res = r > 0 ? IoResult::Done : IoResult::Eof;
            return Error::ok();
        }
        if (errno == EINTR) continue;
        return receive_failed(errno, "recvmsg", n, res);
    }
}

}  // namespace qmp::transport
