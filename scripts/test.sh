#!/usr/bin/env bash
# The test command: every suite, then every suite again under valgrind,
# then the async, mock and agent suites under ThreadSanitizer, then every suite under
# AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   scripts/test.sh           meson test, meson test --setup=valgrind,
#                             meson test --suite async --suite mock --suite agent in
#                             build-tsan/, and
#                             meson test in build-asan/
#   scripts/test.sh --quick   meson test only
#   scripts/test.sh --record-counts
#                             meson test only, then (if all passed and none
#                             was skipped) writes what each suite ran to
#                             tests/test-counts.txt
#
# After each run it prints every suite with the meson tests and the cases
# inside them that passed, and fails when a suite ran fewer than its floor
# in tests/test-counts.txt, or did not run (scripts/suite-counts.py).  Raise
# the floors after adding tests with --record-counts and commit the file.
#
# Ends with one line "tests: N passed, M failed" (all runs summed, from
# meson's JSON test logs) and exits non-zero if anything failed.  Expects a
# configured build/ (scripts/setup.sh); build-tsan/ (-Db_sanitize=thread)
# and build-asan/ (-Db_sanitize=address,undefined) are configured here when
# missing.
set -uo pipefail

cd "$(dirname "$0")/.."

BUILD_DIR=build
FLOORS=tests/test-counts.txt
quick=0
record=0
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        --record-counts) quick=1; record=1 ;;
        -h|--help)
            sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
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
# The failed tests of every round, with the end of their output, printed
# again before the last line.
RECAP=$(mktemp)
trap 'rm -f "$RECAP"' EXIT

# count LOG ROUND: adds the results in meson's JSON test log to the totals,
# and what failed (named with ROUND) to the recap.
# A run that left no log (the build failed, meson crashed) is one failure.
count() {
    local log="$1" counts
    if [ ! -s "$log" ]; then
        echo "test.sh: no test log ${log}: the run did not complete" >&2
        failed=$((failed + 1))
        return
    fi
    if ! counts=$(python3 - "$log" "$2" "$RECAP" <<'PY'
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
# What failed, for the recap at the end (a CI log may show only its tail).
with open(sys.argv[3], "a") as out:
    with open(sys.argv[1]) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            if r.get("result") in ("OK", "EXPECTEDFAIL", "SKIP"):
                continue
            out.write("--- %s: %s %s after %.1f s; the end of its output:\n"
                      % (sys.argv[2], r.get("name"), r.get("result"), r.get("duration") or 0))
            text = (r.get("stdout") or "") + (r.get("stderr") or "")
            for l in text.splitlines()[-25:]:
                out.write("    " + l[:300] + "\n")
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

# check_counts LOG [--only S1,S2] [--except S1,S2]: prints the suites of
# the log with what passed in each, and counts one failure per suite below
# its floor in $FLOORS or missing (the suites this round runs).
check_counts() {
    local log="$1" out
    shift
    [ -s "$log" ] || return  # count() has already reported it
    out=$(python3 scripts/suite-counts.py check "$FLOORS" "$log" "$@" 2>&1)
    local rc=$?
    echo "$out"
    if [ "$rc" -ne 0 ]; then
        local n
        n=$(grep -c '^suite-counts: ' <<<"$out")
        grep '^suite-counts: ' <<<"$out" | sed "s|^|--- ${log}: |" >>"$RECAP"
        failed=$((failed + (n > 0 ? n : 1)))
    fi
}

# run_in DIR NAME LOG SUITES ARGS...: one meson test run in build dir DIR;
# its own exit status is not trusted alone, the log is what counts (plus a
# failure if meson failed without logging one).  SUITES: the arguments of
# check_counts for the suites this run covers ("" for all).
run_in() {
    local dir="$1" name="$2" log="$3" suites="$4"
    shift 4
    rm -f "$log"
    echo "==> ${name}: meson test -C ${dir} $*"
    local before=$failed
    meson test -C "${dir}" --print-errorlogs "$@"
    local rc=$?
    count "$log" "$name"
    if [ "$rc" -ne 0 ] && [ "$failed" -eq "$before" ]; then
        echo "test.sh: meson test exited with ${rc}" >&2
        failed=$((failed + 1))
    fi
    if [ "$record" -eq 0 ]; then
        # shellcheck disable=SC2086  # SUITES is words on purpose
        check_counts "$log" $suites
    fi
}

# run NAME LOG ARGS...: run_in the main build dir.
run() {
    run_in "${BUILD_DIR}" "$@"
}

# The thread tests (tests/async, the test server's tests/mock, which runs a
# thread per server, and the guest agent's tests/agent: threads pinging one
# agent connection, a scripted agent on a thread) again with libqmp and the
# tests built with
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
    run_in "${TSAN_DIR}" "async, mock and agent suites under ThreadSanitizer" "${TSAN_DIR}/meson-logs/testlog.json" \
        "--only async,threads,mock,agent" --suite async --suite mock --suite agent
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
    # they run in the plain rounds only.  This build has no bindings
    # (-Dbindings is not given), so their suites are not expected here.
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
        run_in "${ASAN_DIR}" "all suites under ASan+UBSan" "${ASAN_DIR}/meson-logs/testlog.json" \
        "--except bench,python,ruby,ruby-gem,go" --no-suite bench
}

run "all suites" "${BUILD_DIR}/meson-logs/testlog.json" ""
if [ "$record" -eq 1 ]; then
    if [ "$failed" -eq 0 ] && [ "$skipped" -eq 0 ]; then
        python3 scripts/suite-counts.py record "$FLOORS" "${BUILD_DIR}/meson-logs/testlog.json" || failed=$((failed + 1))
    else
        echo "test.sh: not recording the counts of a run that failed or skipped tests" >&2
    fi
fi
if [ "$quick" -eq 0 ]; then
    run "all suites under valgrind" "${BUILD_DIR}/meson-logs/testlog-valgrind.json" "" --setup=valgrind
    run_tsan
    run_asan
fi

if [ -s "$RECAP" ]; then
    echo "==> what failed"
    cat "$RECAP"
fi
if [ "$skipped" -ne 0 ]; then
    echo "(${skipped} skipped)"
fi
echo "tests: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
