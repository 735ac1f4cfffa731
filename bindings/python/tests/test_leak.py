#!/usr/bin/python3
"""No leaks under repeated use: RSS stays flat over 10,000 executes (and
schema calls)."""

import gc

import libqmp
from qemu_fixture import QemuTestCase, main

N = 10000
LIMIT_KIB = 4096


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class TestLeak(QemuTestCase):
    def measure(self, label, fn, n=N):
        for _ in range(min(n, 1000)):  # warm up: allocator pools, caches
            fn()
        gc.collect()
        before = rss_kib()
        for _ in range(n):
            fn()
        gc.collect()
        after = rss_kib()
        print("%s: RSS %d KiB before, %d KiB after %d calls (%+d KiB)"
              % (label, before, after, n, after - before), flush=True)
        self.assertLess(after - before, LIMIT_KIB)

    def test_execute(self):
        c = self.connect()
        self.measure("execute(query-status)", lambda: c.execute("query-status"))

    def test_command_errors(self):
        c = self.connect()

        def fail():
            try:
                c.execute("no-such-command")
            except libqmp.CommandError:
                pass
        self.measure("execute(no-such-command) -> CommandError", fail)

    def test_execute_with_fds_and_events(self):
        c = self.connect()
        got = []
        c.on_event(None, lambda ev: got.append(ev.seq) if len(got) < 1 else None)
        with open("/dev/null") as f:
            self.measure("execute(query-status, fds=[f]) with a handler",
                         lambda: c.execute("query-status", fds=[f]))
        self.measure("stop/cont with an event handler",
                     lambda: (c.execute("stop"), c.execute("cont"), c.process()))
        self.assertTrue(got)

    def test_schema(self):
        c = self.connect()
        bad = {"driver": "qcow2", "node-name": "q0",
               "file": {"driver": "file", "filename": "/dev/null", "aio": "io_urin"}}
        backup = {"execute": "drive-backup",
                  "arguments": {"device": "d0", "target": "/nonexistent", "sync": "full"}}

        def has():
            assert c.schema_has("blockdev-add/arg-type/+file/aio/^io_uring")
            try:
                c.schema_has("blockdev-add//aio")
            except libqmp.InvalidArgument:
                pass
        self.measure("schema_has (true, malformed)", has)

        def refused():
            try:
                c.execute("blockdev-add", bad, validate=True)
            except libqmp.InvalidArgument:
                pass
        self.measure("execute(validate=True) -> InvalidArgument", refused)

        def schema_objects():
            with c.schema() as s:
                s.has("query-status")
                s.validate(backup)
                try:
                    s.validate("blockdev-add", bad)
                except libqmp.InvalidArgument:
                    pass
            c.schema()  # left to the garbage collector
        self.measure("schema(), has, validate (warnings, errors), close", schema_objects)

        s = c.schema()
        self.measure("Schema.arguments/describe", lambda: (s.arguments("blockdev-add"), s.describe("query-status")))
        text = c.execute_json('{"execute": "query-qmp-schema"}')
        # A whole schema is parsed each time (some 4 ms): fewer rounds.
        self.measure("Schema.from_json(query-qmp-schema)", lambda: libqmp.Schema.from_json(text).has("STOP"),
                     n=1000)


if __name__ == "__main__":
    main()
