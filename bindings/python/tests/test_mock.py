#!/usr/bin/python3
"""libqmp.Mock, the test server: the unplug example's test (as a toolstack
tests its QMP code without QEMU), a recording of QEMU 7.2 replayed,
mismatches reported by verify() and by the with block, and bad script items
refused by the call that adds them."""

import gc
import json
import os
import time
import shutil
import tempfile
import unittest

import libqmp


def test_data(*parts):
    """tests/data of the source tree: $LIBQMP_TEST_DATA (meson sets it) or
    found from this file's place in the tree."""
    base = os.environ.get("LIBQMP_TEST_DATA") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "data")
    return os.path.join(base, *parts)


RECORDING = test_data("qemu-7.2", "session.replies")
WAIT = 5.0


def load_schema():
    with open(test_data("qemu-7.2", "query-qmp-schema.json")) as f:
        return libqmp.Schema.from_json(f.read())


def recorded_values(path):
    """The values of a .replies file, read here with Python's json module,
    apart from the library: blank-line separated JSON."""
    with open(path) as f:
        blocks = f.read().split("\n\n")
    return [json.loads(b) for b in blocks if b.strip()]


# The toolstack function under test: the same as examples/unplug-disk.h.
def unplug_disk(c, device_id, timeout):
    """Hot-unplugs device_id and waits up to timeout seconds for
    DEVICE_DELETED with its "device"; raises what the client raises."""
    seq = c.event_seq                 # before the command: the event may come at once
    c.execute("device_del", id=device_id)
    return c.wait_event("DEVICE_DELETED", match={"device": device_id}, after=seq, timeout=timeout)


class TestUnplug(unittest.TestCase):
    """The example's test (tests/mock/test-unplug.c) in Python, with QEMU
    7.2's schema checking that the script is what QEMU would send."""

    @classmethod
    def setUpClass(cls):
        cls.schema = load_schema()

    def mock(self):
        return libqmp.Mock(schema=self.schema)

    def test_unplug_completes(self):
        with self.mock() as m:
            m.expect("device_del", {"id": "disk0"})
            # QEMU reports the virtio backend first (no "device"), then the device.
            m.event("DEVICE_DELETED", {"path": "/machine/peripheral/disk0/virtio-backend"})
            m.event("DEVICE_DELETED", {"device": "disk0", "path": "/machine/peripheral/disk0"})
            c = m.connect()
            ev = unplug_disk(c, "disk0", WAIT)
            self.assertEqual(ev.data["path"], "/machine/peripheral/disk0")

    def test_unplug_refused(self):
        with self.mock() as m:
            m.expect("device_del", {"id": "disk0"}, error=("DeviceNotFound", "Device 'disk0' not found"))
            c = m.connect()
            with self.assertRaises(libqmp.CommandError) as cm:
                unplug_disk(c, "disk0", WAIT)
            self.assertEqual(cm.exception.error_class, "DeviceNotFound")
            self.assertEqual(cm.exception.desc, "Device 'disk0' not found")

    def test_guest_never_releases(self):
        with self.mock() as m:
            m.expect("device_del", {"id": "disk0"})
            with self.assertRaises(libqmp.TimeoutError):
                unplug_disk(m.connect(), "disk0", 0.1)

    def test_other_device_does_not_count(self):
        with self.mock() as m:
            m.expect("device_del", {"id": "disk0"})
            m.event("DEVICE_DELETED", {"device": "disk1", "path": "/machine/peripheral/disk1"})
            with self.assertRaises(libqmp.TimeoutError):
                unplug_disk(m.connect(), "disk0", 0.1)

    def test_wrong_device_is_a_mismatch(self):
        m = self.mock()
        m.expect("device_del", {"id": "disk0"})
        c = m.connect()
        with self.assertRaises(libqmp.CommandError) as cm:
            unplug_disk(c, "disk9", WAIT)
        self.assertEqual(cm.exception.error_class, "GenericError")
        want = ("qmp_mock: command 'device_del': expected arguments {\"id\":\"disk0\"}, "
                "got {\"id\":\"disk9\"}")
        self.assertEqual(cm.exception.desc, want)
        with self.assertRaises(libqmp.MockMismatch) as cm:
            m.verify(WAIT)
        self.assertIsInstance(cm.exception, AssertionError)
        self.assertEqual(cm.exception.message, want)
        m.close()


