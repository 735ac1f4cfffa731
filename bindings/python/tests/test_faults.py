#!/usr/bin/python3
"""Timeouts and a QEMU that goes away."""

import signal
import threading
import time

import libqmp
from qemu_fixture import QemuTestCase, main


class TestFaults(QemuTestCase):
    def test_timeout_then_usable(self):
        c = self.connect()
        self.qemu.signal(signal.SIGSTOP)
        try:
            start = time.monotonic()
            with self.assertRaises(libqmp.TimeoutError):
                c.execute("query-status", timeout=0.3)
            took = time.monotonic() - start
            self.assertGreaterEqual(took, 0.25)
            self.assertLess(took, 2.0)
            with self.assertRaises(TimeoutError):  # the builtin one too
                c.wait_event("STOP", timeout=0.2)
        finally:
            self.qemu.signal(signal.SIGCONT)
        # The late reply is dropped: the next call (another command) gets its own.
        version = c.execute("query-version", timeout=5)
        self.assertIn("qemu", version)
        self.assertNotIn("status", version)
        self.assertEqual(c.execute("query-status", timeout=5)["status"], "running")
        self.assertTrue(c.connected)

    def test_qemu_killed_mid_call(self):
        c = self.connect()
        self.qemu.signal(signal.SIGSTOP)  # the call is certainly in flight when QEMU dies
        killer = threading.Timer(0.3, self.qemu.signal, (signal.SIGKILL,))
        killer.start()
        start = time.monotonic()
        with self.assertRaises(libqmp.ConnectionClosed):
            c.execute("query-status", timeout=20)
        self.assertLess(time.monotonic() - start, 10)
        killer.join()
        self.assertFalse(c.connected)
        with self.assertRaises(libqmp.ConnectionClosed):
            c.execute("query-status")

    def test_qemu_killed_during_wait_event(self):
        c = self.connect()
        threading.Timer(0.3, self.qemu.signal, (signal.SIGKILL,)).start()
        with self.assertRaises(libqmp.ConnectionClosed):
            c.wait_event("NEVER", timeout=20)

    def test_qemu_killed_during_process(self):
        c = self.connect()
        c.on_event(None, lambda ev: None)
        threading.Timer(0.3, self.qemu.signal, (signal.SIGKILL,)).start()
        with self.assertRaises(libqmp.ConnectionClosed):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                c.process(timeout=1)

    def test_close_from_another_thread(self):
        c = self.connect()
        self.qemu.signal(signal.SIGSTOP)
        try:
            threading.Timer(0.3, c.close).start()
            with self.assertRaises(libqmp.ConnectionClosed):
                c.execute("query-status", timeout=20)
        finally:
            self.qemu.signal(signal.SIGCONT)


if __name__ == "__main__":
    main()
