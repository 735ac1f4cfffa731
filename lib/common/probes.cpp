// The semaphores of the USDT probes (lib/common/probes.h): a tracer raises
// one while it is attached to its probe.  Hidden like every other symbol;
// the probe notes refer to them by address.
#include "common/probes.h"

#ifdef LIBQMP_PROBES

#define LIBQMP_PROBE_SEMAPHORE_DEFINE(name) volatile unsigned short libqmp_##name##_semaphore = 0
LIBQMP_PROBE_SEMAPHORE_DEFINE(command__send);
LIBQMP_PROBE_SEMAPHORE_DEFINE(reply__route);
LIBQMP_PROBE_SEMAPHORE_DEFINE(event__dispatch);
LIBQMP_PROBE_SEMAPHORE_DEFINE(close);
LIBQMP_PROBE_SEMAPHORE_DEFINE(timeout);

#endif
