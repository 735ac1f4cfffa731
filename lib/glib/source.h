// A GSource that drives a client from a GMainContext.
#pragma once

#include <memory>

#include <glib.h>

#include "client/client.h"

namespace qmp::glib {

// Makes the loop hook for c on context (a reference is taken on context).
// The source watches wake_fd, the client's wakeup fd (Client::wakeup_fd()),
// which is how it learns of changes other threads make.
std::shared_ptr<client::LoopHook> make_source(client::Client *c, GMainContext *context, int wake_fd);

}  // namespace qmp::glib
