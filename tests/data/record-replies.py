#!/usr/bin/python3
"""The conversation of tests/data/qemu-7.2/session.replies: a toolstack's
start-up probing, a pause and resume, and a hot-unplug of a device that is
not there, sent to a private qemu-system-x86_64 through `qmpctl record`,
which writes the recording (libvirt's .replies format).  This script only
speaks; the recording is qmpctl's.  The test server replays the result
(tests/mock/test-replies.c).

usage: record-replies.py QMPCTL OUTFILE    (QMPCTL: e.g. build/tools/qmpctl/qmpctl)
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

QEMU = "qemu-system-x86_64"

COMMANDS = [
    ("qmp_capabilities", None),
    ("query-version", None),
    ("query-status", None),
    ("query-kvm", None),
    ("stop", None),
    ("query-status", None),
    ("cont", None),
    ("device_del", {"id": "disk0"}),
    ("query-name", None),
]


def wait_for(path):
    for _ in range(500):
        if os.path.exists(path):
            return
        time.sleep(0.01)
    raise RuntimeError("no socket at " + path)


def read_message(f):
    """One JSON value from the stream (QEMU writes one per line)."""
    line = f.readline()
    if not line:
        raise EOFError("the connection was closed")
    return json.loads(line)


def main():
    qmpctl, out_path = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="libqmp-record-")
    qemu_sock = os.path.join(tmp, "qmp.sock")
    rec_sock = os.path.join(tmp, "record.sock")
    qemu = subprocess.Popen([QEMU, "-M", "none", "-nodefaults", "-display", "none",
                             "-qmp", "unix:%s,server=on,wait=off" % qemu_sock])
    recorder = None
    try:
        wait_for(qemu_sock)
        recorder = subprocess.Popen([qmpctl, "-s", qemu_sock, "record", "-o", out_path, "--listen", rec_sock])
        wait_for(rec_sock)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(rec_sock)
        f = sock.makefile("rb")
        read_message(f)  # the greeting
        for n, (name, args) in enumerate(COMMANDS, 1):
            cmd = {"execute": name}
            if args is not None:
                cmd["arguments"] = args
            cmd["id"] = n
            sock.sendall(json.dumps(cmd).encode() + b"\n")
            while "event" in read_message(f):
                pass
        time.sleep(0.2)  # events that follow the last answer (none is expected)
        f.close()
        sock.close()
        if recorder.wait(timeout=30) != 0:
            raise RuntimeError("qmpctl record failed")
        recorder = None
    finally:
        if recorder:
            recorder.kill()
            recorder.wait()
        qemu.terminate()
        qemu.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
