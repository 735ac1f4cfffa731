#!/bin/sh
# meson's test "go_goqemu": go vet and go test on package
# libqmp.org/qmp/goqemu in GOPATH mode: a temporary GOPATH holds the build
# directory's package as libqmp.org/qmp, the system's GOPATH (Debian's
# /usr/share/gocode) go-qemu and its dependencies.
#   run-goqemu-tests.sh GO PKGDIR GOCODE
set -eu
go=$1
pkgdir=$(cd "$2" && pwd)
gocode=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/libqmp-goqemu-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/libqmp.org"
ln -s "$pkgdir" "$tmp/src/libqmp.org/qmp"
export GO111MODULE=off GOPATH="$tmp:$gocode"
unset GOFLAGS
cd "$tmp/src/libqmp.org/qmp/goqemu"
"$go" vet .
exec "$go" test -count=1 -v -timeout 240s .
