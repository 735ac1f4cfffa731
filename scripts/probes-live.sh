#!/usr/bin/env bash
# A manual check of the USDT probes (docs/tracing.md) with a real tracer:
# bpftrace attaches to every probe of build/lib/libqmp.so, then
#   1. qmpctl --launch runs its demo against a private QEMU: commands
#      (command__send, reply__route with status 0 and a latency), STOP and
#      RESUME (event__dispatch), a QMP error (status QMP_ECOMMAND, -9), the
#      client freed at exit (close, reason 0);
#   2. qmpctl -t 2 exec query-status against a scripted server that greets,
#      negotiates and then never answers (timeout).
# and the check fails unless bpftrace saw each of these with its arguments.
#
#   scripts/probes-live.sh [BUILD_DIR]      (default build/)
#
# Not part of scripts/test.sh: it needs root (or CAP_BPF and CAP_PERFMON),
# a kernel with uprobes, tracefs, and bpftrace (apt-get install bpftrace),
# none of which a CI container is sure to offer.  The probes' presence and
# arguments are tested in every build by the 'probes' suite instead.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
LIB=$(readlink -f "${BUILD_DIR}/lib/libqmp.so")
QMPCTL=${BUILD_DIR}/tools/qmpctl/qmpctl

fail() {
    echo "probes-live: $*" >&2
    exit 1
}

command -v bpftrace >/dev/null || fail "bpftrace is not installed (apt-get install bpftrace)"
[ -f "$LIB" ] || fail "no ${BUILD_DIR}/lib/libqmp.so: build first"
[ -x "$QMPCTL" ] || fail "no ${QMPCTL}: meson compile -C ${BUILD_DIR} tools/qmpctl/qmpctl"
readelf -n "$LIB" | grep -q 'Provider: libqmp' || fail "${LIB} has no probes (configured with -Dprobes=disabled?)"
[ -e /sys/kernel/tracing/uprobe_events ] || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null ||
    fail "tracefs is not mounted at /sys/kernel/tracing and cannot be"

tmp=$(mktemp -d)
bt_pid=""
server_pid=""
cleanup() {
    if [ -n "$bt_pid" ]; then kill "$bt_pid" 2>/dev/null || true; wait "$bt_pid" 2>/dev/null || true; fi
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# One line per probe hit, the arguments decoded (strings read with str()).
cat >"$tmp/probes.bt" <<EOF
usdt:${LIB}:libqmp:command__send { printf("send %s id=%d len=%d\n", str(arg2), arg1, arg3); }
usdt:${LIB}:libqmp:reply__route { printf("reply id=%d status=%d latency=%d\n", arg1, arg2, arg3); }
usdt:${LIB}:libqmp:event__dispatch { printf("event %s seq=%d\n", str(arg1), arg2); }
usdt:${LIB}:libqmp:close { printf("close reason=%d %s\n", arg1, str(arg2)); }
usdt:${LIB}:libqmp:timeout { printf("timeout id=%d %s\n", arg1, str(arg2)); }
EOF
bpftrace "$tmp/probes.bt" >"$tmp/trace" 2>"$tmp/bpftrace.err" &
bt_pid=$!
for _ in $(seq 100); do
    grep -q '^Attaching' "$tmp/trace" && break
    kill -0 "$bt_pid" 2>/dev/null || { cat "$tmp/bpftrace.err" >&2; fail "bpftrace did not start"; }
    sleep 0.2
done
grep -q '^Attaching' "$tmp/trace" || fail "bpftrace did not attach in 20 s"
sleep 1

"$QMPCTL" --launch >"$tmp/demo" 2>&1 || { cat "$tmp/demo" >&2; fail "qmpctl --launch failed"; }

# A QMP server that greets, accepts qmp_capabilities, and answers nothing after.
python3 - "$tmp/silent.sock" <<'PY' &
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(1)
c, _ = s.accept()
c.sendall(b'{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": ""}, "capabilities": []}}\n')
buf = b""
while True:  # commands come without a newline: read until one whole object is in
    chunk = c.recv(4096)
    if not chunk:
        sys.exit(0)
    buf += chunk
    try:
        caps, _ = json.JSONDecoder().raw_decode(buf.decode())
        break
    except ValueError:
        pass
c.sendall(json.dumps({"return": {}, "id": caps["id"]}).encode() + b"\n")
while c.recv(4096):
    pass
PY
server_pid=$!
for _ in $(seq 50); do [ -S "$tmp/silent.sock" ] && break; sleep 0.1; done
rc=0
"$QMPCTL" -s "$tmp/silent.sock" -t 2 exec query-status >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 4 ] || fail "qmpctl against the silent server exited with ${rc}, not 4 (timeout)"

sleep 1
kill -INT "$bt_pid"
wait "$bt_pid" || true
bt_pid=""
echo "--- what bpftrace saw"
grep -v '^Attaching' "$tmp/trace"

expect() {
    grep -Eq "$1" "$tmp/trace" || fail "no line matching: $1"
}
expect '^send query-version id=[0-9]+ len=[0-9]+$'
expect '^reply id=[0-9]+ status=0 latency=[1-9][0-9]*$'
expect '^event STOP seq=1$'
expect '^event RESUME seq=2$'
expect '^send no-such-command id=[0-9]+'
expect '^reply id=[0-9]+ status=-9 latency=[1-9]'
expect '^close reason=0 the client was freed$'
expect '^send query-status id=2 len=26$'
expect '^timeout id=2 query-status$'
echo "probes-live: every probe fired with its arguments"
