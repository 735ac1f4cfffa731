#!/bin/sh
# Runs one example against a private QEMU (-M none) and checks its output.
#   run-example.sh EXAMPLE EXPECTED_SUBSTRING [--expect=MORE...] [ARGS...]
# The output must contain EXPECTED_SUBSTRING and every --expect=TEXT (fixed
# text, not patterns); the remaining ARGS go to the example.
# QEMU comes from $QEMU_SYSTEM or PATH; missing QEMU fails the test (CI
# installs it) unless LIBQMP_QEMU_OPTIONAL=1, then it is skipped (77).
set -u
example=$1
expect=$2
shift 2
more_file=$(mktemp "${TMPDIR:-/tmp}/libqmp-expect.XXXXXX") || exit 1
while [ $# -gt 0 ]; do
    case $1 in
    --expect=*) printf '%s\n' "${1#--expect=}" >>"$more_file"; shift ;;
    *) break ;;
    esac
done
qemu=${QEMU_SYSTEM:-qemu-system-x86_64}
if ! command -v "$qemu" >/dev/null 2>&1; then
    echo "run-example: $qemu not found" >&2
    [ "${LIBQMP_QEMU_OPTIONAL:-0}" = 1 ] && exit 77
    exit 1
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/libqmp-example.XXXXXX") || exit 1
sock="$dir/qmp.sock"
"$qemu" -M none -nodefaults -display none -qmp "unix:$sock,server=on,wait=off" >"$dir/qemu.log" 2>&1 &
qpid=$!
trap 'kill -9 $qpid 2>/dev/null; wait $qpid 2>/dev/null; rm -rf "$dir" "$more_file"' EXIT INT TERM
# Under `meson test --setup=valgrind` valgrind wraps this script; the
# example itself is what must be checked.
wrap=""
if [ "${LIBQMP_TEST_VALGRIND:-0}" = 1 ]; then
    wrap="$(dirname "$0")/../valgrind-wrap.sh"
fi
# The examples connect with a timeout and retry while the socket appears.
$wrap "$example" "$sock" "$@" >"$dir/out" 2>&1
rc=$?
cat "$dir/out"
if [ $rc -ne 0 ]; then
    echo "run-example: $(basename "$example") exited with $rc" >&2
    exit 1
fi
if ! grep -qF -- "$expect" "$dir/out"; then
    echo "run-example: output lacks \"$expect\"" >&2
    exit 1
fi
while IFS= read -r want; do
    if ! grep -qF -- "$want" "$dir/out"; then
        echo "run-example: output lacks \"$want\"" >&2
        exit 1
    fi
done <"$more_file"
exit 0
