"""The Python tests' QEMU: qemu-system-x86_64 -M none, one per test case, in a
private temporary directory.  QEMU_SYSTEM names another binary.  Without
QEMU a test program fails, unless LIBQMP_QEMU_OPTIONAL=1 (then it exits 77:
skipped)."""

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

import libqmp


def qemu_binary():
    return shutil.which(os.environ.get("QEMU_SYSTEM") or "qemu-system-x86_64")


def _die_with_parent():
    # QEMU must not outlive a test program that is killed (meson's timeout).
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Qemu:
    def __init__(self, qmp=None):
        self.dir = tempfile.mkdtemp(prefix="libqmp-py-")
        self.sock = os.path.join(self.dir, "qmp.sock")
        self.log = open(os.path.join(self.dir, "qemu.log"), "w")
        qmp = qmp or "unix:%s,server=on,wait=off" % self.sock
        self.proc = subprocess.Popen(
            [qemu_binary(), "-M", "none", "-nodefaults", "-display", "none", "-qmp", qmp],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            cwd=self.dir, preexec_fn=_die_with_parent)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class QemuTestCase(unittest.TestCase):
    def setUp(self):
        self.qemu = Qemu()
        self.addCleanup(self.qemu.stop)

    def connect(self, **settings):
        # QEMU may start slowly on a loaded machine: a generous handshake budget.
        c = libqmp.Client.connect_unix(self.qemu.sock, timeout=30, **settings)
        self.addCleanup(c.close)
        return c


def main():
    if not qemu_binary():
        if os.environ.get("LIBQMP_QEMU_OPTIONAL") == "1":
            print("qemu-system-x86_64 not found: skipped (LIBQMP_QEMU_OPTIONAL=1)")
            sys.exit(77)
        print("qemu-system-x86_64 not found: install it (scripts/setup.sh), set QEMU_SYSTEM, "
              "or set LIBQMP_QEMU_OPTIONAL=1 to skip", file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=2)
