// The varargs command builder behind qmp-command.h: libvirt's key list
// ("<code>:<member name>", value, ..., NULL) turned into jansson objects.
//
// Every function reports failure as an Error (QMP_EINVAL naming the key,
// QMP_ENOMEM); the C boundary (capi/command.cpp) stores it as the last error.
// Ownership of 'a'/'A' values follows qmp-command.h: a value is stolen
// exactly when its json_t ** is set to NULL, and on failure only the values
// before the failing key have been taken.
#pragma once

#include <cstdarg>

#include <jansson.h>

#include "common/error.h"

namespace qmp::json {

// {"execute": name, "arguments": {...}}; no "arguments" without pairs.
Error command_new(const char *name, va_list ap, json_t **out);

// A bare object of the pairs; first_key NULL gives {}.
Error args_new(const char *first_key, va_list ap, json_t **out);

// Adds the pairs of ap (the first key is read from ap) to object: into its
// "arguments" (created when missing and there is something to add) when
// object is a command, i.e. has a string "execute" or "exec-oob" member;
// else into object itself.  All or nothing: on failure object is unchanged.
Error args_add(json_t *object, va_list ap);

// {"type": type, "data": {...}}.
Error transaction_action_new(const char *type, va_list ap, json_t **out);

// {"execute": "transaction", "arguments": {"actions": actions[,
// "properties": {"completion-mode": mode}]}}.  Steals actions, also on failure.
Error transaction_new(json_t *actions, const char *completion_mode, json_t **out);

// Renames "execute" to "exec-oob", keeping the member order.
Error command_set_oob(json_t *command);

}  // namespace qmp::json
