// Copies of a caller's fds, owned: made close-on-exec, closed when the
// owner lets them go (reset) or goes.  The client keeps a command's fds in
// one of these from the moment they are copied until the message that
// carries them has been sent, so no failure in between can leak them.
#pragma once

#include <cstddef>
#include <vector>

#include "common/error.h"

namespace qmp::transport {

class OwnedFds {
public:
    OwnedFds() = default;
    ~OwnedFds() { reset(); }
    OwnedFds(OwnedFds &&o) noexcept : fds_(std::move(o.fds_)) { o.fds_.clear(); }
    OwnedFds &operator=(OwnedFds &&o) noexcept;
    OwnedFds(const OwnedFds &) = delete;
    OwnedFds &operator=(const OwnedFds &) = delete;

    // Copies fds[0..n) (F_DUPFD_CLOEXEC), replacing what was held.  On
    // failure none is kept: QMP_EINVAL for an fd that is not open.
    Error copy(const int *fds, size_t n);
    // Closes them all.
    void reset();

    const int *data() const { return fds_.data(); }
    size_t size() const { return fds_.size(); }
    bool empty() const { return fds_.empty(); }

private:
    std::vector<int> fds_;
};

}  // namespace qmp::transport