class TestRecording(unittest.TestCase):
    def test_replay_qemu_recording(self):
        """Every recorded command gets the answer QEMU 7.2 gave (ids aside),
        the events come where they came, with their recorded timestamps."""
        values = recorded_values(RECORDING)
        commands = events = 0
        with libqmp.Mock() as m:
            m.load_replies(RECORDING)
            c = m.connect()
            for i, v in enumerate(values):
                name = v.get("execute")
                if name is None or name == "qmp_capabilities":
                    continue      # the negotiation is done by connect()
                seq = c.event_seq
                try:
                    result, error = c.execute(name, v.get("arguments")), None
                except libqmp.CommandError as e:
                    result, error = None, e
                j = i + 1
                while "event" in values[j]:
                    ev = c.wait_event(values[j]["event"], after=seq, timeout=WAIT)
                    self.assertEqual(ev["timestamp"], values[j]["timestamp"])
                    events += 1
                    j += 1
                if "return" in values[j]:
                    self.assertIsNone(error)
                    self.assertEqual(result, values[j]["return"])
                else:
                    self.assertIsNotNone(error, name)
                    self.assertEqual(error.error_class, values[j]["error"]["class"])
                    self.assertEqual(error.desc, values[j]["error"]["desc"])
                commands += 1
        self.assertEqual(commands, 8)
        self.assertEqual(events, 2)        # STOP and RESUME

    def test_recording_fits_the_schema(self):
        m = libqmp.Mock(schema=load_schema())
        m.load_replies(RECORDING)
        c = m.connect()
        self.assertEqual(c.execute("query-version")["qemu"], {"major": 7, "minor": 2, "micro": 22})
        self.assertEqual(c.execute("query-status")["status"], "running")
        self.assertEqual(c.execute("query-kvm"), {"enabled": False, "present": True})
        # The rest of the recording is never reached; the mismatch names its line.
        with self.assertRaises(libqmp.MockMismatch) as cm:
            m.verify(0.05)
        self.assertIn("still expected command 'stop' (%s:55)" % RECORDING, cm.exception.message)
        m.close()

    def test_numbers_pass_exactly(self):
        d = tempfile.mkdtemp(prefix="libqmp-py-mock-")
        try:
            path = os.path.join(d, "big.replies")
            with open(path, "w") as f:
                f.write('{"execute": "query-big", "arguments": {"n": 18446744073709551615}, "id": "libvirt-2"}\n\n'
                        '{"return": {"size": 18446744073709551614}, "id": "libvirt-2"}\n')
            with libqmp.Mock() as m:
                m.load_replies(path)
                self.assertEqual(m.connect().execute("query-big", n=2**64 - 1), {"size": 2**64 - 2})
        finally:
            shutil.rmtree(d)


class TestMismatches(unittest.TestCase):
    def test_unexpected_command(self):
        m = libqmp.Mock()
        m.expect("stop")
        c = m.connect()
        with self.assertRaises(libqmp.CommandError) as cm:
            c.execute("cont")
        self.assertEqual(cm.exception.desc, "qmp_mock: expected command 'stop', got 'cont'")
        with self.assertRaises(libqmp.MockMismatch) as cm:
            m.verify(WAIT)
        self.assertEqual(str(cm.exception), "qmp_mock: expected command 'stop', got 'cont'")
        m.close()

    def test_with_block_verifies(self):
        with self.assertRaises(libqmp.MockMismatch) as cm:
            with libqmp.Mock(verify_timeout=0.05) as m:
                m.expect("stop").expect("cont")
                m.connect().execute("stop")
        self.assertEqual(cm.exception.message,
                         "qmp_mock: expectations never reached after 50 ms: still expected command 'cont'")

    def test_with_block_leaves_other_exceptions_alone(self):
        with self.assertRaises(KeyError):
            with libqmp.Mock() as m:
                m.expect("stop")
                m.connect()
                raise KeyError("the test's own failure")

    def test_client_leaves_early(self):
        m = libqmp.Mock()
        m.expect("stop").expect("cont")
        c = m.connect()
        c.execute("stop")
        c.close()
        with self.assertRaises(libqmp.MockMismatch) as cm:
            m.verify(WAIT)
        self.assertEqual(cm.exception.message,
                         "qmp_mock: the client closed the connection before the script was used up: "
                         "still expected command 'cont'")
        m.close()

    def test_schema_violation(self):
        with self.assertRaises(libqmp.MockMismatch) as cm:
            with libqmp.Mock(schema=load_schema()) as m:
                m.expect("device_del", {"id": "disk0"})
                with self.assertRaises(libqmp.CommandError):
                    m.connect().execute("device_del", di="disk0")
        self.assertIn("unknown member 'di'", cm.exception.message)

    def test_listen_unix_and_greeting(self):
        d = tempfile.mkdtemp(prefix="libqmp-py-mock-")
        try:
            path = os.path.join(d, "qmp.sock")
            greeting = {"QMP": {"version": {"qemu": {"major": 8, "minor": 0, "micro": 0}, "package": ""},
                                "capabilities": []}}
            with libqmp.Mock(greeting=greeting) as m:
                m.expect("query-name", returns={"name": "vm0"})
                m.listen_unix(path)
                with libqmp.Client.connect_unix(path, timeout=WAIT) as c:
                    self.assertEqual(c.greeting["QMP"]["version"]["qemu"]["major"], 8)
                    self.assertEqual(c.execute("query-name"), {"name": "vm0"})
            self.assertFalse(os.path.exists(path))
        finally:
            shutil.rmtree(d)


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def threads(want=None):
    """The threads of this process.  With want: waits up to a second for
    the count to come down to it: a joined thread can still be listed for
    a moment (pthread_join() returns when the thread has left its memory,
    before the kernel has taken its task away)."""
    deadline = time.monotonic() + 1.0
    while True:
        n = len(os.listdir("/proc/self/task"))
        if want is None or n <= want or time.monotonic() > deadline:
            return n
        time.sleep(0.001)


