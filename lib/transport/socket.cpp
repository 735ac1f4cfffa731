#include "transport/socket.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace qmp::transport {

namespace {

// How often a Unix socket that is missing or refusing is retried.
constexpr int kRetryMs = 20;

bool is_set(const std::atomic<bool> *cancel) { return cancel && cancel->load(std::memory_order_acquire); }

Error cancelled_connect(const std::string &peer) {
    return Error::make(QMP_ECANCELLED, "connecting to %s was cancelled", peer.c_str());
}

// Waits for the connect to finish; with a cancel flag, in slices of
// kRetryMs so that a cancel is seen within one.
Error wait_writable(int fd, const Deadline &deadline, const std::atomic<bool> *cancel, const std::string &peer) {
    for (;;) {
        if (is_set(cancel)) return cancelled_connect(peer);
        struct pollfd p = {fd, POLLOUT, 0};
        int ms = deadline.remaining_ms();
        bool sliced = cancel && (ms < 0 || ms > kRetryMs);
        int r = poll(&p, 1, sliced ? kRetryMs : ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return Error::sys(errno, "poll");
        if (r == 0 && sliced) continue;
        if (r == 0) return Error::make(QMP_ETIMEDOUT, "timed out connecting to %s", peer.c_str());
        return Error::ok();
    }
}

Error finish_connect(int fd, const Deadline &deadline, const std::atomic<bool> *cancel, const std::string &peer) {
    Error e = wait_writable(fd, deadline, cancel, peer);
    if (e) return e;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return Error::sys(errno, "getsockopt");
    if (err) return Error::sys(err, "cannot connect to %s", peer.c_str());
    return Error::ok();
}

}  // namespace

Error unix_address(const char *path, struct sockaddr_un *addr) {
    std::memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    size_t len = std::strlen(path);
    if (len == 0 || len >= sizeof addr->sun_path)
        return Error::make(QMP_EINVAL, "Unix socket path '%s' is empty or longer than %zu bytes", path,
                           sizeof addr->sun_path - 1);
    std::memcpy(addr->sun_path, path, len);
    return Error::ok();
}

// One non-blocking attempt: *out_fd on success; *retry set (and an error
// returned) when the socket is missing or refusing, worth trying again.
static Error connect_unix_once(const char *path, int *out_fd, bool *retry) {
    *retry = false;
    struct sockaddr_un addr;
    if (Error e = unix_address(path, &addr)) return e;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return Error::sys(errno, "socket");
    int r;
    do {
        r = ::connect(fd, reinterpret_cast<struct sockaddr *>(&addr), sizeof addr);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
        *out_fd = fd;
        return Error::ok();
    }
    int err = errno;
    close_fd(fd);
    // EAGAIN: the server's backlog is full; it exists but is slow to accept.
    *retry = err == ENOENT || err == ECONNREFUSED || err == EAGAIN;
    return Error::sys(err, "cannot connect to %s", path);
}

Error connect_unix_attempt(const char *path, const Deadline &deadline, int *out_fd, Deadline *retry_at) {
    *out_fd = -1;
    bool retry = false;
    Error e = connect_unix_once(path, out_fd, &retry);
    if (!e || !retry) return e;
    if (deadline.expired())
        return Error::make(QMP_ETIMEDOUT, "timed out connecting to %s: %s", path, std::strerror(e.sys_errno));
    *retry_at = Deadline::in_ms(kRetryMs).earlier(deadline);
    return Error::ok();
}

Error connect_unix(const char *path, const Deadline &deadline, const std::atomic<bool> *cancel, int *out_fd) {
    for (;;) {
        if (is_set(cancel)) return cancelled_connect(path);
        Deadline retry_at = Deadline::never();
        Error e = connect_unix_attempt(path, deadline, out_fd, &retry_at);
        if (e || *out_fd >= 0) return e;
        std::this_thread::sleep_until(retry_at.when());
    }
}

Error connect_tcp(const char *host, const char *port, const Deadline &deadline, const std::atomic<bool> *cancel,
                  int *out_fd) {
    struct addrinfo hints;
    std::memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *res = nullptr;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        Error e = Error::make(gai == EAI_MEMORY ? QMP_ENOMEM : QMP_EIO, "cannot resolve %s:%s: %s", host, port,
                              gai_strerror(gai));
        if (gai == EAI_SYSTEM) e.sys_errno = errno;
        return e;
    }
    // The list and each socket tried are released also when building an
    // error message throws std::bad_alloc.
    std::unique_ptr<struct addrinfo, void (*)(struct addrinfo *)> list(res, freeaddrinfo);
    // HOST:PORT as a user writes it ([V6ADDR]:PORT), for the messages.
    std::string peer = std::strchr(host, ':') ? "[" + std::string(host) + "]:" + port : std::string(host) + ":" + port;
    Error last = Error::make(QMP_EIO, "no address for %s", peer.c_str());
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            last = Error::sys(errno, "socket");
            continue;
        }
        Error e;
        try {
            int r;
            do {
                r = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
            } while (r < 0 && errno == EINTR);
            if (r < 0 && errno == EINPROGRESS)
                e = finish_connect(fd, deadline, cancel, peer);
            else if (r < 0)
                e = Error::sys(errno, "cannot connect to %s", peer.c_str());
        } catch (...) {
            close_fd(fd);
            throw;
        }
        if (!e) {
            *out_fd = fd;
            return e;
        }
        close_fd(fd);
        last = std::move(e);
        if (last.code == QMP_ETIMEDOUT || last.code == QMP_ECANCELLED) break;
    }
    return last;
}

