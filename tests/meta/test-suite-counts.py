#!/usr/bin/env python3
"""scripts/suite-counts.py: what it counts in a meson JSON test log, and when
its check fails.  And every test file of the tree is named in its folder's
meson.build (one that is not would never run)."""

import contextlib
import glob
import importlib.util
import io
import json
import os
import re
import sys
import tempfile
import unittest

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "suite-counts.py")
spec = importlib.util.spec_from_file_location("suite_counts", SCRIPT)
sc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sc)

CMOCKA = "[==========] 3 test(s) run.\n"
CMOCKA_ERR = "[  PASSED  ] 3 test(s).\n"
CMOCKA_TWO_GROUPS = "[  PASSED  ] 2 test(s).\n[  PASSED  ] 4 test(s).\n"
CMOCKA_SKIPPED = "[  PASSED  ] 2 test(s).\n[  SKIPPED ] 1 test(s), listed below:\n"
UNITTEST = "test_a ... ok\n------\nRan 5 tests in 0.1s\n\nOK (skipped=2)\n"
UNITTEST_PLAIN = "Ran 1 test in 0.1s\n\nOK\n"
MINITEST = "Finished in 1.0s, 2.0 runs/s\n\n6 runs, 30 assertions, 0 failures, 0 errors, 1 skips\n"
GO = ("=== RUN   TestA\n--- PASS: TestA (0.01s)\n=== RUN   TestB\n    --- PASS: TestB/sub (0.00s)\n"
      "--- PASS: TestB (0.01s)\n=== RUN   TestC\n--- SKIP: TestC (0.00s)\nPASS\nok  \tlibqmp.org/qmp\t1.0s\n")
REPLAY = "replayed 120 inputs\n"


def entry(name, result="OK", stdout="", stderr=""):
    return {"name": name, "result": result, "stdout": stdout, "stderr": stderr}


class SuiteCountsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def log(self, entries):
        p = self.path("testlog.json")
        with open(p, "w") as f:
            for e in entries:
                f.write(json.dumps(e) + "\n")
        return p

    def floors(self, text):
        p = self.path("floors.txt")
        with open(p, "w") as f:
            f.write(text)
        return p

    def check(self, floors, log, *args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = sc.main(["suite-counts.py", "check", floors, log] + list(args))
        return rc, out.getvalue(), err.getvalue()

    def test_cases_of_each_runner(self):
        self.assertEqual(sc.cases_of(CMOCKA + "\n" + CMOCKA_ERR), 3)
        self.assertEqual(sc.cases_of(CMOCKA_TWO_GROUPS), 6)
        self.assertEqual(sc.cases_of(CMOCKA_SKIPPED), 2)
        self.assertEqual(sc.cases_of(UNITTEST), 3)
        self.assertEqual(sc.cases_of(UNITTEST_PLAIN), 1)
        self.assertEqual(sc.cases_of(MINITEST), 5)
        self.assertEqual(sc.cases_of(GO), 2)  # top level only; the skipped one does not count
        self.assertEqual(sc.cases_of(REPLAY), 120)
        self.assertIsNone(sc.cases_of("PASS: usage\n"))

    def test_suites_of_a_name(self):
        self.assertEqual(sc.suites_of("libqmp:unit / test-codec"), ["unit"])
        self.assertEqual(sc.suites_of("libqmp:async+threads / test-glib"), ["async", "threads"])

    def test_read_log_counts_only_what_passed(self):
        log = self.log([
            entry("libqmp:unit / a", stderr=CMOCKA_ERR),
            entry("libqmp:unit / b", result="FAIL", stderr=CMOCKA_ERR),
            entry("libqmp:unit / c", result="SKIP"),
            entry("libqmp:async+threads / d", stderr=CMOCKA_TWO_GROUPS),
            entry("libqmp:qmpctl / e", stdout="PASS: e\n"),
        ])
        self.assertEqual(sc.read_log(log), {"unit": [1, 3], "async": [1, 6], "threads": [1, 6], "qmpctl": [1, 1]})

    def test_check_passes_at_or_above_the_floors(self):
        log = self.log([entry("libqmp:unit / a", stderr=CMOCKA_ERR), entry("libqmp:go / go", stdout=GO)])
        rc, out, err = self.check(self.floors("unit 1 3\ngo 1 1  # comment\n"), log)
        self.assertEqual(rc, 0, err)
        self.assertIn("unit", out)
        self.assertEqual(err, "")

    def test_check_fails_below_a_floor(self):
        log = self.log([entry("libqmp:unit / a", stderr=CMOCKA_SKIPPED)])
        rc, _, err = self.check(self.floors("unit 1 3\n"), log)
        self.assertEqual(rc, 1)
        self.assertIn("suite unit passed 1 tests with 2 cases, below its floor of 1 tests, 3 cases", err)
        rc, _, err = self.check(self.floors("unit 2 2\n"), log)
        self.assertEqual(rc, 1)
        self.assertIn("below its floor of 2 tests", err)

    def test_check_fails_on_a_missing_suite(self):
        log = self.log([entry("libqmp:unit / a", stderr=CMOCKA_ERR)])
        rc, _, err = self.check(self.floors("unit 1 3\nruby 7 46\n"), log)
        self.assertEqual(rc, 1)
        self.assertIn("suite ruby did not run", err)
        # A round that does not run ruby is not asked for it.
        self.assertEqual(self.check(self.floors("unit 1 3\nruby 7 46\n"), log, "--except", "ruby,go")[0], 0)
        self.assertEqual(self.check(self.floors("unit 1 3\nruby 7 46\n"), log, "--only", "unit")[0], 0)

    def test_check_fails_on_a_suite_without_floor(self):
        log = self.log([entry("libqmp:unit / a", stderr=CMOCKA_ERR), entry("libqmp:oom / x", stderr=CMOCKA_ERR)])
        rc, _, err = self.check(self.floors("unit 1 3\n"), log)
        self.assertEqual(rc, 1)
        self.assertIn("suite oom has no floor", err)
        self.assertIn("--record-counts", err)

    def test_malformed_floors_line(self):
        log = self.log([entry("libqmp:unit / a", stderr=CMOCKA_ERR)])
        with self.assertRaises(ValueError):
            self.check(self.floors("unit three\n"), log)

    def test_record_writes_what_passed(self):
        log = self.log([entry("libqmp:unit / a", stderr=CMOCKA_ERR), entry("libqmp:ruby / r", stdout=MINITEST)])
        floors = self.floors("unit 9 9\nold 1 1\n")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(sc.main(["suite-counts.py", "record", floors, log]), 0)
        self.assertEqual(sc.read_floors(floors), {"unit": (1, 3), "ruby": (1, 5)})
        with open(floors) as f:
            self.assertTrue(f.read().startswith("# The least number of tests"))
        self.assertIn("unit: (9, 9) -> (1, 3)", out.getvalue())
        self.assertIn("old: (1, 1) -> none", out.getvalue())
        # What was recorded passes its own check.
        self.assertEqual(self.check(floors, log)[0], 0)

    def test_repository_floors_file(self):
        floors = sc.read_floors(os.path.join(os.path.dirname(SCRIPT), "..", "tests", "test-counts.txt"))
        # probes: CI installs sys/sdt.h, so a build without the probes fails for want of the suite.
        for suite in ("unit", "client", "async", "interop", "meta", "probes"):
            self.assertIn(suite, floors)
        for suite, (tests, cases) in floors.items():
            self.assertGreater(tests, 0, suite)
            self.assertGreaterEqual(cases, tests, suite)


# (files, the meson.build that must name each of them): every test-* and
# fuzz-* file of each folder of tests/, the examples, the bindings' tests.
TEST_FILES = [
    (os.path.join(os.path.relpath(d, ROOT), prefix + "*"), os.path.join(os.path.relpath(d, ROOT), "meson.build"))
    for d in sorted(glob.glob(os.path.join(ROOT, "tests", "*", "")))
    if os.path.exists(os.path.join(d, "meson.build"))
    for prefix in ("test-", "fuzz-")
    if glob.glob(os.path.join(d, prefix + "*"))
] + [
    ("tests/abi/*.py", "tests/abi/meson.build"),
    ("examples/*.c", "examples/meson.build"),
    ("examples/*.c", "tests/examples/meson.build"),
    ("bindings/python/tests/test_*.py", "bindings/python/meson.build"),
    ("bindings/ruby/test/test_*.rb", "bindings/ruby/meson.build"),
    ("bindings/go/*_test.go", "bindings/go/meson.build"),
]


class TestFilesListedTest(unittest.TestCase):
    def test_every_test_file_is_named_in_meson(self):
        folders = {os.path.dirname(build) for _, build in TEST_FILES}
        for d in ("tests/unit", "tests/client", "tests/async", "tests/interop", "tests/robust", "tests/fuzz",
                  "tests/meta"):
            self.assertIn(d, folders)
        unlisted = []
        for pattern, build in TEST_FILES:
            files = glob.glob(os.path.join(ROOT, pattern))
            self.assertTrue(files, pattern)
            with open(os.path.join(ROOT, build)) as f:
                text = f.read()
            for path in files:
                name = os.path.basename(path)
                stem = name.split(".", 1)[0]
                if "'%s'" % name not in text and "'%s'" % stem not in text:
                    unlisted.append("%s (not in %s)" % (os.path.relpath(path, ROOT), build))
        self.assertEqual(unlisted, [])

    def test_every_qmpctl_case_is_named_in_meson(self):
        # test-qmpctl.py runs one case_NAME per meson test, named NAME with '-' for '_'.
        with open(os.path.join(ROOT, "tests", "qmpctl", "test-qmpctl.py")) as f:
            cases = re.findall(r"^def case_(\w+)\(", f.read(), re.M)
        self.assertTrue(cases)
        with open(os.path.join(ROOT, "tests", "qmpctl", "meson.build")) as f:
            text = f.read()
        self.assertEqual([c for c in cases if "'%s'" % c.replace("_", "-") not in text], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
