#!/usr/bin/python3
"""Writes the fuzz targets' seed inputs, built from real QEMU 7.2 output
(tests/data/qemu-7.2, captured by tests/data/capture.py), into OUTDIR/<target>/.

The committed corpus (tests/fuzz/corpus/<target>/) is these seeds plus what
fuzzing found, minimised with libFuzzer's -merge=1 (see README.md).

usage: make-seeds.py OUTDIR
"""
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "qemu-7.2")


def real(name, pretty=False):
    with open(os.path.join(DATA, "pretty" if pretty else "", name), "rb") as f:
        return f.read()


def with_id(msg, new_id):
    """The message with its top-level "id" value replaced (the client numbers
    its commands 1, 2, 3...), or with one added."""
    text = msg.decode()
    if re.search(r'"id": ', text):
        return re.sub(r'"id": ("[^"]*"|\{[^}]*\}|\d+)', '"id": %d' % new_id, text, count=1).encode()
    return re.sub(r'\}\s*$', ', "id": %d}\r\n' % new_id, text.rstrip(), count=1).encode() + b"\r\n"


def write(outdir, target, name, data):
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def splitter_seeds(outdir):
    small = ["greeting.json", "qmp_capabilities.json", "query-version.json", "query-status.json",
             "error.json", "error-arg.json", "stop.json", "cont.json", "event-stop.json",
             "event-resume.json"]
    for pretty in (False, True):
        tag = "pretty-" if pretty else ""
        for i, name in enumerate(small):
            # byte 0: where to cut; byte 1: limits (0 = QEMU's)
            write(outdir, "fuzz-splitter", tag + name, bytes([(i * 37) & 0xFF, 0]) + real(name, pretty))
        stream = b"".join(real(n, pretty) for n in small)
        for ctl in (0x00, 0x45, 0x8A, 0xCF):
            write(outdir, "fuzz-splitter", "%sstream-%02x" % (tag, ctl), bytes([ctl, ctl & 0x0F]) + stream)
        write(outdir, "fuzz-splitter", tag + "query-commands-head",
              bytes([0x40, 0]) + real("query-commands.json", pretty)[:3000])
        write(outdir, "fuzz-splitter", tag + "schema-head",
              bytes([0x80, 1]) + real("query-qmp-schema.json", pretty)[:4000])
    write(outdir, "fuzz-splitter", "session.raw", bytes([0xC0, 0]) + real("session.raw"))
    # Escapes, surrogates, numbers, UTF-8: the grammar corners QEMU emits rarely.
    extra = (b'{"event": "X\\u00e9\\ud83d\\ude00", "data": {"s": "\xc3\xa9\xf0\x9f\x98\x80\\n\\"", '
             b'"n": [-0, 1.5e-3, 18446744073709551615, 9223372036854775808, -9223372036854775808]}, '
             b'"timestamp": {"seconds": 1, "microseconds": 2}}\r\n12 true false null "s" []')
    write(outdir, "fuzz-splitter", "grammar", bytes([0x41, 0]) + extra)


def client_stream(pretty):
    """What a server sends to the fuzz client: greeting, the capabilities
    reply (id 1), the async query-status (id 2), the sync query-version
    (id 3), an error for the string command (id 4), events in between."""
    return (real("greeting.json", pretty) + with_id(real("qmp_capabilities.json", pretty), 1)
            + real("event-stop.json", pretty) + with_id(real("query-status.json", pretty), 2)
            + with_id(real("query-version.json", pretty), 3) + real("event-resume.json", pretty)
            + with_id(real("error.json", pretty), 4))


def client_seeds(outdir):
    for pretty in (False, True):
        tag = "pretty-" if pretty else ""
        s = client_stream(pretty)
        # byte 0: how writes are chopped (top two bits); byte 1: client settings
        for ctl, settings in ((0x00, 0x00), (0x40, 0x10), (0x80, 0x04), (0xC0, 0x18)):
            write(outdir, "fuzz-client", "%ssession-%02x-%02x" % (tag, ctl, settings), bytes([ctl, settings]) + s)
        write(outdir, "fuzz-client", tag + "greeting-only", bytes([0, 0]) + real("greeting.json", pretty))
        write(outdir, "fuzz-client", tag + "caps-refused",
              bytes([0, 0]) + real("greeting.json", pretty) + with_id(real("error.json", pretty), 1))
    s = client_stream(False)
    write(outdir, "fuzz-client", "small-limit", bytes([0x80, 0x02]) + s)
    write(outdir, "fuzz-client", "truncated", bytes([0x40, 0x10]) + s[:len(s) // 2])
    write(outdir, "fuzz-client", "garbage-after-caps",
          bytes([0x00, 0x00]) + real("greeting.json") + with_id(real("qmp_capabilities.json"), 1) + b"}{\r\n")
    write(outdir, "fuzz-client", "commands-list",
          bytes([0xC0, 0x00]) + real("greeting.json") + with_id(real("qmp_capabilities.json"), 1)
          + with_id(real("query-commands.json"), 2))


def key(s):
    b = s.encode() if isinstance(s, str) else s
    return bytes([len(b)]) + b


def builder_seeds(outdir):
    # A program: name, name-is-NULL byte, then rounds of
    #   op (0 command_new, 1 args_new, 2 transaction_action_new, 3 args_add),
    #   pair count, pairs (key, then the value its code takes).
    def s_val(v, null=False):
        return bytes([1 if null else 0]) + key(v)

    def i32(v):
        return struct.pack(">i", v)

    def i64(v):
        return struct.pack(">q", v)

    def dbl(v):
        return struct.pack(">d", v)

    def js(kind, payload=b""):
        return bytes([1, kind]) + payload

    progs = {
        "drive-mirror": key("drive-mirror") + b"\x01" + b"\x00\x03"
        + key("s:device") + s_val("drive0") + key("Y:speed") + i64(1 << 20) + key("S:format") + s_val("", True)
        + b"\x03\x02" + key("b:sync") + i32(1) + key("T:auto-finalize") + i32(2),
        "query-status": key("query-status") + b"\x01" + b"\x00\x00",
        "args": key("x") + b"\x01" + b"\x01\x03" + key("u:n") + i32(-1) + key("U:big") + i64(-1)
        + key("d:r") + dbl(2.5) + b"\x03\x01" + key("n:nil"),
        "action": key("blockdev-snapshot-sync") + b"\x01" + b"\x02\x02" + key("s:device") + s_val("ide0")
        + key("s:snapshot-file") + s_val("/tmp/s.qcow2") + b"\x01",
        "json": key("object-add") + b"\x01" + b"\x00\x02" + key("a:props") + js(3) + key("A:opt") + js(0)
        + b"\x03\x01" + key("a:self") + js(4),
        "errors": key("e") + b"\x01" + b"\x00\x03" + key("j:neg") + i32(-5) + key("q:x") + key("s") + b"\x03\x01"
        + key("d:nan") + dbl(float("nan")),
        "dup": key("dup") + b"\x01" + b"\x00\x02" + key("i:a") + i32(1) + key("I:a") + i64(2)
        + b"\x03\x01" + key("k:a") + i32(3),
    }
    for name, data in progs.items():
        write(outdir, "fuzz-builder", name, data)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    splitter_seeds(sys.argv[1])
    client_seeds(sys.argv[1])
    builder_seeds(sys.argv[1])


if __name__ == "__main__":
    main()
