#!/bin/sh
# meson's test "go_vet": `go vet` on the hand-written packages as built in
# the build directory (internal/libqmp is SWIG's output, not ours).
#   vet.sh GO PKGDIR
set -eu
cd "$2"
exec "$1" vet . ./qmptest ./internal/bridge
