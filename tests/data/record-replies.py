#!/usr/bin/python3
"""Records a short conversation with qemu-system-x86_64 in libvirt's .replies
format: JSON values pretty-printed with 4 spaces, separated by blank lines,
each command (with its id "libvirt-N") followed by QEMU's answer, and the
events QEMU sent where they came.  The test server replays it
(tests/mock/test-replies.c).  Numbers are written as QEMU sent them
(Python's json keeps integers exact).

usage: record-replies.py OUTFILE
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

QEMU = "qemu-system-x86_64"

# The conversation: a toolstack's start-up probing, a pause and resume, and
# a hot-unplug of a device that is not there.
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


def read_message(sock, buf):
    """One JSON value from the stream (QEMU writes one per line)."""
    while b"\n" not in buf[0]:
        data = sock.recv(65536)
        if not data:
            raise EOFError("QEMU closed the connection")
        buf[0] += data
    line, _, rest = buf[0].partition(b"\n")
    buf[0] = rest
    return json.loads(line)


def main():
    out_path = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="libqmp-record-")
    path = os.path.join(tmp, "qmp.sock")
    qemu = subprocess.Popen([QEMU, "-M", "none", "-nodefaults", "-display", "none",
                             "-qmp", "unix:%s,server=on,wait=off" % path])
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        for _ in range(500):
            try:
                sock.connect(path)
                break
            except OSError:
                time.sleep(0.01)
        buf = [b""]
        read_message(sock, buf)  # the greeting: not part of a .replies file
        values = []
        for n, (name, args) in enumerate(COMMANDS, 1):
            cmd = {"execute": name}
            if args is not None:
                cmd["arguments"] = args
            cmd["id"] = "libvirt-%d" % n
            values.append(cmd)
            sock.sendall(json.dumps(cmd).encode() + b"\n")
            while True:
                msg = read_message(sock, buf)
                values.append(msg)
                if "event" not in msg:
                    break
        # Events that follow the last answer (none is expected; wait a little).
        sock.settimeout(0.2)
        try:
            while True:
                values.append(read_message(sock, buf))
        except (socket.timeout, EOFError):
            pass
        sock.close()
    finally:
        qemu.terminate()
        qemu.wait()
        os.unlink(path) if os.path.exists(path) else None
        os.rmdir(tmp)
    with open(out_path, "w") as f:
        f.write("\n\n".join(json.dumps(v, indent=4) for v in values) + "\n")


if __name__ == "__main__":
    main()
