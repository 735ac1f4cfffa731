// Cancelling a wait from another thread (qmp_call_cancel).  The operation a
// thread runs for a qmp_call carries the handle's flag in a thread-local
// scope, so that every wait inside it, however deep (a connect's handshake,
// the schema fetch behind validation, a guest agent helper's several
// commands), sees it.  The waiting thread is either asleep on the condition
// variable or, as the driver, polling the socket beside the wake-up eventfd.
// The canceller sets the flag first, then takes the lock: a waiter checks
// the flag under the lock before it sleeps or polls, so it either sees the
// flag or is woken here.
#include "client/client.h"

#include <chrono>

#include "transport/socket.h"

namespace qmp::client {

namespace {

// Plain pointers: no destructor, so nothing is registered at thread exit.
thread_local const Client *tls_client = nullptr;
thread_local const std::atomic<bool> *tls_flag = nullptr;

}  // namespace

CancelScope::CancelScope(const Client *client, const std::atomic<bool> *flag) noexcept
    : outer_client_(tls_client), outer_flag_(tls_flag) {
    tls_client = client;
    tls_flag = flag;
}

CancelScope::~CancelScope() {
    tls_client = outer_client_;
    tls_flag = outer_flag_;
}

const std::atomic<bool> *Client::cancel_flag() const noexcept { return tls_client == this ? tls_flag : nullptr; }

bool Client::cancelled() const noexcept {
    const std::atomic<bool> *f = cancel_flag();
    return f && f->load(std::memory_order_acquire);
}

void Client::interrupt_waits() {
    Lock lk(mu_);
    cv_.notify_all();
    if (polled_fd_ >= 0 && wake_fd_ >= 0) transport::wakeup_signal(wake_fd_);
}

void Client::nap(int ms) {
    Lock lk(mu_);
    cv_.wait_for(lk, std::chrono::milliseconds(ms), [&] { return cancelled(); });
}

}  // namespace qmp::client
