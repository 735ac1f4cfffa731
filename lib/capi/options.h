// Reading the public qmp_exec_options (options.cpp).
#pragma once

#include <qmp/qmp-client.h>

#include "client/client.h"
#include "common/error.h"

namespace qmp::capi {

// opts (NULL: the defaults) into *out, or QMP_EINVAL saying what is wrong.
Error read_options(const qmp_exec_options *opts, client::ExecOptions *out);

}  // namespace qmp::capi
