#!/bin/sh
# The 'bench' suite's Python part: bench_aio.py once with small counts.  It
# checks that every row runs and the table comes out whole (qemu.qmp's rows
# may say "skipped: qemu.qmp not found"); speed is never asserted.
#   quick-test.sh PYTHON BENCH_AIO MOCK SCHEMA
set -u
py=$1
shift
out=$("$py" "$@" --quick 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 0 ]; then
    echo "quick-test: bench_aio.py exited with $rc" >&2
    exit 1
fi
for want in 'Python: round trip vs mock' 'Python: throughput vs mock' 'Python: event flood' \
            'Python: round trip vs real QEMU' 'libqmp.aio AsyncClient.execute' 'libqmp.aio async for' \
            'asyncio.to_thread' 'qemu.qmp QMPClient'; do
    if ! printf '%s\n' "$out" | grep -qF -- "$want"; then
        echo "quick-test: the table has no row for: $want" >&2
        exit 1
    fi
done
rows=$(printf '%s\n' "$out" | grep -c '^| ')
if [ "$rows" -ne 14 ]; then
    echo "quick-test: the table has $rows lines, expected 14 (the header and 12 rows)" >&2
    exit 1
fi
# Every libqmp row has a figure.
if printf '%s\n' "$out" | grep '| libqmp' | grep -q 'FAILED\|skipped'; then
    echo "quick-test: a libqmp row has no figure" >&2
    exit 1
fi
