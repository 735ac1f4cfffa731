#!/usr/bin/python3
"""Events: handlers (dispatched in the calling thread) and wait_event()."""

import logging
import threading
import time

import libqmp
from qemu_fixture import QemuTestCase, main


def process_until(c, cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        c.process(timeout=0.2)
    return cond()


class TestEvents(QemuTestCase):
    def test_handler(self):
        c = self.connect()
        got = []
        me = threading.get_ident()
        threads = set()

        def on_stop(ev):
            threads.add(threading.get_ident())
            got.append(ev)

        c.on_event("STOP", on_stop)
        c.execute("stop")
        self.assertTrue(process_until(c, lambda: got))
        ev = got[0]
        self.assertIsInstance(ev, libqmp.Event)
        self.assertEqual(ev.name, "STOP")
        self.assertEqual(ev["event"], "STOP")
        self.assertGreater(ev.seq, 0)
        self.assertGreater(ev.timestamp, 0)
        self.assertEqual(threads, {me})  # run in the thread that called into the client

    def test_handler_for_every_event_in_order(self):
        c = self.connect()
        got = []
        c.on_event(None, got.append)
        for _ in range(3):
            c.execute("stop")
            c.execute("cont")
        self.assertTrue(process_until(c, lambda: len(got) >= 6))
        self.assertEqual([e.name for e in got], ["STOP", "RESUME"] * 3)
        seqs = [e.seq for e in got]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), 6)

    def test_off_event(self):
        c = self.connect()
        got = []
        hid = c.on_event("STOP", got.append)
        c.execute("stop")
        self.assertTrue(process_until(c, lambda: got))
        c.off_event(hid)
        c.execute("cont")
        c.execute("stop")
        c.wait_event("STOP", after=0, timeout=5)
        self.assertEqual(c.process(timeout=0.2), 0)
        self.assertEqual(len(got), 1)
        with self.assertRaises(libqmp.InvalidArgument):
            c.off_event(hid)

    def test_handler_may_call_the_client(self):
        c = self.connect()
        statuses = []
        c.on_event("STOP", lambda ev: statuses.append(c.execute("query-status")["status"]))
        c.execute("stop")
        self.assertTrue(process_until(c, lambda: statuses))
        self.assertEqual(statuses, ["paused"])

    def test_handler_exception_is_logged(self):
        c = self.connect()

        def bad(ev):
            raise RuntimeError("handler failure")

        got = []
        c.on_event("STOP", bad)
        c.on_event("STOP", got.append)
        with self.assertLogs("libqmp", level=logging.ERROR) as logs:
            c.execute("stop")
            self.assertTrue(process_until(c, lambda: got))
        self.assertIn("handler failure", "\n".join(logs.output))
        self.assertEqual(c.execute("query-status")["status"], "paused")

    def test_wait_event_after_seq(self):
        c = self.connect()
        seq = c.event_seq
        c.execute("stop")
        time.sleep(0.2)  # the event has arrived before anyone waits for it
        ev = c.wait_event("STOP", after=seq, timeout=5)
        self.assertEqual(ev.name, "STOP")
        # Without after: only new events count.
        with self.assertRaises(libqmp.TimeoutError):
            c.wait_event("STOP", timeout=0.3)

    def test_wait_event_match(self):
        c = self.connect()
        seq = c.event_seq
        c.execute("system_reset")
        ev = c.wait_event("RESET", match={"guest": False}, after=seq, timeout=5)
        self.assertFalse(ev.data["guest"])
        start = time.monotonic()
        with self.assertRaises(libqmp.TimeoutError):
            c.wait_event("RESET", match={"guest": True}, after=seq, timeout=0.3)
        self.assertLess(time.monotonic() - start, 3)

    def test_wait_and_handlers_together(self):
        c = self.connect()
        got = []
        c.on_event("RESUME", got.append)
        seq = c.event_seq
        c.execute("stop")
        c.execute("cont")
        c.wait_event("RESUME", after=seq, timeout=5)
        self.assertTrue(process_until(c, lambda: got))
        self.assertEqual(len(got), 1)

    def test_wait_event_seq(self):
        c = self.connect()
        handled = []
        c.on_event(None, handled.append)
        seq = c.event_seq
        c.execute("stop")
        c.execute("cont")
        stop = c.wait_event("STOP", after=seq, timeout=5)
        resume = c.wait_event("RESUME", after=stop.seq, timeout=5)
        self.assertIsInstance(stop.seq, int)
        self.assertLess(seq, stop.seq)
        self.assertLess(stop.seq, resume.seq)
        self.assertLessEqual(resume.seq, c.event_seq)
        # The handler saw the same events under the same numbers.
        self.assertTrue(process_until(c, lambda: len(handled) >= 2))
        self.assertEqual([(e.name, e.seq) for e in handled],
                         [("STOP", stop.seq), ("RESUME", resume.seq)])
        # A wait from a waited event's seq finds the next one, not it again.
        with self.assertRaises(libqmp.TimeoutError):
            c.wait_event("RESUME", after=resume.seq, timeout=0.3)

    def test_wait_event_seq_loop(self):
        # Waiting from each event's seq sees every one, even those that
        # arrived before the wait.
        c = self.connect()
        seq = c.event_seq
        for _ in range(3):
            c.execute("stop")
            c.execute("cont")
        time.sleep(0.2)
        seqs = []
        for _ in range(3):
            ev = c.wait_event("RESUME", after=seq, timeout=5)
            seqs.append(ev.seq)
            seq = ev.seq
        self.assertEqual(seqs, sorted(set(seqs)))
        self.assertEqual(len(seqs), 3)


if __name__ == "__main__":
    main()
