#!/usr/bin/python3
"""One test per row of the behaviour table in bindings/README.md (the
same rows as the Ruby and Go bindings' behaviour tests), against QEMU."""

import asyncio
import os
import signal
import tempfile
import time

import libqmp
import libqmp.aio
from qemu_fixture import QemuTestCase, main


class BehaviourTest(QemuTestCase):
    def stopped(self):
        """SIGSTOPs QEMU until the test ends (then SIGCONT)."""
        self.qemu.signal(signal.SIGSTOP)
        self.addCleanup(self.qemu.signal, signal.SIGCONT)

    def test_row_timeouts_per_call_and_default(self):
        c = libqmp.Client.connect_unix(self.qemu.sock, timeout=30, default_timeout=0.3)
        self.addCleanup(c.close)
        self.stopped()
        t0 = time.monotonic()
        with self.assertRaises(libqmp.TimeoutError) as cm:
            c.execute("query-status")
        default_elapsed = time.monotonic() - t0
        self.assertIsInstance(cm.exception, TimeoutError)    # the builtin too
        t0 = time.monotonic()
        with self.assertRaises(libqmp.TimeoutError):
            c.execute("query-status", timeout=1.0)
        call_elapsed = time.monotonic() - t0
        self.assertTrue(0.25 <= default_elapsed < 0.9, default_elapsed)
        self.assertTrue(0.9 <= call_elapsed < 5, call_elapsed)

    def test_row_cancellation(self):
        async def run():
            c = await libqmp.aio.connect_unix(self.qemu.sock, timeout=30)
            self.stopped()
            try:
                task = asyncio.ensure_future(c.execute("query-status", timeout=60))
                await asyncio.sleep(0.2)
                t0 = time.monotonic()
                task.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await task
                return time.monotonic() - t0
            finally:
                await c.close()
        self.assertLess(asyncio.run(run()), 1.0)

    def test_row_transaction_action_without_data_sends_empty_data(self):
        c = self.connect()
        # {"type": "abort"} as given, and through action(): both reach QEMU's
        # abort action (which fails the transaction on purpose), not its
        # "missing data" error.
        for act in ({"type": "abort"}, libqmp.action("abort")):
            self.assertEqual(libqmp.transaction([act])["arguments"]["actions"][0]["data"], {})
            with self.assertRaises(libqmp.CommandError) as cm:
                c.execute(libqmp.transaction([act]))
            self.assertIn("Abort action", cm.exception.desc)
        self.assertEqual(c.execute(libqmp.transaction([])), {})

    def test_row_fd_arguments(self):
        c = self.connect()
        with tempfile.TemporaryFile() as f:
            r = c.add_fd(f, opaque="file-object")
            self.assertIn("fd", r)
        r = c.add_fd(os.open(os.devnull, os.O_RDONLY), opaque="int")
        self.assertIn("fd", r)
        with self.assertRaises(TypeError):
            c.getfd("not a file", "x")
        with self.assertRaises(TypeError):
            c.execute("add-fd", fds=[1.5])
        with self.assertRaises(ValueError):
            c.getfd(-1, "x")
        f = tempfile.TemporaryFile()
        f.close()
        with self.assertRaises(ValueError):
            c.add_fd(f)
        self.assertEqual(c.execute("query-status")["status"], "running")

    def test_row_key_spelling(self):
        c = self.connect()
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        self.addCleanup(os.close, w)
        # a keyword's "_" becomes "-": fdset_id= is "fdset-id"
        self.assertEqual(c.execute("add-fd", fdset_id=5, fds=[r])["fdset-id"], 5)
        # a dict's keys are sent as written
        self.assertEqual(c.execute("add-fd", {"fdset-id": 6}, fds=[r])["fdset-id"], 6)
        with self.assertRaises(libqmp.CommandError) as cm:
            c.execute("add-fd", {"fdset_id": 7}, fds=[r])
        self.assertIn("fdset_id", cm.exception.desc)

    def test_row_error_types_and_qmp_class(self):
        c = self.connect()
        with self.assertRaises(libqmp.CommandError) as cm:
            c.execute("no-such-command")
        self.assertEqual(cm.exception.error_class, "CommandNotFound")
        with self.assertRaises(libqmp.CommandError) as cm:
            c.execute("qom-get", path="/nowhere", property="x")
        self.assertEqual(cm.exception.error_class, "DeviceNotFound")
        with self.assertRaises(libqmp.InvalidArgument):
            c.execute("qom-set", path="/machine", property="x", value=float("nan"))
        with self.assertRaises(TypeError):
            c.execute(None)
        self.assertTrue(issubclass(libqmp.InvalidArgument, ValueError))
        self.assertTrue(issubclass(libqmp.TimeoutError, TimeoutError))
        c.close()
        with self.assertRaises(libqmp.ConnectionClosed):
            c.execute("query-status")

    def test_row_events_handler_iterator_and_wait_with_seq(self):
        c = self.connect()
        seen = []
        hid = c.on_event("STOP", seen.append)
        seq = c.event_seq
        c.execute("stop")
        c.execute("cont")
        # the wait from seq sees the events that arrived before it
        stop = c.wait_event("STOP", after=seq, timeout=5)
        resume = c.wait_event("RESUME", after=stop.seq, timeout=5)
        self.assertTrue(seq < stop.seq < resume.seq <= c.event_seq)
        with self.assertRaises(libqmp.TimeoutError):
            c.wait_event("RESUME", after=resume.seq, timeout=0.3)
        c.process()
        self.assertEqual([(e.name, e.seq) for e in seen], [("STOP", stop.seq)])
        c.off_event(hid)

        async def iterate():
            a = await libqmp.aio.connect_unix(self.qemu.sock, timeout=30)
            try:
                it = a.events("RESUME").__aiter__()
                nxt = asyncio.ensure_future(it.__anext__())
                await asyncio.sleep(0.05)    # the iterator is listening
                await a.execute("stop")
                await a.execute("cont")
                return await asyncio.wait_for(nxt, 5)
            finally:
                await a.close()
        c.close()   # QEMU takes one monitor client at a time
        ev = asyncio.run(iterate())
        self.assertEqual(ev.name, "RESUME")
        self.assertGreater(ev.seq, 0)


if __name__ == "__main__":
    main()
