#!/bin/sh
# Runs the guest-agent example: a qemu-ga started here with -b (every command
# that changes the machine blocked: QGA_BLOCKED_RPCS of tests/agent/qga.h, the
# one list), then run-example.sh with the agent's socket as the last argument.
#   run-agent-example.sh EXAMPLE EXPECTED [--expect=MORE...]
set -u
here=$(dirname "$0")
blocked=$(sed -n '/#define QGA_BLOCKED_RPCS/,/^$/p' "$here/../agent/qga.h" | grep -o '"[^"]*"' | tr -d '"\n')
case ",$blocked," in
    *,guest-shutdown,*) ;;
    *) echo "run-agent-example: cannot read QGA_BLOCKED_RPCS from qga.h" >&2; exit 1 ;;
esac
dir=$(mktemp -d "${TMPDIR:-/tmp}/libqmp-qga-example.XXXXXX") || exit 1
mkdir "$dir/state"
qemu-ga -m unix-listen -p "$dir/qga.sock" -t "$dir/state" -f "$dir/qga.pid" -l "$dir/qga.log" -b "$blocked" &
gapid=$!
trap 'kill $gapid 2>/dev/null; wait $gapid 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
i=0
while [ ! -S "$dir/qga.sock" ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i + 1)); done
"$here/run-example.sh" "$@" "$dir/qga.sock"
