#include "transport/fds.h"

#include "transport/socket.h"

namespace qmp::transport {

OwnedFds &OwnedFds::operator=(OwnedFds &&o) noexcept {
    if (this != &o) {
        reset();
        fds_.swap(o.fds_);
    }
    return *this;
}

Error OwnedFds::copy(const int *fds, size_t n) {
    reset();
    fds_.reserve(n);  // the only allocation, before any fd exists to leak
    for (size_t i = 0; i < n; i++) {
        int d = -1;
        Error e = dup_cloexec(fds[i], &d);
        if (e) {
            reset();
            return e;
        }
        fds_.push_back(d);  // within the reserved capacity: cannot throw
    }
    return Error::ok();
}

void OwnedFds::reset() {
    for (int fd : fds_) close_fd(fd);
    fds_.clear();
}

}  // namespace qmp::transport
