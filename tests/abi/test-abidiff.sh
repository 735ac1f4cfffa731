#!/bin/sh
# The ABI against the committed baseline (libqmp.abi, made by abidw): fails
# on any incompatible change (a removed or changed function, a changed
# public type); functions added since the baseline are fine.
#
# usage: test-abidiff.sh BASELINE LIBQMP_SO HEADERS_DIR...
#
# abidiff's exit status is a bit field: 1 error, 2 usage error, 4 some ABI
# change, 8 an incompatible change.  4 alone is accepted only when nothing but
# added symbols remains once those are ignored (--no-added-syms).
#
# Regenerating the baseline (at a release, or after an addition):
#   abidw --no-corpus-path --no-comp-dir-path --no-show-locs --exported-interfaces-only \
#       --drop-private-types --drop-undefined-syms --headers-dir include/qmp \
#       --headers-dir build/include/qmp build/lib/libqmp.so > tests/abi/libqmp.abi
baseline=$1
lib=$2
shift 2
if ! command -v abidiff >/dev/null 2>&1; then
    echo "abidiff not found: install abigail-tools (scripts/setup.sh does)" >&2
    exit 1
fi
hd=""
for d in "$@"; do
    hd="$hd --headers-dir2 $d"
done
# shellcheck disable=SC2086
abidiff $hd "$baseline" "$lib"
rc=$?
if [ "$rc" -eq 0 ]; then
    echo "ABI unchanged since the baseline"
    exit 0
fi
if [ $((rc & 3)) -ne 0 ]; then
    echo "abidiff failed (exit status $rc)" >&2
    exit 1
fi
if [ $((rc & 8)) -ne 0 ]; then
    echo "INCOMPATIBLE ABI change against $baseline (exit status $rc)" >&2
    exit 1
fi
# shellcheck disable=SC2086
if abidiff --no-added-syms $hd "$baseline" "$lib" >/dev/null; then
    echo "compatible: only additions since the baseline (refresh it at the next release)"
    exit 0
fi
echo "ABI change against $baseline that is not only additions (exit status $rc)" >&2
exit 1
