#!/usr/bin/python3
"""Connecting, executing, errors, HMP, transactions."""

import builtins
import os
import signal
import socket
import time

import libqmp
from qemu_fixture import Qemu, QemuTestCase, main


class TestClient(QemuTestCase):
    def test_connect_and_execute(self):
        with libqmp.Client.connect_unix(self.qemu.sock, timeout=30) as c:
            self.assertTrue(c.connected)
            status = c.execute("query-status")
            self.assertIsInstance(status, dict)
            self.assertEqual(status["status"], "running")
            self.assertGreaterEqual(c.version, (2, 0, 0))
            self.assertIn("QMP", c.greeting)
            self.assertIsInstance(c.execute("query-commands"), list)
        self.assertFalse(c.connected)
        with self.assertRaises(libqmp.ConnectionClosed):
            c.execute("query-status")
        c.close()  # twice: a no-op

    def test_keyword_and_dict_arguments(self):
        c = self.connect()
        self.assertEqual(c.execute("blockdev-add", driver="null-co", node_name="kw0"), {})
        self.assertEqual(c.execute("blockdev-add", {"driver": "null-co", "node-name": "d0"}), {})
        self.assertEqual(c.execute(libqmp.command("blockdev-add", driver="null-co", node_name="c0")), {})
        names = {n["node-name"] for n in c.execute("query-named-block-nodes")}
        self.assertTrue({"kw0", "d0", "c0"} <= names, names)

    def test_command_error(self):
        c = self.connect()
        with self.assertRaises(libqmp.CommandError) as cm:
            c.execute("no-such-command")
        e = cm.exception
        self.assertIsInstance(e, libqmp.Error)
        self.assertEqual(e.error_class, "CommandNotFound")
        self.assertIn("no-such-command", e.desc)
        self.assertEqual(e.code, libqmp._c.QMP_ECOMMAND)
        with self.assertRaises(libqmp.CommandError) as cm:
            c.execute("blockdev-del", node_name="missing")
        self.assertEqual(cm.exception.error_class, "GenericError")
        # The client is fine afterwards.
        self.assertEqual(c.execute("query-status")["status"], "running")

    def test_execute_json_is_text(self):
        c = self.connect()
        text = c.execute_json('{"execute": "query-status"}')
        self.assertIn('"running"', text)
        with self.assertRaises(libqmp.InvalidArgument):
            c.execute_json('{"execute": ')

    def test_hmp(self):
        c = self.connect()
        self.assertIn("VM status: running", c.hmp("info status"))

    def test_transaction(self):
        c = self.connect()
        c.execute("blockdev-add", driver="null-co", node_name="n0")
        c.execute(libqmp.transaction([
            libqmp.action("block-dirty-bitmap-add", node="n0", name="bm0"),
            libqmp.action("block-dirty-bitmap-add", node="n0", name="bm1"),
        ]))
        nodes = {n["node-name"]: n for n in c.execute("query-named-block-nodes")}
        self.assertEqual({b["name"] for b in nodes["n0"].get("dirty-bitmaps", [])}, {"bm0", "bm1"})
        # All or nothing: bm2 is not added when bm0 (a duplicate) fails.
        with self.assertRaises(libqmp.CommandError):
            c.execute(libqmp.transaction([
                libqmp.action("block-dirty-bitmap-add", node="n0", name="bm2"),
                libqmp.action("block-dirty-bitmap-add", node="n0", name="bm0"),
            ], completion_mode="grouped"))
        nodes = {n["node-name"]: n for n in c.execute("query-named-block-nodes")}
        self.assertNotIn("bm2", {b["name"] for b in nodes["n0"].get("dirty-bitmaps", [])})

    def test_connect_socket_keeps_callers_socket(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + 10
        while True:
            try:
                s.connect(self.qemu.sock)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        with libqmp.Client.connect_socket(s, timeout=10) as c:
            self.assertEqual(c.execute("query-status")["status"], "running")
        self.assertGreaterEqual(s.fileno(), 0)
        os.fstat(s.fileno())  # still open: the client had a duplicate
        s.close()

    def test_connect_tcp(self):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        q = Qemu(qmp="tcp:127.0.0.1:%d,server=on,wait=off" % port)
        self.addCleanup(q.stop)
        deadline = time.monotonic() + 10
        while True:  # TCP is not retried by the library: wait for QEMU to listen
            try:
                c = libqmp.Client.connect_tcp("127.0.0.1", port, timeout=5)
                break
            except libqmp.SocketError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        with c:
            self.assertEqual(c.execute("query-status")["status"], "running")

    def test_connect_refused_is_socket_error(self):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        with self.assertRaises(libqmp.SocketError) as cm:
            libqmp.Client.connect_tcp("127.0.0.1", port, timeout=2)
        self.assertIsInstance(cm.exception, OSError)
        self.assertTrue(cm.exception.errno)

    def test_connect_timeout(self):
        start = time.monotonic()
        with self.assertRaises(libqmp.TimeoutError) as cm:
            libqmp.Client.connect_unix(os.path.join(self.qemu.dir, "missing.sock"), timeout=0.3)
        self.assertIsInstance(cm.exception, builtins.TimeoutError)
        self.assertLess(time.monotonic() - start, 3)

    def test_not_qmp_is_handshake_error(self):
        a, b = socket.socketpair()
        b.sendall(b'{"hello": "world"}\n')
        with self.assertRaises(libqmp.HandshakeError) as cm:
            libqmp.Client.connect_socket(a, timeout=2)
        self.assertIsInstance(cm.exception, libqmp.ProtocolError)
        a.close()
        b.close()

    def test_oob(self):
        c = self.connect(oob=True)
        self.assertTrue(c.has_capability("oob"))
        # migrate-pause may run out of band; without a migration QEMU refuses it.
        with self.assertRaises(libqmp.CommandError) as cm:
            c.execute("migrate-pause", oob=True)
        self.assertNotEqual(cm.exception.error_class, "CommandNotFound")
        self.assertEqual(c.execute("query-status")["status"], "running")

    def test_default_timeout_setting(self):
        c = self.connect()
        c.timeout = 2.5
        self.assertEqual(c.timeout, 2.5)
        self.assertEqual(c.execute("query-status")["status"], "running")
        # A call that sets no timeout of its own waits that long.
        c.timeout = 0.3
        self.qemu.signal(signal.SIGSTOP)
        try:
            start = time.monotonic()
            with self.assertRaises(libqmp.TimeoutError):
                c.execute("query-status")
            took = time.monotonic() - start
        finally:
            self.qemu.signal(signal.SIGCONT)
        self.assertGreaterEqual(took, 0.25)
        self.assertLess(took, 2.0)


if __name__ == "__main__":
    main()
