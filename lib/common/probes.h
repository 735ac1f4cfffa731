// USDT probes (static tracepoints, provider "libqmp"): docs/tracing.md lists
// each with its arguments.  Built when meson finds <sys/sdt.h> (option
// -Dprobes); otherwise every macro here expands to nothing and its
// arguments are not evaluated.
//
// A probe site is a nop in the code and a note in .note.stapsdt; a tracer
// (perf, bpftrace, systemtap) turns the nop into a breakpoint when it
// attaches.  Every probe has a semaphore, a counter the tracer raises while
// attached: LIBQMP_PROBE_ENABLED(name) reads it, so an argument that costs
// something to compute (a clock read) is computed only while traced.
#pragma once

#include <cstdint>

#ifdef LIBQMP_PROBES

#include <chrono>

#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

// The semaphores, by the names the probe notes refer to (lib/common/probes.cpp).
#define LIBQMP_PROBE_SEMAPHORE(name) \
    extern "C" volatile unsigned short libqmp_##name##_semaphore __attribute__((section(".probes")))
LIBQMP_PROBE_SEMAPHORE(command__send);
LIBQMP_PROBE_SEMAPHORE(reply__route);
LIBQMP_PROBE_SEMAPHORE(event__dispatch);
LIBQMP_PROBE_SEMAPHORE(close);
LIBQMP_PROBE_SEMAPHORE(timeout);

#define LIBQMP_PROBE_ENABLED(name) __builtin_expect(libqmp_##name##_semaphore != 0, 0)
#define LIBQMP_PROBE3(name, a, b, c) STAP_PROBE3(libqmp, name, a, b, c)
#define LIBQMP_PROBE4(name, a, b, c, d) STAP_PROBE4(libqmp, name, a, b, c, d)

namespace qmp::probes {

// Nanoseconds on the monotonic clock, for latencies.
inline uint64_t now_ns() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

// The time since since_ns, or 0 when since_ns was not taken (0).
inline uint64_t since_ns(uint64_t since_ns) { return since_ns ? now_ns() - since_ns : 0; }

}  // namespace qmp::probes

#else

#define LIBQMP_PROBE_ENABLED(name) false
#define LIBQMP_PROBE3(name, a, b, c) \
    do {                             \
    } while (0)
#define LIBQMP_PROBE4(name, a, b, c, d) \
    do {                                \
    } while (0)

namespace qmp::probes {
inline uint64_t now_ns() { return 0; }
inline uint64_t since_ns(uint64_t) { return 0; }
}  // namespace qmp::probes

#endif
