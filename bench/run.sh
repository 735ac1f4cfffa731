#!/bin/sh
# Runs all of the benchmarks and prints one table (docs/performance.md).
#
#   bench/run.sh [qmp-bench options]      e.g. --quick, --reps 9, --only flood
#
# Builds in build-bench/ (release) unless BUILD_DIR says otherwise.
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-bench}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    meson setup "$BUILD_DIR" -Dbuildtype=release >/dev/null
fi
meson compile -C "$BUILD_DIR" bench/qmp-bench bench/qmp-mock >/dev/null
# The go-qemu peer is built when go and Debian's go-qemu are installed.
if [ -n "$(command -v go)" ]; then
    meson compile -C "$BUILD_DIR" bench/qmp-bench-go >/dev/null 2>&1 || true
fi
exec "$BUILD_DIR/bench/qmp-bench" "$@"
