#!/usr/bin/python3
"""The schema: schema_has, validation on the client and per call, Schema
objects from QEMU and from saved JSON."""

import json
import os
import threading
import time
import unittest

import libqmp
from qemu_fixture import QemuTestCase, main

IO_URING = "blockdev-add/arg-type/+file/aio/^io_uring"
BAD_AIO = "blockdev-add: arguments.file.aio: 'io_urin' is not one of threads, native, io_uring"


def test_data(*parts):
    """tests/data of the source tree: $LIBQMP_TEST_DATA (meson sets it) or
    found from this file's place in the tree."""
    base = os.environ.get("LIBQMP_TEST_DATA") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "data")
    return os.path.join(base, *parts)


def bad_blockdev(node="q0"):
    """A qcow2 node over a file whose aio is misspelt."""
    return {"driver": "qcow2", "node-name": node,
            "file": {"driver": "file", "filename": "/dev/null", "aio": "io_urin"}}


def drive_backup():
    return {"execute": "drive-backup",
            "arguments": {"device": "d0", "target": "/nonexistent/backup.img", "sync": "full"}}


class TestSchemaOnline(QemuTestCase):
    def test_schema_has(self):
        c = self.connect()
        self.assertIs(c.schema_has(IO_URING), True)
        self.assertIs(c.schema_has("blockdev-add/arg-type/+file/aio/^io_urin"), False)
        self.assertIs(c.schema_has("no-such-command"), False)
        self.assertTrue(c.schema_has("x-debug-query-block-graph/$unstable"))
        self.assertFalse(c.schema_has("query-cpus-fast/$unstable"))
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            c.schema_has("blockdev-add//aio")
        self.assertIn("malformed", cm.exception.message)
        with self.assertRaises(libqmp.InvalidArgument):
            c.schema_has("")
        self.assertEqual(c.execute("query-status")["status"], "running")

    def test_schema_has_when_closed(self):
        c = self.connect()
        c.close()
        with self.assertRaises(libqmp.ConnectionClosed):
            c.schema_has(IO_URING)

    def test_validation_refuses_before_sending(self):
        c = self.connect()
        self.assertEqual(c.validation, 0)
        c.validation = libqmp.VALIDATE
        self.assertEqual(c.validation, libqmp.VALIDATE)
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            c.execute("blockdev-add", bad_blockdev("q0"))
        self.assertEqual(cm.exception.message, BAD_AIO)
        self.assertEqual(str(cm.exception), BAD_AIO)
        self.assertEqual(cm.exception.code, libqmp._c.QMP_EINVAL)
        self.assertIsInstance(cm.exception, ValueError)
        # QEMU never saw it: no node, and the client goes on.
        self.assertEqual(c.execute("query-status")["status"], "running")
        self.assertNotIn("q0", {n["node-name"] for n in c.execute("query-named-block-nodes")})
        # A valid command passes validation and runs.
        self.assertEqual(c.execute("blockdev-add", driver="null-co", node_name="n0"), {})
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            c.execute("blockdev-add", driver="null-co", node_nam="n1")
        self.assertIn("did you mean 'node-name'", cm.exception.message)

    def test_per_call_override(self):
        c = self.connect(validation=True)
        self.assertEqual(c.validation, libqmp.VALIDATE)
        # Off for one call: QEMU's own error.
        with self.assertRaises(libqmp.CommandError) as cm:
            c.execute("blockdev-add", bad_blockdev(), validate=False)
        self.assertEqual(cm.exception.error_class, "GenericError")
        self.assertIn("io_urin", cm.exception.desc)
        # The client's setting is unchanged.
        with self.assertRaises(libqmp.InvalidArgument):
            c.execute("blockdev-add", bad_blockdev())
        c.validation = False
        self.assertEqual(c.validation, 0)
        with self.assertRaises(libqmp.CommandError):
            c.execute("blockdev-add", bad_blockdev())
        # On for one call, on a client that does not validate.
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            c.execute("blockdev-add", bad_blockdev(), validate=True)
        self.assertEqual(cm.exception.message, BAD_AIO)
        with self.assertRaises(libqmp.InvalidArgument):
            c.execute_json('{"execute": "blockdev-add", "arguments": {"driver": "null-co", "x": 1}}',
                           validate=libqmp.VALIDATE)
        with self.assertRaises(libqmp.InvalidArgument):
            c.execute("query-status", validate="yes")
        self.assertEqual(c.execute("query-status")["status"], "running")

    def test_deny_deprecated(self):
        c = self.connect()
        c.set_validation(deny_deprecated=True)
        self.assertEqual(c.validation, libqmp.VALIDATE | libqmp.DENY_DEPRECATED)
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            c.execute(drive_backup())
        self.assertEqual(cm.exception.message, "drive-backup: command 'drive-backup' is deprecated "
                                               "(refused by QMP_VALIDATE_DENY_DEPRECATED)")
        # Plain validation lets it through (a warning only): QEMU answers.
        with self.assertRaises(libqmp.CommandError) as cm:
            c.execute(drive_backup(), validate=libqmp.VALIDATE)
        self.assertEqual(cm.exception.error_class, "GenericError")
        c.validation = libqmp.VALIDATE | libqmp.DENY_UNSTABLE
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            c.execute("x-debug-query-block-graph")
        self.assertIn("unstable", cm.exception.message)
        with self.assertRaises(libqmp.InvalidArgument):
            c.validation = -5
        self.assertEqual(c.validation, libqmp.VALIDATE | libqmp.DENY_UNSTABLE)

    def test_validation_set_before_connecting(self):
        c = libqmp.Client(validation=libqmp.VALIDATE | libqmp.DENY_DEPRECATED)
        self.addCleanup(c.close)
        self.assertEqual(c.validation, libqmp.VALIDATE | libqmp.DENY_DEPRECATED)
        c = libqmp.Client.connect_unix(self.qemu.sock, timeout=30, validation=True)
        self.addCleanup(c.close)
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            c.execute("blockdev-add", bad_blockdev())
        self.assertEqual(cm.exception.message, BAD_AIO)

    def test_schema_object(self):
        c = self.connect()
        with c.schema() as s:
            self.assertTrue(s.has(IO_URING))
            self.assertIn(IO_URING, s)
            self.assertFalse(s.has("blockdev-add/arg-type/+file/aio/^io_urin"))
            with self.assertRaises(libqmp.InvalidArgument):
                s.has("blockdev-add//aio")
            commands = s.commands()
            self.assertIn("query-status", commands)
            self.assertIn("blockdev-add", commands)
            self.assertEqual(commands, sorted(commands))
            self.assertIn("STOP", s.events())
            self.assertNotIn("STOP", commands)
            # The Schema outlives the client.
            c.close()
            self.assertTrue(s.has("query-status"))
            args = {a["name"]: a for a in s.arguments("drive-backup")}
            self.assertEqual(args["sync"]["type"], "enum")
            self.assertFalse(args["sync"]["optional"])
            self.assertIn("full", args["sync"]["values"])
            self.assertTrue(args["job-id"]["optional"])
            self.assertEqual(args["job-id"]["type"], "str")
            d = s.describe("query-status")
            self.assertEqual(d["name"], "query-status")
            self.assertEqual(d["meta-type"], "command")
            self.assertEqual(d["returns"]["type"], "object")
            self.assertIn("status", {m["name"] for m in d["returns"]["members"]})
            with self.assertRaises(libqmp.InvalidArgument):
                s.arguments("no-such-command")
            with self.assertRaises(libqmp.InvalidArgument):
                s.describe("no-such-thing")
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            s.has("query-status")
        self.assertIn("closed", cm.exception.message)
        s.close()  # twice: a no-op

    def test_schema_validate(self):
        s = self.connect().schema(timeout=30)
        self.assertEqual(s.validate("query-status"), [])
        self.assertEqual(s.validate(drive_backup()),
                         ["drive-backup: command 'drive-backup' is deprecated"])
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            s.validate(drive_backup(), deny_deprecated=True)
        self.assertIn("deprecated", cm.exception.message)
        with self.assertRaises(libqmp.InvalidArgument):
            s.validate(drive_backup(), flags=libqmp.DENY_DEPRECATED)
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            s.validate("blockdev-add", bad_blockdev())
        self.assertEqual(cm.exception.message, BAD_AIO)
        self.assertEqual(s.validate("blockdev-add", driver="null-co", node_name="n0"), [])
        self.assertEqual(len(s.validate("x-debug-query-block-graph")), 1)
        with self.assertRaises(libqmp.InvalidArgument):
            s.validate("x-debug-query-block-graph", deny_unstable=True)
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            s.validate("no-such-command")
        self.assertIn("no-such-command", cm.exception.message)


