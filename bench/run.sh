#!/bin/sh
# Runs all of the benchmarks and prints one table (docs/performance.md), then
# the Python clients' table (bench/python/bench_aio.py).
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
"$BUILD_DIR/bench/qmp-bench" "$@"
# The Python clients (libqmp.aio, the sync client, qemu.qmp where present:
# QEMU_QMP_PATH), when the build has the Python binding.  Only --quick and
# --reps N apply to them.
if [ -d "$BUILD_DIR/bindings/python/libqmp" ]; then
    meson compile -C "$BUILD_DIR" bench/qmp-mock >/dev/null
    pyargs=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --quick) pyargs="$pyargs --quick" ;;
            --reps) pyargs="$pyargs --reps $2"; shift ;;
        esac
        shift
    done
    echo
    # shellcheck disable=SC2086 # the options are words
    PYTHONPATH="$BUILD_DIR/bindings/python" /usr/bin/python3 bench/python/bench_aio.py \
        --mock "$BUILD_DIR/bench/qmp-mock" --schema bench/data/qemu-7.2-query-qmp-schema.json $pyargs
else
    echo "bench: the Python rows need a build with -Dbindings=python ($BUILD_DIR has none)" >&2
fi
