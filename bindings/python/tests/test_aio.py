#!/usr/bin/python3
"""libqmp.aio against a real QEMU: commands, errors, events (wait, iterate),
cancellation (the late reply is dropped), timeouts (per call and the
client's default), closing, TCP, and no thread per call."""

import asyncio
import gc
import os
import signal
import socket
import threading
import time
import unittest
import weakref

import libqmp
import libqmp.aio
from qemu_fixture import Qemu, main


class AioTest(unittest.IsolatedAsyncioTestCase):
    def setUp(self):
        self.qemu = Qemu()
        self.addCleanup(self.qemu.stop)

    async def connect(self, **kw):
        c = await libqmp.aio.connect_unix(self.qemu.sock, timeout=30, **kw)
        self.addAsyncCleanup(c.close)
        return c

    def stopped(self):
        """QEMU frozen (SIGSTOP) until the block ends: replies wait."""
        test = self

        class Frozen:
            def __enter__(self):
                test.qemu.signal(signal.SIGSTOP)

            def __exit__(self, *exc):
                test.qemu.signal(signal.SIGCONT)
        return Frozen()

    async def test_execute_and_command_error(self):
        async with await libqmp.aio.connect_unix(self.qemu.sock, timeout=30) as c:
            self.assertTrue(c.connected)
            self.assertIn("QMP", c.greeting)
            self.assertEqual((await c.execute("query-status"))["status"], "running")
            self.assertIn("qemu", await c.execute("query-version"))
            with self.assertRaises(libqmp.CommandError) as cm:
                await c.execute("no-such-command")
            self.assertEqual(cm.exception.error_class, "CommandNotFound")
            props = await c.execute("qom-list", path="/machine")
            self.assertTrue(any(p["name"] == "type" for p in props))
        self.assertFalse(c.connected)

    async def test_concurrent_calls_get_their_own_replies(self):
        c = await self.connect()
        names = ["query-status", "query-version", "query-name", "query-kvm"] * 25
        results = await asyncio.gather(*(c.execute(n) for n in names))
        for n, r in zip(names, results):
            key = {"query-status": "status", "query-version": "qemu",
                   "query-kvm": "enabled"}.get(n)
            if key:
                self.assertIn(key, r, n)
            else:
                self.assertIsInstance(r, dict)

    async def test_wait_event_after_seq_sees_earlier_event(self):
        c = await self.connect()
        seq = c.event_seq
        await c.execute("stop")
        await asyncio.sleep(0.2)      # the STOP event is in before the wait begins
        ev = await c.wait_event("STOP", after=seq, timeout=5)
        self.assertEqual(ev.name, "STOP")
        self.assertGreater(ev.seq, seq)
        # after the STOP's seq: the next one only
        await c.execute("cont")
        ev2 = await c.wait_event(None, after=ev.seq, timeout=5)
        self.assertEqual(ev2.name, "RESUME")

    async def test_wait_event_match_and_timeout(self):
        c = await self.connect()
        seq = c.event_seq
        await c.execute("stop")
        t0 = time.monotonic()
        with self.assertRaises(libqmp.TimeoutError):
            await c.wait_event("STOP", match={"no": "such"}, after=seq, timeout=0.3)
        self.assertLess(time.monotonic() - t0, 3)

    async def test_async_for_over_events(self):
        c = await self.connect()
        got = []

        async def collect():
            async for ev in c.events():
                got.append(ev.name)
                if len(got) == 4:
                    return
        task = asyncio.create_task(collect())
        await asyncio.sleep(0)        # the iterator is registered
        for cmd in ("stop", "cont", "stop", "cont"):
            await c.execute(cmd)
        await asyncio.wait_for(task, 10)
        self.assertEqual(got, ["STOP", "RESUME", "STOP", "RESUME"])

    async def test_events_by_name_and_end_at_close(self):
        c = await libqmp.aio.connect_unix(self.qemu.sock, timeout=30)
        got = []

        async def collect():
            async for ev in c.events("RESUME"):
                got.append(ev.name)
        task = asyncio.create_task(collect())
        await asyncio.sleep(0)
        await c.execute("stop")
        await c.execute("cont")
        await c.wait_event("RESUME", after=0, timeout=5)
        await c.close()
        await asyncio.wait_for(task, 5)       # the iterator ended with the connection
        self.assertEqual(got, ["RESUME"])

    async def test_cancel_drops_late_reply(self):
        c = await self.connect()
        with self.stopped():
            task = asyncio.create_task(c.execute("query-version"))
            await asyncio.sleep(0.3)
            self.assertFalse(task.done())
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
        # QEMU answers query-version now; that reply is dropped, and this
        # call gets its own.
        r = await c.execute("query-status", timeout=10)
        self.assertEqual(r["status"], "running")
        self.assertNotIn("qemu", r)
        self.assertIn("qemu", await c.execute("query-version", timeout=10))

    async def test_per_call_timeout_then_usable(self):
        c = await self.connect()
        with self.stopped():
            t0 = time.monotonic()
            with self.assertRaises(libqmp.TimeoutError):
                await c.execute("query-status", timeout=0.3)
            elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.25)
        self.assertLess(elapsed, 3)
        self.assertIn("qemu", await c.execute("query-version", timeout=10))

    async def test_default_timeout_applies_to_calls(self):
        c = await self.connect(default_timeout=0.3)
        self.assertEqual(c.default_timeout, 0.3)
        with self.stopped():
            t0 = time.monotonic()
            with self.assertRaises(libqmp.TimeoutError):
                await c.execute("query-status")
            with self.assertRaises(libqmp.TimeoutError):
                await c.wait_event("NEVER")
            elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 4)
        # a call's own timeout wins over the default
        with self.stopped():
            task = asyncio.create_task(c.execute("query-status", timeout=10))
            await asyncio.sleep(0.6)
        self.assertEqual((await task)["status"], "running")

    async def test_close_ends_pending_call(self):
        c = await libqmp.aio.connect_unix(self.qemu.sock, timeout=30)
        with self.stopped():
            task = asyncio.create_task(c.execute("query-status"))
            await asyncio.sleep(0.2)
            await c.close()
            with self.assertRaises(libqmp.ConnectionClosed):
                await task
        with self.assertRaises(libqmp.ConnectionClosed):
            await c.execute("query-status")
        await c.close()               # twice: harmless

    async def test_peer_hangup_fails_pending_call(self):
        c = await self.connect()
        with self.stopped():
            task = asyncio.create_task(c.execute("query-status"))
            await asyncio.sleep(0.2)
            self.qemu.proc.kill()     # killed while frozen: it never answers
            self.qemu.proc.wait()
        with self.assertRaises(libqmp.ConnectionClosed):
            await asyncio.wait_for(task, 10)

    async def test_quit_ends_iterator_and_waits(self):
        c = await self.connect()
        got = []

        async def collect():
            async for ev in c.events():
                got.append(ev.name)
        task = asyncio.create_task(collect())
        await asyncio.sleep(0)
        waiter = asyncio.create_task(c.wait_event("NEVER", timeout=30))
        await asyncio.sleep(0)
        try:
            await c.execute("quit")
        except libqmp.ConnectionClosed:
            pass                      # QEMU may hang up before its reply
        await asyncio.wait_for(task, 10)          # the iterator ended with the connection
        self.assertIn("SHUTDOWN", got)
        with self.assertRaises(libqmp.ConnectionClosed):
            await asyncio.wait_for(waiter, 10)
        with self.assertRaises(libqmp.ConnectionClosed):
            await c.wait_event("NEVER", timeout=1)
        with self.assertRaises(libqmp.ConnectionClosed):
            await c.execute("query-status")

    async def test_nan_is_invalid_argument(self):
        c = await self.connect()
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            await c.execute("qom-set", path="/machine", property="x", value=float("nan"))
        self.assertIn("NaN", str(cm.exception))
        self.assertNotIn("byte", str(cm.exception))
        self.assertEqual((await c.execute("query-status"))["status"], "running")

    async def test_no_thread_per_call(self):
        c = await self.connect()
        before = threading.active_count()
        with self.stopped():
            tasks = [asyncio.create_task(c.execute("query-status")) for _ in range(20)]
            await asyncio.sleep(0.2)
            self.assertEqual(threading.active_count(), before)
        await asyncio.gather(*tasks)
        self.assertEqual(threading.active_count(), before)

    async def test_closed_clients_are_freed(self):
        # Nothing the loop keeps (readers, writers, timers) holds a closed
        # client: connect/close cycles leave no AsyncClient behind.
        refs = []
        for _ in range(20):
            async with await libqmp.aio.connect_unix(self.qemu.sock, timeout=30, default_timeout=30) as c:
                await c.execute("query-status")
                await c.execute("query-status", timeout=20)
            refs.append(weakref.ref(c))
        del c
        gc.collect()
        self.assertEqual([r for r in refs if r() is not None], [])

    async def test_connect_missing_socket_times_out(self):
        path = os.path.join(self.qemu.dir, "none.sock")
        t0 = time.monotonic()
        with self.assertRaises(libqmp.Error):
            await libqmp.aio.connect_unix(path, timeout=0.3)
        self.assertLess(time.monotonic() - t0, 3)


class AioTcpTest(unittest.IsolatedAsyncioTestCase):
    async def test_connect_tcp(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        q = Qemu(qmp="tcp:127.0.0.1:%d,server=on,wait=off" % port)
        self.addCleanup(q.stop)
        for _ in range(300):
            try:
                c = await libqmp.aio.connect_tcp("127.0.0.1", port, timeout=5)
                break
            except libqmp.Error:
                await asyncio.sleep(0.05)
        else:
            self.fail("QEMU did not listen on TCP")
        async with c:
            self.assertEqual((await c.execute("query-status"))["status"], "running")


if __name__ == "__main__":
    main()
