#!/bin/sh
# The Go module as a user gets it: installs the build into a temporary
# prefix, writes a program outside the repository whose go.mod points at
# the installed module copy with `replace`, builds it with plain `go build`
# (offline: GOPROXY=off, cgo's flags from pkg-config only) and runs it
# against a real QEMU without LD_LIBRARY_PATH.
#   test-installed.sh GO BUILD_ROOT
# Without QEMU it fails, unless LIBQMP_QEMU_OPTIONAL=1 (then it skips: 77).
set -eu
go=$1
build_root=$2

qemu=${QEMU_SYSTEM:-qemu-system-x86_64}
if ! command -v "$qemu" >/dev/null 2>&1; then
    if [ "${LIBQMP_QEMU_OPTIONAL:-0}" = 1 ]; then
        echo "$qemu not found: skipped (LIBQMP_QEMU_OPTIONAL=1)"
        exit 77
    fi
    echo "test-installed: $qemu not found (scripts/setup.sh installs it)" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/libqmp-go-installed-XXXXXX")
qemu_pid=
cleanup() {
    if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; fi
    chmod -R u+w "$tmp" 2>/dev/null || true  # the module cache is read-only
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "== meson install --destdir $tmp/dest"
meson install -C "$build_root" --no-rebuild --quiet --destdir "$tmp/dest" >"$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log"; echo "test-installed: meson install failed" >&2; exit 1; }

# The prefix the files now live in: DESTDIR + the configured prefix.  The
# installed libqmp.pc names the configured prefix; its copy here names the
# temporary one, which is what an install with --prefix=$prefix writes
# (every other path in it derives from prefix).
pc=$(find "$tmp/dest" -name libqmp.pc | head -n 1)
configured=$(sed -n 's/^prefix=//p' "$pc")
prefix=$tmp/dest$configured
mkdir -p "$tmp/pc"
sed "s|^prefix=.*|prefix=$prefix|" "$pc" >"$tmp/pc/libqmp.pc"
echo "== libqmp.pc for prefix $prefix"
cat "$tmp/pc/libqmp.pc"
module=$(find "$prefix" -type d -path '*/gocode/src/libqmp.org/qmp' | head -n 1)
[ -n "$module" ] || { echo "test-installed: the Go module was not installed" >&2; exit 1; }

# The program, outside the repository.
mkdir -p "$tmp/user"
cat >"$tmp/user/go.mod" <<EOM
module example.com/qmpuser

go 1.19

require libqmp.org/qmp v0.0.0

replace libqmp.org/qmp => $module
EOM
cat >"$tmp/user/main.go" <<'EOM'
// A program that uses the installed module: prints QEMU's status, its
// version, and the error of a transaction with an abort action.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"libqmp.org/qmp"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := qmp.DialUnix(ctx, os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(1)
	}
	defer c.Close()
	var st struct{ Status string }
	if err := c.ExecuteInto(ctx, &st, "query-status", nil); err != nil {
		fmt.Fprintln(os.Stderr, "query-status:", err)
		os.Exit(1)
	}
	fmt.Println("status:", st.Status)
	fmt.Println("libqmp:", qmp.Version())
	var ce *qmp.CommandError
	err = c.Transaction(ctx, []qmp.Action{{Type: "abort"}})
	if !errors.As(err, &ce) {
		fmt.Fprintln(os.Stderr, "transaction:", err)
		os.Exit(1)
	}
	fmt.Println("abort:", ce.Desc)
}
EOM

# Only what a Go user has: no CGO_CFLAGS/CGO_LDFLAGS, no LD_LIBRARY_PATH.
unset CGO_CFLAGS CGO_LDFLAGS CGO_CPPFLAGS LD_LIBRARY_PATH GOFLAGS
export PKG_CONFIG_PATH="$tmp/pc"
export GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local GOENV=off GO111MODULE=on CGO_ENABLED=1
export GOCACHE="$tmp/gocache" GOPATH="$tmp/gopath"
echo "== go build (in $tmp/user)"
(cd "$tmp/user" && "$go" build -o qmpuser .)

echo "== the program's dynamic section"
readelf -d "$tmp/user/qmpuser" | grep -E 'NEEDED.*libqmp|RPATH|RUNPATH'
readelf -d "$tmp/user/qmpuser" | grep -E 'R(UN)?PATH' | grep -q "$prefix" || {
    echo "test-installed: no rpath to $prefix in the program" >&2; exit 1; }

"$qemu" -M none -nodefaults -display none -qmp "unix:$tmp/qmp.sock,server=on,wait=off" >"$tmp/qemu.log" 2>&1 &
qemu_pid=$!

echo "== run (LD_LIBRARY_PATH unset)"
out=$("$tmp/user/qmpuser" "$tmp/qmp.sock") || { cat "$tmp/qemu.log"; exit 1; }
echo "$out"
# It used the installed copy, not the build tree's library.
if command -v ldd >/dev/null; then
    ldd "$tmp/user/qmpuser" | grep libqmp
    ldd "$tmp/user/qmpuser" | grep libqmp | grep -q "$prefix" || {
        echo "test-installed: libqmp not resolved into the prefix" >&2; exit 1; }
fi
echo "$out" | grep -qx 'status: running' || { echo "test-installed: no 'status: running'" >&2; exit 1; }
echo "$out" | grep -q '^abort: Transaction aborted using Abort action' || {
    echo "test-installed: the abort action was not run" >&2; exit 1; }
echo "ok"
