// Cancelling a wait from another thread (qmp_call_cancel): the waiting
// thread is either asleep on the condition variable or, as the driver,
// polling the socket beside the wake-up eventfd.  The canceller sets the
// call's flag first, then takes the lock: a waiter checks its flag under the
// lock before it sleeps or polls, so it either sees the flag or is woken here.
#include "client/client.h"

#include "transport/socket.h"

namespace qmp::client {

void Client::interrupt_waits() {
    Lock lk(mu_);
    cv_.notify_all();
    if (polled_fd_ >= 0 && wake_fd_ >= 0) transport::wakeup_signal(wake_fd_);
}

}  // namespace qmp::client
