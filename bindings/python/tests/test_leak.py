#!/usr/bin/python3
"""No leaks under repeated use: RSS stays flat over 10,000 executes."""

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
    def measure(self, label, fn):
        for _ in range(1000):  # warm up: allocator pools, caches
            fn()
        gc.collect()
        before = rss_kib()
        for _ in range(N):
            fn()
        gc.collect()
        after = rss_kib()
        print("%s: RSS %d KiB before, %d KiB after %d calls (%+d KiB)"
              % (label, before, after, N, after - before), flush=True)
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


if __name__ == "__main__":
    main()
