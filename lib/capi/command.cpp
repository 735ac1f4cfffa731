// The C boundary for qmp-command.h.
#include <cstdarg>

#include <qmp/qmp-command.h>

#include "capi/guard.h"
#include "json/builder.h"

using qmp::Error;
using qmp::set_last_error;
using qmp::capi::guarded;

namespace {

// Runs a builder that produces a new object; NULL with the last error set.
template <typename F>
json_t *build(F &&builder) {
    json_t *out = nullptr;
    int rc = guarded([&]() -> int {
        Error e = builder(&out);
        return e ? set_last_error(e) : QMP_OK;
    });
    return rc == QMP_OK ? out : nullptr;
}

// Runs a builder that changes an object in place; 0 or the status.
template <typename F>
int modify(F &&builder) {
    return guarded([&]() -> int {
        Error e = builder();
        return e ? set_last_error(e) : QMP_OK;
    });
}

}  // namespace

extern "C" {

QMP_API json_t *qmp_command_newv(const char *name, va_list ap) {
    return build([&](json_t **out) { return qmp::json::command_new(name, ap, out); });
}

QMP_API json_t *qmp_command_new(const char *name, ...) {
    va_list ap;
    va_start(ap, name);
    json_t *cmd = qmp_command_newv(name, ap);
    va_end(ap);
    return cmd;
}

QMP_API json_t *qmp_args_new(const char *first_key, ...) {
    va_list ap;
    va_start(ap, first_key);
    json_t *args = build([&](json_t **out) { return qmp::json::args_new(first_key, ap, out); });
    va_end(ap);
    return args;
}

QMP_API int qmp_args_addv(json_t *object, va_list ap) {
    return modify([&]() { return qmp::json::args_add(object, ap); });
}

QMP_API int qmp_args_add(json_t *object, ...) {
    va_list ap;
    va_start(ap, object);
    int rc = qmp_args_addv(object, ap);
    va_end(ap);
    return rc;
}

QMP_API json_t *qmp_transaction_action_new(const char *type, ...) {
    va_list ap;
    va_start(ap, type);
    json_t *action = build([&](json_t **out) {
        return qmp::json::transaction_action_new(type, ap, out);
    });
    va_end(ap);
    return action;
}

QMP_API json_t *qmp_transaction_new(json_t *actions, const char *completion_mode) {
    return build([&](json_t **out) {
        return qmp::json::transaction_new(actions, completion_mode, out);
    });
}

QMP_API int qmp_command_set_oob(json_t *command) {
    return modify([&]() { return qmp::json::command_set_oob(command); });
}

}  // extern "C"
