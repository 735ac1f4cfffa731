#!/usr/bin/env python3
"""The USDT probes of libqmp.so, as `readelf -n` lists them, against the
table of docs/tracing.md: every documented probe is in the library with
provider libqmp, its arguments (count, size and sign as the table's C
types say) and a semaphore; the library has no probe the table lacks.

    test-probes.py READELF LIBQMP_SO TRACING_MD

Built only when meson builds the probes (<sys/sdt.h> found, -Dprobes not
disabled); the floor of the 'probes' suite in tests/test-counts.txt makes a
run without it fail in scripts/test.sh.  A library with no probe notes at
all fails here: the probes were configured but the macros came out empty.
"""

import re
import subprocess
import sys
import unittest

READELF, LIBRARY, TRACING_MD = sys.argv[1:4]
del sys.argv[1:4]

# readelf's size@operand per argument: the size in bytes, negative when signed.
SIZE_OF_TYPE = {
    "qmp_client *": "8",
    "const char *": "8",
    "uint64_t": "8",
    "int": "-4",
}

TABLE_ROW = re.compile(r"^\| `libqmp:(\w+)` \| ([^|]*) \|")


def documented_probes():
    """{name: [(type, argument name)]} from the probes table of docs/tracing.md."""
    probes = {}
    with open(TRACING_MD) as f:
        for line in f:
            m = TABLE_ROW.match(line)
            if not m:
                continue
            args = []
            for arg in m.group(2).replace("`", "").split(","):
                arg = arg.strip()
                if not arg:
                    continue
                t, name = re.match(r"^(.*?)\s*(\w+)$", arg).groups()  # "const char *name"
                args.append((re.sub(r"\s*\*$", " *", t), name))
            probes[m.group(1)] = args
    return probes


def library_probes():
    """[{provider, name, semaphore, args: [size@operand]}] from readelf -n."""
    out = subprocess.run([READELF, "-n", "--wide", LIBRARY], check=True, capture_output=True, text=True).stdout
    notes = []
    cur = None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("stapsdt") and "NT_STAPSDT" in line:
            cur = {"args": []}
            notes.append(cur)
        if cur is None:
            continue
        provider = re.search(r"Provider: (\S+)", line)  # on the note's own line with --wide
        if provider:
            cur["provider"] = provider.group(1)
        elif line.startswith("Name:"):
            cur["name"] = line.split(":", 1)[1].strip()
        elif line.startswith("Location:"):
            sem = re.search(r"Semaphore: (0x[0-9a-f]+)", line)
            cur["semaphore"] = int(sem.group(1), 16) if sem else 0
        elif line.startswith("Arguments:"):
            cur["args"] = line.split(":", 1)[1].split()
    return notes


class ProbesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.documented = documented_probes()
        cls.notes = library_probes()
        cls.ours = [n for n in cls.notes if n.get("provider") == "libqmp"]

    def test_the_table_lists_the_probes(self):
        self.assertGreaterEqual(len(self.documented), 5, "the probes table of %s" % TRACING_MD)
        for name, args in self.documented.items():
            self.assertTrue(args, name)
            self.assertEqual(args[0], ("qmp_client *", "client"), "%s: the first argument is the client" % name)
            for t, _ in args:
                self.assertIn(t, SIZE_OF_TYPE, "%s: a type the table may use" % name)

    def test_the_library_has_probes(self):
        # Configured with probes but built without: the define did not reach
        # lib/common/probes.h, and every probe site expanded to nothing.
        self.assertTrue(self.ours, "%s has no libqmp probe notes (readelf -n): <sys/sdt.h> was found "
                        "but the probes were not built" % LIBRARY)

    def test_every_documented_probe_is_in_the_library(self):
        names = {n["name"] for n in self.ours}
        self.assertEqual(sorted(set(self.documented) - names), [])

    def test_no_probe_is_undocumented(self):
        names = {n["name"] for n in self.ours}
        self.assertEqual(sorted(names - set(self.documented)), [])
        self.assertEqual([n for n in self.notes if n.get("provider") != "libqmp"], [], "only provider libqmp")

    def test_arguments_match_the_table(self):
        for note in self.ours:
            if note["name"] not in self.documented:
                continue  # test_no_probe_is_undocumented
            expected = [SIZE_OF_TYPE[t] for t, _ in self.documented[note["name"]]]
            sizes = [a.split("@", 1)[0] for a in note["args"]]
            self.assertEqual(sizes, expected, "%s: %s" % (note["name"], " ".join(note["args"])))

    def test_every_site_has_its_semaphore(self):
        # The tracer raises it while attached; the library reads it before
        # computing a costly argument (the latency of reply__route).
        sems = {}
        for note in self.ours:
            self.assertNotEqual(note.get("semaphore", 0), 0, note["name"])
            sems.setdefault(note["name"], set()).add(note["semaphore"])
        for name, addrs in sems.items():
            self.assertEqual(len(addrs), 1, "%s: one semaphore for all of its sites" % name)
        self.assertEqual(len({a for s in sems.values() for a in s}), len(sems), "one semaphore per probe")


if __name__ == "__main__":
    unittest.main(verbosity=2)
