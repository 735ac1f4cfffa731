// A GSource that drives a client from a GMainContext.
#pragma once

#include <memory>

#include <glib.h>

#include "client/client.h"

namespace qmp::glib {

// Makes the loop hook for c on context (a reference is taken on context).
std::shared_ptr<client::LoopHook> make_source(client::Client *c, GMainContext *context);

}  // namespace qmp::glib