Error adopt(int fd) {
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return errno == ENOTSOCK ? Error::make(QMP_EINVAL, "fd %d is not a socket", fd)
                                 : Error::sys(errno, "fd %d", fd);
    if (type != SOCK_STREAM) return Error::make(QMP_EINVAL, "fd %d is not a stream socket", fd);
    int fdfl = fcntl(fd, F_GETFD);
    if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0) return Error::sys(errno, "fcntl");
    return Error::ok();
}

bool prepare_direct_read(int fd, int slice_ms) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return false;
    if ((fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) return false;
    struct timeval tv;
    tv.tv_sec = slice_ms / 1000;
    tv.tv_usec = (slice_ms % 1000) * 1000;
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0;
}

Error receive(int fd, char *buf, size_t cap, size_t *n, IoResult *res, bool block) {
    for (;;) {
        ssize_t r = recv(fd, buf, cap, block ? 0 : MSG_DONTWAIT);
        if (r > 0) {
            *n = static_cast<size_t>(r);
            *res = IoResult::Done;
            return Error::ok();
        }
        if (r == 0) {
            *n = 0;
            *res = IoResult::Eof;
            return Error::ok();
        }
        if (errno == EINTR) continue;
        return receive_failed(errno, "recv", n, res);
    }
}

Error receive_failed(int err, const char *call, size_t *n, IoResult *res) {
    *n = 0;
    if (err == EAGAIN || err == EWOULDBLOCK) {
        *res = IoResult::WouldBlock;
        return Error::ok();
    }
    if (err == ECONNRESET) {
        *res = IoResult::Eof;
        return Error::ok();
    }
    return Error::sys(err, "%s", call);
}

Error send(int fd, const char *data, size_t len, const int *fds, size_t nfds, size_t *written,
           IoResult *res) {
    struct iovec iov;
    iov.iov_base = const_cast<char *>(data);
    iov.iov_len = len;
    return send_iov(fd, &iov, 1, fds, nfds, written, res);
}

Error send_iov(int fd, const struct iovec *iov, size_t niov, const int *fds, size_t nfds, size_t *written,
               IoResult *res) {
    struct msghdr msg;
    std::memset(&msg, 0, sizeof msg);
    msg.msg_iov = const_cast<struct iovec *>(iov);
    msg.msg_iovlen = niov;
    union {
        char buf[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
        struct cmsghdr align;
    } control;
    if (nfds > 0) {
        if (nfds > kMaxFdsPerMessage) return Error::make(QMP_EINVAL, "at most %zu fds per message", kMaxFdsPerMessage);
        std::memset(&control, 0, sizeof control);
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    for (;;) {
        ssize_t r = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r >= 0) {
            *written = static_cast<size_t>(r);
            *res = IoResult::Done;
            return Error::ok();
        }
        if (errno == EINTR) continue;
        *written = 0;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            *res = IoResult::WouldBlock;
            return Error::ok();
        }
        if (errno == EPIPE || errno == ECONNRESET) {
            *res = IoResult::Eof;
            return Error::ok();
        }
        return Error::sys(errno, "sendmsg");
    }
}

Error wait(int fd, short events, int wake_fd, int timeout_ms, short *revents, bool *woken) {
    struct pollfd p[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
    nfds_t n = wake_fd >= 0 ? 2 : 1;
    *revents = 0;
    *woken = false;
    int r = poll(p, n, timeout_ms);
    if (r < 0) {
        if (errno == EINTR) return Error::ok();  // the caller loops and recomputes its timeout
        return Error::sys(errno, "poll");
    }
    *revents = p[0].revents;
    if (n == 2 && (p[1].revents & POLLIN)) {
        *woken = true;
        wakeup_drain(wake_fd);
    }
    return Error::ok();
}

Error wakeup_new(int *out_fd) {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return Error::sys(errno, "eventfd");
    *out_fd = fd;
    return Error::ok();
}

void wakeup_signal(int wake_fd) {
    uint64_t one = 1;
    ssize_t r;
    do {
        r = write(wake_fd, &one, sizeof one);
    } while (r < 0 && errno == EINTR);
}

void wakeup_drain(int wake_fd) {
    uint64_t v;
    ssize_t r;
    do {
        r = read(wake_fd, &v, sizeof v);
    } while (r < 0 && errno == EINTR);
}

Error dup_cloexec(int fd, int *out_fd) {
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (d < 0) return errno == EBADF ? Error::make(QMP_EINVAL, "fd %d is not open", fd) : Error::sys(errno, "dup fd %d", fd);
    *out_fd = d;
    return Error::ok();
}

void shut_down(int fd) {
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

void close_fd(int fd) {
    if (fd >= 0) ::close(fd);  // Linux: never retry close on EINTR
}

}  // namespace qmp::transport
