#!/usr/bin/env bash
# The test command: every suite, then every suite again under valgrind,
# then the async suite under ThreadSanitizer, then every suite under
# AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   scripts/test.sh           meson test, meson test --setup=valgrind,
#                             meson test --suite async in build-tsan/, and
#                             meson test in build-asan/
#   scripts/test.sh --quick   meson test only
#
# Ends with one line "tests: N passed, M failed" (all runs summed, from
# meson's JSON test logs) and exits non-zero if anything failed.  Expects a
# configured build/ (scripts/setup.sh); build-tsan/ (-Db_sanitize=thread)
# and build-asan/ (-Db_sanitize=address,undefined) are configured here when
# missing.
set -uo pipefail

cd "$(dirname "$0")/.."

BUILD_DIR=build
quick=0
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        -h|--help)
            sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
            exit 0 ;;
        *)
            echo "test.sh: unknown option: $arg (try --help)" >&2
            exit 2 ;;
    esac
done

if [ ! -f "${BUILD_DIR}/meson-private/coredata.dat" ]; then
    echo "test.sh: ${BUILD_DIR}/ is not configured; run scripts/setup.sh first" >&2
    echo "tests: 0 passed, 1 failed"
    exit 1
fi

passed=0
failed=0
skipped=0

# count LOG: adds the results in meson's JSON test log to the totals.
# A run that left no log (the build failed, meson crashed) is one failure.
count() {
    local log="$1" counts
    if [ ! -s "$log" ]; then
        echo "test.sh: no test log ${log}: the run did not complete" >&2
        failed=$((failed + 1))
        return
    fi
    if ! counts=$(python3 - "$log" <<'PY'
import json, sys
ok = bad = skip = 0
with open(sys.argv[1]) as f:
    for line in f:
        line = line.strip()
        if not line:
            continue
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            ok += 1
        elif r == "SKIP":
            skip += 1
        else:  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, INTERRUPT
            bad += 1
print(ok, bad, skip)
PY
    ); then
        echo "test.sh: cannot read ${log}" >&2
        failed=$((failed + 1))
        return
    fi
    read -r ok bad skip <<<"$counts"
    passed=$((passed + ok))
    failed=$((failed + bad))
    skipped=$((skipped + skip))
}

# run_in DIR NAME LOG ARGS...: one meson test run in build dir DIR; its own
# exit status is not trusted alone, the log is what counts (plus a failure
# if meson failed without logging one).
run_in() {
    local dir="$1" name="$2" log="$3"
    shift 3
    rm -f "$log"
    echo "==> ${name}: meson test -C ${dir} $*"
    local before=$failed
    meson test -C "${dir}" --print-errorlogs "$@"
    local rc=$?
    count "$log"
    if [ "$rc" -ne 0 ] && [ "$failed" -eq "$before" ]; then
        echo "test.sh: meson test exited with ${rc}" >&2
        failed=$((failed + 1))
    fi
}

# run NAME LOG ARGS...: run_in the main build dir.
run() {
    run_in "${BUILD_DIR}" "$@"
}

# The thread tests (tests/async) again with libqmp and the tests built with
# -fsanitize=thread, in a build dir of their own.  A set-up or build that
# fails is one failure.
TSAN_DIR=build-tsan
run_tsan() {
    if [ ! -f "${TSAN_DIR}/meson-private/coredata.dat" ]; then
        echo "==> configuring ${TSAN_DIR}/ (ThreadSanitizer)"
        if ! meson setup "${TSAN_DIR}" -Db_sanitize=thread -Dbuildtype=debug; then
            echo "test.sh: cannot configure ${TSAN_DIR}/" >&2
            failed=$((failed + 1))
            return
        fi
    fi
    if ! meson compile -C "${TSAN_DIR}"; then
        echo "test.sh: the ThreadSanitizer build failed" >&2
        failed=$((failed + 1))
        return
    fi
    run_in "${TSAN_DIR}" "async suite under ThreadSanitizer" "${TSAN_DIR}/meson-logs/testlog.json" --suite async
}

# Every suite again with libqmp and the tests built with
# -fsanitize=address,undefined, in a build dir of their own: any memory
# error, leak or undefined behaviour fails the test that hit it.  A set-up
# or build that fails is one failure.
ASAN_DIR=build-asan
run_asan() {
    if [ ! -f "${ASAN_DIR}/meson-private/coredata.dat" ]; then
        echo "==> configuring ${ASAN_DIR}/ (AddressSanitizer + UndefinedBehaviorSanitizer)"
        if ! meson setup "${ASAN_DIR}" -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug; then
            echo "test.sh: cannot configure ${ASAN_DIR}/" >&2
            failed=$((failed + 1))
            return
        fi
    fi
    if ! meson compile -C "${ASAN_DIR}"; then
        echo "test.sh: the AddressSanitizer build failed" >&2
        failed=$((failed + 1))
        return
    fi
    # The benchmarks measure speed, which a sanitizer build does not have:
    # they run in the plain rounds only.
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
        run_in "${ASAN_DIR}" "all suites under ASan+UBSan" "${ASAN_DIR}/meson-logs/testlog.json" --no-suite bench
}

run "all suites" "${BUILD_DIR}/meson-logs/testlog.json"
if [ "$quick" -eq 0 ]; then
    run "all suites under valgrind" "${BUILD_DIR}/meson-logs/testlog-valgrind.json" --setup=valgrind
    run_tsan
    run_asan
fi

if [ "$skipped" -ne 0 ]; then
    echo "(${skipped} skipped)"
fi
echo "tests: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