class TestResources(unittest.TestCase):
    """Servers closed, or left to the garbage collector, leave no fd or
    thread behind (each server has a thread and a socket while it runs)."""

    def test_many_servers(self):
        fds, tasks = open_fds(), threads()
        kept = []          # alive: the end of the with block alone must free
        for i in range(200):
            with libqmp.Mock() as m:
                m.expect("query-name", returns={"name": "vm%d" % i})
                self.assertEqual(m.connect().execute("query-name"), {"name": "vm%d" % i})
            kept.append(m)
        self.assertEqual(open_fds(), fds)
        self.assertEqual(threads(tasks), tasks)

    def test_servers_left_to_the_collector(self):
        fds, tasks = open_fds(), threads()
        for _ in range(200):
            m = libqmp.Mock()
            m.expect("stop")
            os.close(m.socketpair())
            del m
        gc.collect()
        self.assertEqual(open_fds(), fds)
        self.assertEqual(threads(tasks), tasks)


class TestBadScript(unittest.TestCase):
    """A bad script item raises InvalidArgument at the call that adds it,
    with the library's message, and adds nothing."""

    def test_bad_items(self):
        m = libqmp.Mock()
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            m.expect("stop", response='{"return": ')
        self.assertEqual(cm.exception.message, "the response to 'stop' is not valid JSON: malformed JSON: "
                                               "unexpected end of input at byte 11")
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            m.expect("stop", response={"ret": {}})
        self.assertEqual(cm.exception.message,
                         "the response to 'stop': a response must be {\"return\": ...} or "
                         "{\"error\": {\"class\": ..., \"desc\": ...}}: it has neither")
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            m.expect("stop", [1])
        self.assertEqual(cm.exception.message, "the expected arguments of 'stop' must be a JSON object")
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            m.event({"data": {}})
        self.assertEqual(cm.exception.message, "an event must have an \"event\" name")
        with self.assertRaises(libqmp.InvalidArgument):
            m.expect("stop", returns={}, error=("GenericError", "x"))
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            m.greeting({"capabilities": []})
        self.assertEqual(cm.exception.message, "a greeting must be an object with a \"QMP\" object")
        # Nothing was added: the script is empty.
        m.verify(0)
        m.close()

    def test_schema_refuses_items(self):
        m = libqmp.Mock(schema=load_schema())
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            m.expect("query-status", returns={"status": "running"})
        self.assertEqual(cm.exception.message, "the scripted return is not valid: query-status/ret-type: "
                                               "return: missing required member 'running'")
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            m.expect("query-sttus")
        self.assertEqual(cm.exception.message, "the schema has no command 'query-sttus'")
        m.close()

    def test_bad_replies_file_names_the_line(self):
        d = tempfile.mkdtemp(prefix="libqmp-py-mock-")
        try:
            path = os.path.join(d, "bad.replies")
            with open(path, "w") as f:
                f.write('{"execute": "stop"}\n\n{"return": {}}\n\n{"execute": "cont"}\n')
            m = libqmp.Mock()
            with self.assertRaises(libqmp.InvalidArgument) as cm:
                m.load_replies(path)
            self.assertEqual(cm.exception.message,
                             path + ":5: the command 'cont' has no response (the file ends)")
            with self.assertRaises(libqmp.SocketError):
                m.load_replies(os.path.join(d, "none.replies"))
            m.verify(0)
            m.close()
        finally:
            shutil.rmtree(d)

    def test_closed(self):
        m = libqmp.Mock()
        m.close()
        m.close()
        with self.assertRaises(libqmp.InvalidArgument) as cm:
            m.expect("stop")
        self.assertEqual(cm.exception.message, "the test server is closed")


if __name__ == "__main__":
    unittest.main(verbosity=2)
