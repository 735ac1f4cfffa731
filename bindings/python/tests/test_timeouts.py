#!/usr/bin/python3
"""The sync client's client-wide default timeout (set at connect) and its
argument errors: NaN in the arguments, more fds than libqmp passes."""

import os
import signal
import time

import libqmp
from qemu_fixture import QemuTestCase, main


class DefaultTimeoutTest(QemuTestCase):
    def test_default_timeout_set_at_connect_applies_to_calls(self):
        c = libqmp.Client.connect_unix(self.qemu.sock, timeout=30, default_timeout=0.3)
        self.addCleanup(c.close)
        self.assertEqual(c.timeout, 0.3)
        self.qemu.signal(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            with self.assertRaises(libqmp.TimeoutError):
                c.execute("query-status")
            with self.assertRaises(libqmp.TimeoutError):
                c.hmp("info status")
            elapsed = time.monotonic() - t0
        finally:
            self.qemu.signal(signal.SIGCONT)
        self.assertGreaterEqual(elapsed, 0.5)
        self.assertLess(elapsed, 5)
        self.assertIn("qemu", c.execute("query-version", timeout=10))

    def test_call_timeout_overrides_default(self):
        c = libqmp.Client.connect_unix(self.qemu.sock, timeout=30, default_timeout=0.2)
        self.addCleanup(c.close)
        self.qemu.signal(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            with self.assertRaises(libqmp.TimeoutError):
                c.execute("query-status", timeout=0.8)
            elapsed = time.monotonic() - t0
        finally:
            self.qemu.signal(signal.SIGCONT)
        self.assertGreaterEqual(elapsed, 0.7)


class ArgumentErrorTest(QemuTestCase):
    def test_nan_reports_nan(self):
        c = self.connect()
        for bad in (float("nan"), float("inf"), [1.0, float("-inf")]):
            with self.assertRaises(libqmp.InvalidArgument) as cm:
                c.execute("qom-set", path="/machine", property="x", value=bad)
            msg = str(cm.exception)
            self.assertIn("NaN or an infinity", msg)
            self.assertNotIn("byte", msg)
        self.assertEqual(c.execute("query-status")["status"], "running")

    def test_seventeen_fds_report_the_limit(self):
        c = self.connect()
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        self.addCleanup(os.close, w)
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            c.execute("query-status", fds=[r] * (libqmp._c.QMP_MAX_FDS + 1))
        msg = str(cm.exception)
        self.assertIn("at most 16 file descriptors", msg)
        self.assertIn("got 17", msg)
        self.assertNotIn("commas", msg)
        # 16 are fine
        self.assertEqual(c.execute("query-status", fds=[r] * 16)["status"], "running")


if __name__ == "__main__":
    main()
