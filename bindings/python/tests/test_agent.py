#!/usr/bin/python3
"""The guest agent in Python: libqmp.connect_agent_unix() and the agent_*
helpers against a real qemu-ga, and an agent that never answers.

qemu-ga run here acts on this machine, so every instance gets -b with the
whole list of blocked commands, read at test time from tests/agent/qga.h
(QGA_BLOCKED_RPCS); guest-exec runs only /bin/echo, /bin/cat, /bin/false
and /bin/sh -c 'exit 3'; files live only in the instance's private
temporary directory."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import libqmp

# The commands that change the machine: the header's list must hold them all.
MUST_BLOCK = {
    "guest-shutdown", "guest-suspend-disk", "guest-suspend-ram", "guest-suspend-hybrid",
    "guest-set-time", "guest-fsfreeze-freeze", "guest-fsfreeze-freeze-list", "guest-fsfreeze-thaw",
    "guest-fstrim", "guest-set-user-password", "guest-set-vcpus", "guest-set-memory-blocks",
    "guest-ssh-add-authorized-keys", "guest-ssh-remove-authorized-keys",
}


def blocked_rpcs():
    """QGA_BLOCKED_RPCS of tests/agent/qga.h: its string literals joined."""
    path = os.environ["LIBQMP_QGA_H"]
    with open(path) as f:
        text = f.read()
    m = re.search(r"#define QGA_BLOCKED_RPCS((?:[^\n]*\\\n)*[^\n]*)", text)
    if not m:
        raise RuntimeError("%s: no QGA_BLOCKED_RPCS" % path)
    value = "".join(re.findall(r'"([^"]*)"', m.group(1)))
    names = set(value.split(","))
    missing = MUST_BLOCK - names
    if missing:
        raise RuntimeError("%s: QGA_BLOCKED_RPCS lacks %s" % (path, sorted(missing)))
    return value


class Agent:
    """qemu-ga -m unix-listen in a private directory, always with -b."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="libqmp-py-qga-")
        self.sock = os.path.join(self.dir, "qga.sock")
        state = os.path.join(self.dir, "state")
        os.mkdir(state, 0o700)
        binary = os.environ.get("QEMU_GA") or shutil.which("qemu-ga") or "/usr/sbin/qemu-ga"
        self.proc = subprocess.Popen(
            [binary, "-m", "unix-listen", "-p", self.sock, "-t", state,
             "-f", os.path.join(self.dir, "qga.pid"), "-l", os.path.join(self.dir, "qga.log"),
             "-b", blocked_rpcs()])
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None:
                raise RuntimeError("qemu-ga exited (status %d) before creating its socket" % self.proc.returncode)
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("qemu-ga did not create %s within 10 s" % self.sock)
            time.sleep(0.02)

    def path(self, name):
        return os.path.join(self.dir, name)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class AgentTest(unittest.TestCase):
    def setUp(self):
        self.agent = Agent()
        self.addCleanup(self.agent.stop)
        self.c = libqmp.connect_agent_unix(self.agent.sock, timeout=30)
        self.addCleanup(self.c.close)

    def test_connect_is_agent_and_ping_answers(self):
        self.assertTrue(self.c.connected)
        self.assertTrue(self.c.is_agent)
        self.assertTrue(self.c.agent_ping())
        self.assertTrue(self.c.agent_ping(timeout=2))

    def test_ping_of_a_stopped_agent_is_false_then_true_again(self):
        self.agent.proc.send_signal(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            self.assertFalse(self.c.agent_ping(timeout=0.4))
            elapsed = time.monotonic() - t0
            with self.assertRaises(libqmp.TimeoutError) as cm:
                self.c.agent_exec(["/bin/echo", "late"], timeout=0.4)
            self.assertIn("agent", str(cm.exception))
        finally:
            self.agent.proc.send_signal(signal.SIGCONT)
        self.assertGreaterEqual(elapsed, 0.3)
        self.assertLess(elapsed, 5)
        # the late replies are dropped: the next answers are the next calls' own
        self.assertTrue(self.c.agent_ping(timeout=5))
        self.assertEqual(self.c.agent_exec(["/bin/echo", "next"], timeout=10).stdout, b"next\n")

    def test_execute_works_on_the_agent(self):
        info = self.c.execute("guest-info")
        self.assertIn("version", info)

    def test_commands_leave_out_every_blocked_command(self):
        names, version = self.c.agent_commands()
        self.assertIn("guest-exec", names)
        self.assertIn("guest-ping", names)
        self.assertIsInstance(version, str)
        self.assertTrue(version)
        for name in blocked_rpcs().split(","):
            self.assertNotIn(name, names)

    def test_blocked_command_is_refused(self):
        with self.assertRaises(libqmp.CommandError) as cm:
            self.c.execute("guest-set-time")
        self.assertIn("disabled", str(cm.exception).lower())

    def test_exec_echo_returns_stdout_bytes(self):
        r = self.c.agent_exec(["/bin/echo", "hello", "agent"], timeout=10)
        self.assertIsInstance(r, libqmp.ExecResult)
        self.assertEqual(r.exit_code, 0)
        self.assertEqual(r.signal, 0)
        self.assertTrue(r.ok)
        self.assertEqual(r.stdout, b"hello agent\n")
        self.assertEqual(r.stderr, b"")
        self.assertFalse(r.stdout_truncated)
        self.assertFalse(r.stderr_truncated)
        self.assertGreater(r.pid, 0)

    def test_exec_cat_passes_binary_input_through(self):
        data = bytes(range(256)) * 16 + b"\0end"
        r = self.c.agent_exec(["/bin/cat"], input=data, timeout=10)
        self.assertEqual(r.exit_code, 0)
        self.assertEqual(r.stdout, data)

    def test_exec_nonzero_exit_is_a_result_unless_checked(self):
        r = self.c.agent_exec(["/bin/false"], timeout=10)
        self.assertEqual(r.exit_code, 1)
        self.assertFalse(r.ok)
        r = self.c.agent_exec(["/bin/sh", "-c", "exit 3"], timeout=10)
        self.assertEqual(r.exit_code, 3)
        with self.assertRaises(libqmp.ExecError) as cm:
            self.c.agent_exec(["/bin/sh", "-c", "exit 3"], timeout=10, check=True)
        self.assertEqual(cm.exception.result.exit_code, 3)
        self.assertIn("status 3", str(cm.exception))
        self.assertTrue(self.c.agent_exec(["/bin/echo"], timeout=10, check=True).ok)

    def test_exec_missing_program_is_a_command_error(self):
        with self.assertRaises(libqmp.CommandError):
            self.c.agent_exec([self.agent.path("no-such-program")], timeout=10)
        self.assertTrue(self.c.agent_ping())

    def test_exec_bad_arguments(self):
        with self.assertRaises(libqmp.InvalidArgument):
            self.c.agent_exec([], timeout=10)
        with self.assertRaises(libqmp.InvalidArgument):
            self.c.agent_exec(["/bin/echo"], env=[1], timeout=10)

    def test_file_write_then_read_beyond_one_chunk(self):
        path = self.agent.path("data.bin")
        data = os.urandom(200 * 1024) + b"\0\0tail"
        self.c.agent_file_write(path, data)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(self.c.agent_file_read(path), data)
        self.c.agent_file_write(path, b"")
        self.assertEqual(self.c.agent_file_read(path), b"")

    def test_file_read_limit(self):
        path = self.agent.path("big.bin")
        self.c.agent_file_write(path, b"x" * 1000)
        with self.assertRaises(libqmp.MessageTooBig):
            self.c.agent_file_read(path, max_bytes=100)
        self.assertEqual(len(self.c.agent_file_read(path, max_bytes=1000)), 1000)

    def test_file_read_missing_is_a_command_error(self):
        with self.assertRaises(libqmp.CommandError):
            self.c.agent_file_read(self.agent.path("missing"))
        self.assertTrue(self.c.agent_ping())

    def test_file_write_to_unwritable_path_is_a_command_error(self):
        with self.assertRaises(libqmp.CommandError):
            self.c.agent_file_write(self.agent.path("no-dir/file"), b"data")
        self.assertFalse(os.path.exists(self.agent.path("no-dir")))


class SilentAgentTest(unittest.TestCase):
    """A socket nobody answers on: the guest has not started its agent."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="libqmp-py-silent-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "silent.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(self.listener.close)
        self.listener.bind(self.path)
        self.listener.listen(4)

    def test_connect_times_out_naming_the_agent(self):
        t0 = time.monotonic()
        with self.assertRaises(libqmp.TimeoutError) as cm:
            libqmp.connect_agent_unix(self.path, timeout=0.5)
        elapsed = time.monotonic() - t0
        self.assertIn("agent", str(cm.exception))
        self.assertGreaterEqual(elapsed, 0.4)
        self.assertLess(elapsed, 5)

    def test_connect_releases_the_gil(self):
        ticks = [0]
        stop = threading.Event()

        def spin():
            while not stop.is_set():
                ticks[0] += 1
                time.sleep(0.001)

        t = threading.Thread(target=spin)
        t.start()
        try:
            time.sleep(0.05)
            before = ticks[0]
            with self.assertRaises(libqmp.TimeoutError):
                libqmp.connect_agent_unix(self.path, timeout=0.6)
            during = ticks[0] - before
        finally:
            stop.set()
            t.join()
        # with the GIL held for the 0.6 s wait, the other thread would not run at all
        self.assertGreater(during, 50)


class MonitorTest(unittest.TestCase):
    def test_helpers_refuse_a_monitor_connection(self):
        with libqmp.Mock() as m:
            m.expect("query-status", returns={"status": "running"})
            c = m.connect()
            self.assertFalse(c.is_agent)
            with self.assertRaises(libqmp.InvalidArgument):
                c.agent_exec(["/bin/echo"], timeout=1)
            with self.assertRaises(libqmp.InvalidArgument):
                c.agent_file_read("/nonexistent")
            c.execute("query-status")


if __name__ == "__main__":
    if not (os.environ.get("QEMU_GA") or shutil.which("qemu-ga") or os.path.exists("/usr/sbin/qemu-ga")):
        print("qemu-ga not found: install qemu-guest-agent (scripts/setup.sh)", file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=2)
