// Holds a reference to a client for the duration of one C call, so that a
// callback that frees the client meanwhile cannot pull it from under the call.
// The call ends by telling the application's loop callbacks what it changed,
// with no lock held, in the calling thread.
#pragma once

#include "client/client.h"

namespace qmp::capi {

class Hold {
public:
    explicit Hold(qmp_client *c) : c_(client::Client::from(c)) { c_->ref(); }
    ~Hold() {
        c_->tell_loop();
        c_->unref();
    }
    Hold(const Hold &) = delete;
    Hold &operator=(const Hold &) = delete;
    client::Client *operator->() const { return c_; }
    client::Client *get() const { return c_; }

private:
    client::Client *c_;
};

}  // namespace qmp::capi
