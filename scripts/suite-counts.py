#!/usr/bin/env python3
"""How many tests each suite ran, against the floors in tests/test-counts.txt.

    suite-counts.py check FLOORS LOG [--only S1,S2] [--except S1,S2]
    suite-counts.py record FLOORS LOG

LOG is a meson JSON test log (build/meson-logs/testlog*.json).  For each
suite it counts the meson tests that passed and the cases inside them that
passed: CMocka's "[  PASSED  ] N test(s).", unittest's "Ran N tests" less
its skips, minitest's "N runs" less failures, errors and skips, `go test -v`'s
top-level "--- PASS:" lines, and the fuzz replay's "replayed N inputs"; a
test whose output has no such count is one case.  A test that failed or
was skipped counts for nothing.

check prints the table and exits 1 when a suite of FLOORS that this run
covers (all of them, or those --only names, less those --except names) ran
fewer tests or cases than its floor, is missing from the log, or when the
log has a suite FLOORS does not list.  record writes the counts of LOG to
FLOORS (run it after adding tests; the diff shows what changed).
"""

import json
import re
import sys

CMOCKA_PASSED = re.compile(r"^\[  PASSED  \] (\d+) test\(s\)\.", re.M)
UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in ", re.M)
UNITTEST_SKIPPED = re.compile(r"^(?:OK|FAILED) \(.*?\bskipped=(\d+)", re.M)
UNITTEST_XFAIL = re.compile(r"^(?:OK|FAILED) \(.*?\bexpected failures=(\d+)", re.M)
MINITEST = re.compile(r"^(\d+) runs, \d+ assertions, (\d+) failures, (\d+) errors, (\d+) skips", re.M)
GO_PASS = re.compile(r"^--- PASS: ", re.M)
GO_OK = re.compile(r"^ok\s", re.M)
REPLAYED = re.compile(r"^replayed (\d+) inputs", re.M)

HEADER = """\
# The least number of tests each suite must run (scripts/test.sh checks it
# after every round and fails when a suite runs fewer, or is missing).
#   suite   meson tests that passed   cases inside them that passed
# Raise these when adding tests:  scripts/test.sh --record-counts
# (runs every suite once and rewrites this file from what passed).
"""


def cases_of(output):
    """The passed cases a test's output reports, or None when it reports none."""
    m = CMOCKA_PASSED.findall(output)
    if m:
        return sum(int(n) for n in m)
    m = UNITTEST_RAN.search(output)
    if m:
        ran = int(m.group(1))
        for pattern in (UNITTEST_SKIPPED, UNITTEST_XFAIL):
            s = pattern.search(output)
            if s:
                ran -= int(s.group(1))
        return ran
    m = MINITEST.search(output)
    if m:
        runs, failures, errors, skips = (int(g) for g in m.groups())
        return runs - failures - errors - skips
    if GO_OK.search(output) or GO_PASS.search(output):
        return len(GO_PASS.findall(output))
    m = REPLAYED.search(output)
    if m:
        return int(m.group(1))
    return None


def suites_of(name):
    """"libqmp:async+threads / test-glib" -> ["async", "threads"]."""
    head = name.split(" / ", 1)[0]
    if ":" not in head:
        return []
    return [s for s in head.split(":", 1)[1].split("+") if s]


def read_log(path):
    """{suite: [tests passed, cases passed]} over every suite in the log."""
    counts = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            ok = r.get("result") in ("OK", "EXPECTEDFAIL")
            output = (r.get("stdout") or "") + "\n" + (r.get("stderr") or "")
            n = cases_of(output) if ok else 0
            if ok and n is None:
                n = 1
            for s in suites_of(r.get("name", "")):
                c = counts.setdefault(s, [0, 0])
                c[0] += 1 if ok else 0
                c[1] += n
    return counts


def read_floors(path):
    floors = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if len(words) != 3 or not words[1].isdigit() or not words[2].isdigit():
                raise ValueError("%s:%d: expected 'suite tests cases', got %r" % (path, number, line.strip()))
            floors[words[0]] = (int(words[1]), int(words[2]))
    return floors


def check(floors_path, log_path, only, excluded):
    counts = read_log(log_path)
    floors = read_floors(floors_path)
    covered = [s for s in floors if (not only or s in only) and s not in excluded]
    problems = []
    print("%-12s %12s %16s" % ("suite", "tests/floor", "cases/floor"))
    for s in sorted(set(covered) | set(counts)):
        tests, cases = counts.get(s, (0, 0))
        if s not in floors:
            print("%-12s %6d/%-5s %8d/%-7s" % (s, tests, "-", cases, "-"))
            problems.append("suite %s has no floor in %s: record it (scripts/test.sh --record-counts)"
                            % (s, floors_path))
            continue
        ft, fc = floors[s]
        if s not in covered:
            continue
        print("%-12s %6d/%-5d %8d/%-7d" % (s, tests, ft, cases, fc))
        if s not in counts:
            problems.append("suite %s did not run (its floor is %d tests, %d cases)" % (s, ft, fc))
        elif tests < ft or cases < fc:
            problems.append("suite %s passed %d tests with %d cases, below its floor of %d tests, %d cases"
                            % (s, tests, cases, ft, fc))
    for p in problems:
        print("suite-counts: " + p, file=sys.stderr)
    return 1 if problems else 0


def record(floors_path, log_path):
    counts = read_log(log_path)
    try:
        old = read_floors(floors_path)
    except FileNotFoundError:
        old = {}
    with open(floors_path, "w") as f:
        f.write(HEADER)
        for s in sorted(counts):
            f.write("%-12s %5d %7d\n" % (s, counts[s][0], counts[s][1]))
    for s in sorted(set(old) | set(counts)):
        before = old.get(s)
        after = tuple(counts[s]) if s in counts else None
        if before != after:
            print("suite-counts: %s: %s -> %s" % (s, before or "none", after or "none"))
    print("suite-counts: wrote %s" % floors_path)
    return 0


def main(argv):
    if len(argv) < 4 or argv[1] not in ("check", "record"):
        print(__doc__, file=sys.stderr)
        return 2
    cmd, floors_path, log_path = argv[1:4]
    only, excluded = set(), set()
    rest = argv[4:]
    while rest:
        if len(rest) < 2 or rest[0] not in ("--only", "--except"):
            print(__doc__, file=sys.stderr)
            return 2
        (only if rest[0] == "--only" else excluded).update(x for x in rest[1].split(",") if x)
        rest = rest[2:]
    if cmd == "record":
        return record(floors_path, log_path)
    return check(floors_path, log_path, only, excluded)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
