// A command object as the protocol takes it: its shape checked, and
// encoded compactly for the session (which adds the "id").
#pragma once

#include <string>

#include <jansson.h>

#include "common/error.h"

namespace qmp::protocol {

// Turns a command object into the text to send (compact, no "id"),
// checking its shape.  *name receives the command's name for messages.
// *oob is set when the command is to run out of band: already true (from
// the options) or because the command says "exec-oob".
Error prepare_command(const json_t *command, bool *oob, std::string *text, std::string *name);

}  // namespace qmp::protocol
