#!/bin/sh
# The 'bench' suite: every benchmark once with small counts.  It checks that
# everything runs and the table comes out whole; speed is never asserted.
set -u
out=$("$@" --quick 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 0 ]; then
    echo "quick-test: qmp-bench exited with $rc" >&2
    exit 1
fi
for want in '| workload | client | median |' 'round trip vs mock' 'throughput vs mock' 'big reply' \
            'event flood' 'RSS growth' 'round trip vs real QEMU' 'memory per idle connected client' \
            'validation: round trip vs mock' 'validation alone, per command' 'schema load' \
            'clients vs mock, one GMainContext' 'clients vs mock, one epoll loop' 'peers vs mock' \
            'real QEMUs (-M none), one GMainContext' 'leaked fds' 'throughput vs real QEMU'; do
    if ! printf '%s\n' "$out" | grep -qF -- "$want"; then
        echo "quick-test: the table has no row for: $want" >&2
        exit 1
    fi
done
rows=$(printf '%s\n' "$out" | grep -c '^| ')
if [ "$rows" -lt 95 ]; then
    echo "quick-test: the table has $rows lines, expected 95 (the header and 94 rows)" >&2
    exit 1
fi
