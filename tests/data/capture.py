#!/usr/bin/python3
"""Captures real QMP output from qemu-system-x86_64 into tests/data/qemu-<ver>/.

Each file holds the exact bytes the server sent for one message, trailing
line end included, so the tests see what a socket read would.  session.raw is
the whole stream of a connection, unsplit.  Run twice: compact (-qmp) and
pretty (-chardev ... -mon ...,pretty=on); files of the second run go to
pretty/.

usage: capture.py [OUTDIR]
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

QEMU = "qemu-system-x86_64"

# (file name, command) in the order they are sent.
COMMANDS = [
    ("qmp_capabilities", {"execute": "qmp_capabilities"}),
    ("query-version", {"execute": "query-version", "id": 1}),
    ("query-status", {"execute": "query-status", "id": "status"}),
    ("query-commands", {"execute": "query-commands"}),
    ("query-qmp-schema", {"execute": "query-qmp-schema", "id": {"nested": [1, 2.5, None]}}),
    ("error", {"execute": "no-such-command", "id": 7}),
    ("error-arg", {"execute": "query-status", "arguments": {"bogus": True}}),
    ("stop", {"execute": "stop"}),
    ("cont", {"execute": "cont"}),
]


class Conn:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        for _ in range(200):
            try:
                self.sock.connect(path)
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("cannot connect to " + path)
        self.sock.settimeout(10)
        self.buf = b""
        self.stream = b""
        self.dec = json.JSONDecoder()

    def message(self):
        """Returns (raw bytes of the next message with its trailing blanks, value)."""
        while True:
            text = self.buf.decode("utf-8", "surrogateescape")
            stripped = text.lstrip(" \t\r\n")
            if stripped:
                try:
                    value, end = self.dec.raw_decode(stripped)
                except ValueError:
                    value = None
                if value is not None:
                    end += len(text) - len(stripped)
                    # take the line end that follows the message too
                    while end < len(text) and text[end] in " \t\r\n":
                        end += 1
                    raw = text[:end].encode("utf-8", "surrogateescape")
                    if end == len(text) or raw.endswith(b"\n"):
                        self.buf = self.buf[len(raw):]
                        return raw, value
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("server closed")
            self.buf += chunk
            self.stream += chunk

    def send(self, cmd):
        self.sock.sendall(json.dumps(cmd).encode() + b"\n")


def capture(outdir, pretty):
    os.makedirs(outdir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="qmp-capture-")
    sock = os.path.join(tmp, "qmp.sock")
    args = [QEMU, "-M", "none", "-nodefaults", "-display", "none"]
    if pretty:
        args += ["-chardev", "socket,id=mon,path=%s,server=on,wait=off" % sock,
                 "-mon", "chardev=mon,mode=control,pretty=on"]
    else:
        args += ["-qmp", "unix:%s,server=on,wait=off" % sock]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL)
    try:
        conn = Conn(sock)
        events = []

        def save(name, raw):
            with open(os.path.join(outdir, name + ".json"), "wb") as f:
                f.write(raw)

        raw, _ = conn.message()
        save("greeting", raw)
        for name, cmd in COMMANDS:
            conn.send(cmd)
            while True:
                raw, value = conn.message()
                if "event" in value:
                    events.append((value["event"], raw))
                    continue
                save(name, raw)
                break
        # STOP/RESUME may come after the reply
        want = {"STOP", "RESUME"}
        while not want <= {e for e, _ in events}:
            raw, value = conn.message()
            events.append((value["event"], raw))
        for ev, raw in events:
            save("event-" + ev.lower(), raw)
        conn.send({"execute": "quit"})
        while True:
            try:
                conn.message()
            except (RuntimeError, OSError):
                break
        with open(os.path.join(outdir, "session.raw"), "wb") as f:
            f.write(conn.stream)
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if os.path.exists(sock):
            os.unlink(sock)
        os.rmdir(tmp)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "qemu-7.2")
    capture(out, pretty=False)
    capture(os.path.join(out, "pretty"), pretty=True)


if __name__ == "__main__":
    main()