class TestSchemaOffline(unittest.TestCase):
    """No QEMU: the schema captured from QEMU 7.2."""

    def test_shared_by_threads_and_closed(self):
        with open(test_data("qemu-7.2", "query-qmp-schema.json")) as f:
            s = libqmp.Schema.from_json(f.read())
        unexpected = []
        saw_closed = []
        running = threading.Barrier(5)

        def worker():
            # Right answers until the schema is closed, then "closed": each
            # thread keeps calling until it has seen the close.
            running.wait()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if not s.has(IO_URING) or s.validate(drive_backup()) != [
                            "drive-backup: command 'drive-backup' is deprecated"]:
                        unexpected.append("wrong answer")
                except libqmp.InvalidArgument as e:
                    if "closed" in e.message:
                        saw_closed.append(True)
                    else:
                        unexpected.append(e.message)
                    return
                except Exception as e:  # noqa: BLE001 - reported below
                    unexpected.append(repr(e))
                    return
            unexpected.append("the close was never seen")
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        running.wait()
        time.sleep(0.02)
        s.close()  # while the threads use it: they see "closed", nothing worse
        for t in threads:
            t.join()
        self.assertEqual(unexpected, [])
        self.assertEqual(len(saw_closed), 4)

    def saved_json(self):
        with open(test_data("qemu-7.2", "query-qmp-schema.json")) as f:
            return f.read()

    def test_from_saved_json(self):
        text = self.saved_json()
        s = libqmp.Schema.from_json(text)
        self.assertTrue(s.has(IO_URING))
        self.assertFalse(s.has("blockdev-add/arg-type/+file/aio/^io_urin"))
        self.assertTrue(s.has("x-debug-query-block-graph/$unstable"))
        self.assertIn("blockdev-add", s.commands())
        self.assertIn("STOP", s.events())
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            s.validate("blockdev-add", bad_blockdev())
        self.assertEqual(cm.exception.message, BAD_AIO)
        self.assertEqual(s.validate(drive_backup()),
                         ["drive-backup: command 'drive-backup' is deprecated"])
        # bytes and parsed values work too.
        self.assertTrue(libqmp.Schema.from_json(text.encode()).has("query-status"))
        value = json.loads(text)
        self.assertTrue(libqmp.Schema.from_json(value).has("query-status"))
        s.close()

    def test_invalid_json(self):
        with self.assertRaises(libqmp.InvalidArgument):
            libqmp.Schema.from_json("not json")
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            libqmp.Schema.from_json('[{"name": "x"}]')
        self.assertIn("'x'", cm.exception.message)
        with self.assertRaises(TypeError):
            libqmp.Schema()


if __name__ == "__main__":
    main()
