// qmp_exec_options read into the client's ExecOptions, checked: one place
// for every call that takes them (qmp-client.h, qmp-call.h).
#include "capi/options.h"

#include "schema/schema.h"

namespace qmp::capi {

Error read_options(const qmp_exec_options *opts, qmp::client::ExecOptions *out) {
    if (!opts) return Error::ok();
    if (opts->version < 1 || opts->version > QMP_EXEC_OPTIONS_VERSION)
        return Error::make(QMP_EINVAL, "qmp_exec_options.version is %u; this library knows versions 1 to %d (use QMP_EXEC_OPTIONS_INIT)",
                           opts->version, QMP_EXEC_OPTIONS_VERSION);
    if (opts->timeout_ms < -1) return Error::make(QMP_EINVAL, "timeout_ms must be -1, 0 or positive, not %d", opts->timeout_ms);
    out->timeout_ms = opts->timeout_ms;
    out->fds = opts->fds;
    out->nfds = opts->nfds;
    out->oob = opts->oob != 0;
    if (opts->version >= 2) {
        int v = opts->validate;
        if (v != 0 && v != QMP_VALIDATE_OFF && (v & ~qmp::schema::kAllFlags))
            return Error::make(QMP_EINVAL, "qmp_exec_options.validate is %d: use 0, QMP_VALIDATE_OFF or QMP_VALIDATE flags", v);
        out->validate = v;
    }
    return Error::ok();
}

}  // namespace qmp::capi
