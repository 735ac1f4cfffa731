#!/usr/bin/python3
"""The GIL is released while a call blocks; threads share a client."""

import signal
import threading
import time

import libqmp
from qemu_fixture import QemuTestCase, main


class TestThreads(QemuTestCase):
    def test_gil_released_while_waiting(self):
        c = self.connect()
        started = threading.Event()
        outcome = []

        def waiter():
            started.set()
            try:
                c.wait_event("NEVER", timeout=2.0)
            except libqmp.TimeoutError:
                outcome.append("timeout")

        t = threading.Thread(target=waiter)
        t.start()
        started.wait()
        time.sleep(0.1)  # let it get into the C call
        count = 0
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            count += 1
        self.assertTrue(t.is_alive(), "the waiting thread should still be blocked in C")
        self.assertGreater(count, 10000)  # this thread ran meanwhile
        t.join()
        self.assertEqual(outcome, ["timeout"])

    def test_gil_released_while_executing(self):
        c = self.connect()
        self.qemu.signal(signal.SIGSTOP)
        outcome = []

        def caller():
            try:
                c.execute("query-status", timeout=1.5)
                outcome.append("returned")
            except libqmp.TimeoutError:
                outcome.append("timeout")
            except Exception as e:  # noqa: BLE001 - reported below
                outcome.append(repr(e))

        try:
            t = threading.Thread(target=caller)
            t.start()
            time.sleep(0.1)
            ticks = 0
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                ticks += 1
            self.assertTrue(t.is_alive())
            self.assertGreater(ticks, 10000)
            t.join()
        finally:
            self.qemu.signal(signal.SIGCONT)
        self.assertEqual(outcome, ["timeout"])

    def test_threads_share_a_client(self):
        c = self.connect()
        errors = []

        def worker(i):
            try:
                for _ in range(200):
                    name = c.execute("qom-get", path="/machine", property="type")
                    if name != "none-machine":
                        errors.append(name)
                    if c.execute("query-status")["status"] not in ("running", "paused"):
                        errors.append("status")
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])


if __name__ == "__main__":
    main()
