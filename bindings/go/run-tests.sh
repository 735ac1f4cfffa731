#!/bin/sh
# meson's test "go": `go test` on the package as built in the build directory.
#   run-tests.sh GO PKGDIR [go test flags...]
# The environment (GOCACHE, GOFLAGS, cgo flags...) comes from meson.build.
# Without QEMU the tests fail, unless LIBQMP_QEMU_OPTIONAL=1 (they skip).
set -eu
go=$1
pkgdir=$2
shift 2
cd "$pkgdir"
exec "$go" test -count=1 -v -timeout 540s "$@" .
