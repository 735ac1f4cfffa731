#!/usr/bin/python3
"""qmpctl against real QEMU, one case per run:

    test-qmpctl.py QMPCTL CASE [MANPAGE [RECORD-PEER]]

QEMU comes from $QEMU_SYSTEM or PATH; missing QEMU fails the test (CI
installs it) unless LIBQMP_QEMU_OPTIONAL=1, then it is skipped (77).  Under
`meson test --setup=valgrind` (LIBQMP_TEST_VALGRIND=1) every qmpctl run is
wrapped by tests/valgrind-wrap.sh, so valgrind judges qmpctl, not Python.
Standard library only.
"""
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

QMPCTL = os.path.abspath(sys.argv[1])
CASE = sys.argv[2]
MANPAGE = sys.argv[3] if len(sys.argv) > 3 else None
PEER = os.path.abspath(sys.argv[4]) if len(sys.argv) > 4 else None  # record-peer.c
HERE = os.path.dirname(os.path.abspath(__file__))
QEMU = os.environ.get("QEMU_SYSTEM", "qemu-system-x86_64")
VALGRIND = os.environ.get("LIBQMP_TEST_VALGRIND") == "1"
SLOW = 10 if VALGRIND else 1
WRAP = [os.path.join(HERE, "..", "valgrind-wrap.sh")] if VALGRIND else []


class Failure(Exception):
    pass


def check(cond, what, *details):
    if not cond:
        raise Failure(what + "".join("\n--- " + str(d) for d in details))


def qmpctl_cmd(args):
    return WRAP + [QMPCTL] + list(args)


def run(args, env=None, stdin=None, timeout=60):
    """Runs qmpctl; returns (exit code, stdout, stderr)."""
    e = dict(os.environ)
    e.pop("QMP_SOCKET", None)
    e.update(env or {})
    p = subprocess.run(qmpctl_cmd(args), env=e, input=stdin, capture_output=True,
                       text=True, timeout=timeout * SLOW)
    print("$ qmpctl %s -> %d" % (" ".join(args), p.returncode))
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr)
    return p.returncode, p.stdout, p.stderr


def spawn(args, env=None, **kw):
    e = dict(os.environ)
    e.pop("QMP_SOCKET", None)
    e.update(env or {})
    return subprocess.Popen(qmpctl_cmd(args), env=e, text=True, **kw)


def wait_for(pred, what, timeout=10):
    end = time.time() + timeout * SLOW
    while time.time() < end:
        if pred():
            return
        time.sleep(0.02)
    raise Failure("timed out waiting for " + what)


def read_file(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


class Qemu:
    """A private QEMU with two QMP monitors: a (for the command tested) and b (to poke it)."""

    def __init__(self, tmp):
        self.a = os.path.join(tmp, "a.sock")
        self.b = os.path.join(tmp, "b.sock")
        self.log = open(os.path.join(tmp, "qemu.log"), "w")
        self.proc = subprocess.Popen(
            [QEMU, "-M", "none", "-nodefaults", "-display", "none",
             "-qmp", "unix:%s,server=on,wait=off" % self.a,
             "-qmp", "unix:%s,server=on,wait=off" % self.b],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        wait_for(lambda: os.path.exists(self.a) and os.path.exists(self.b), "QEMU's sockets")

    def poke(self, *args):
        """Runs qmpctl on monitor b, without valgrind (it only helps)."""
        p = subprocess.run([QMPCTL, "-s", self.b] + list(args), capture_output=True, text=True,
                           timeout=30)
        check(p.returncode == 0, "helper qmpctl %s failed" % " ".join(args), p.stdout, p.stderr)
        return p.stdout

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()


# --- cases without QEMU --------------------------------------------------------

def case_usage(tmp):
    rc, out, err = run(["--help"])
    check(rc == 0 and "Exit status:" in out and "job watch" in out, "--help")
    rc, out, _ = run(["--version"])
    check(rc == 0 and out.startswith("qmpctl "), "--version")
    for args in ([], ["frobnicate"], ["--bogus", "demo"], ["exec"], ["wait"], ["hmp"],
                 ["exec", "query-status", "--name", "X"], ["events", "--count", "0"],
                 ["--timeout", "soon", "demo"], ["--color=purple", "demo"], ["job", "list"],
                 ["migrate", "watch", "extra"], ["-s", "x", "--tcp", "h:1", "demo"],
                 ["demo", "--", "-m", "1G"], ["schema", "a", "b"], ["help", "a", "b"],
                 ["exec", "query-status", "--json"], ["record"], ["record", "-o", "f", "--tcp", "h:1"],
                 ["record", "-o", "f", "--launch"], ["exec", "x", "-o", "f"], ["exec", "x", "--listen", "p"],
                 ["record", "-o", "f", "extra"], ["record", "-o", "f", "--validate"],
                 ["cat", "x"], ["run", "--", "/bin/true"], ["--agent", "a", "run"], ["--agent", "a", "events"],
                 ["--agent", "a", "-s", "x", "exec", "y"], ["--agent", "a", "--validate", "exec", "y"],
                 ["--agent", "a", "cat"], ["--agent", "a", "copy-in", "x"], ["--agent", "a", "copy-out", "x", "y", "z"]):
        rc, _, err = run(args)
        check(rc == 2 and "qmpctl:" in err, "usage error %r: exit 2" % (args,))
    rc, _, err = run(["exec", "query-status"])
    check(rc == 2 and "QMP_SOCKET" in err, "no server given: exit 2")
    rc, out, _ = run(["help"])
    check(rc == 0 and "Exit status:" in out, "help without a COMMAND: the help, no server needed")
    # getopt_long: short options in a cluster, a value given to an option that takes none,
    # unique abbreviations of long options
    rc, _, err = run(["--compact", "-vx", "demo"])
    check(rc == 2 and err.startswith("qmpctl: unknown option '-x'\n"), "an unknown short option in a cluster", err)
    rc, _, err = run(["--json=1", "schema"])
    check(rc == 2 and err.startswith("qmpctl: option '--json' takes no value\n"), "a value for --json", err)
    rc, _, err = run(["--tcp"])
    check(rc == 2 and err.startswith("qmpctl: option '--tcp' needs a value\n"), "--tcp without a value", err)
    rc, out, _ = run(["--vers"])
    check(rc == 0 and out.startswith("qmpctl "), "--vers abbreviates --version")
    # Connection errors say where, and name no function of the library.
    sock = os.path.join(tmp, "none.sock")
    rc, _, err = run(["-s", sock, "--timeout", "0.2", "exec", "x"])
    check(rc == 3 and err == "qmpctl: timed out connecting to %s: No such file or directory\n" % sock,
          "missing socket: exit 3", err)
    rc, _, err = run(["--tcp", "127.0.0.1:1", "exec", "x"])
    check(rc == 3 and err == "qmpctl: cannot connect to 127.0.0.1:1: Connection refused\n", "refused TCP: exit 3",
          err)


def case_manpage(tmp):
    """The man page names every option, command, variable and exit code of --help, and no others."""
    _, help_text, _ = run(["--help"])
    man = read_file(MANPAGE)
    man_text = man.replace("\\-", "-").replace("\\fB", "").replace("\\fI", "").replace("\\fR", "")
    help_opts = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", help_text))
    man_opts = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", man_text))
    check(help_opts == man_opts, "options differ", "help only: %s" % (help_opts - man_opts),
          "man only: %s" % (man_opts - help_opts))
    for short in re.findall(r"^\s+(-[a-zA-Z]),", help_text, re.M):
        check(short in man_text, "man page lacks " + short)
    for cmd in ("exec", "hmp", "events", "wait", "demo", "shell", "job watch", "migrate watch", "schema",
                "help", "record", "run", "cat", "copy-in", "copy-out"):
        check(re.search(r"^\.SS %s\b" % cmd, man_text, re.M), "man page lacks a section for " + cmd)
    for var in re.findall(r"\b([A-Z][A-Z_]{3,})\b", help_text.split("Environment:")[1].split("\n\n")[0]):
        check(re.search(r"^\.B %s$" % var, man_text, re.M), "man page lacks " + var)
    help_codes = re.findall(r"^  (\d)  ", help_text, re.M)
    man_codes = re.findall(r"^\.IP (\d)$", man_text.split(".SH EXIT STATUS")[1].split(".SH")[0], re.M)
    check(help_codes == man_codes and help_codes == ["0", "1", "2", "3", "4", "5", "6"], "exit codes",
          help_codes, man_codes)


# --- cases against a QEMU of the test's own ---------------------------------------

def case_exec(tmp, q):
    env = {"QMP_SOCKET": q.a}
    rc, out, _ = run(["exec", "query-status"], env)
    check(rc == 0 and json.loads(out)["status"] == "running", "query-status")
    check(out.count("\n") == 1, "not a terminal: compact, one line")
    rc, out, _ = run(["--color=always", "exec", "query-status"], env)
    check(rc == 0 and "\033[" in out, "--color=always")
    # key=value: JSON where it parses (the size), a string otherwise (the names).
    rc, _, _ = run(["exec", "blockdev-add", "driver=null-co", "node-name=n1", "size=1048576"], env)
    check(rc == 0, "blockdev-add with key=value")
    # nested keys: file.driver=... builds {"file": {"driver": ...}}
    rc, _, _ = run(["exec", "blockdev-add", "driver=raw", "node-name=r1", "file.driver=null-co",
                    "file.size=4096", "file.node-name=r1-file"], env)
    check(rc == 0, "blockdev-add with nested keys")
    rc, _, _ = run(["exec", "--args", '{"driver": "null-co", "node-name": "n2"}', "blockdev-add"], env)
    check(rc == 0, "blockdev-add with --args")
    rc, out, _ = run(["--compact", "exec", "query-named-block-nodes", "flat=true"], env)
    nodes = {n["node-name"]: n for n in json.loads(out)}
    check(nodes["n1"]["image"]["virtual-size"] == 1048576, "size=1048576 became a number")
    check(nodes["r1"]["drv"] == "raw" and nodes["r1-file"]["image"]["virtual-size"] == 4096,
          "nested keys built the node")
    check("n2" in nodes, "--args built the node")
    rc, _, _ = run(["exec", "object-add", "qom-type=secret", "id=s1", "data=abc"], env)
    check(rc == 0, "object-add")
    rc, out, _ = run(["exec", "qom-get", "path=/objects/s1", "property=data"], env)
    check(rc == 0 and json.loads(out) == "abc", "a value that is not JSON is a string")
    rc, out, err = run(["exec", "no-such-command"], env)
    check(rc == 1 and out == "" and
          err.startswith("CommandNotFound: The command no-such-command has not been found"),
          "a QMP error: Class: desc on stderr, exit 1")
    rc, _, err = run(["exec", "blockdev-del", "node-name=nope"], env)
    check(rc == 1 and err.startswith("GenericError: "), "GenericError, exit 1")
    # --args that is not JSON: the parser's words, no function name
    rc, out, err = run(["exec", "blockdev-add", "--args", '{"driver":'], env)
    check(rc == 2 and out == "" and err == "qmpctl: --args: malformed JSON: unexpected end of input at byte 10\n",
          "--args with malformed JSON", err)
    rc, out, err = run(["exec", "blockdev-add", "--args", '["null-co"]'], env)
    check(rc == 2 and err == "qmpctl: --args: not a JSON object: [\"null-co\"]\n", "--args with an array", err)
    rc, _, err = run(["exec", "x", "a=1", "a.b=2"], env)
    check(rc == 2, "conflicting keys: exit 2")
    rc, _, err = run(["exec", "x", "novalue"], env)
    check(rc == 2, "a word without '=': exit 2")


def case_hmp(tmp, q):
    rc, out, _ = run(["-s", q.a, "hmp", "info status"])
    check(rc == 0 and "VM status: running" in out, "hmp 'info status'")
    rc, out, _ = run(["-s", q.a, "hmp", "info", "version"])
    check(rc == 0 and re.match(r"\d+\.\d+\.\d+", out), "hmp info version (words joined)")


def started(proc_err_path, text):
    return lambda: text in read_file(proc_err_path)


def case_events(tmp, q):
    err_path = os.path.join(tmp, "events.err")
    with open(err_path, "w") as err:
        p = spawn(["-v", "-s", q.a, "events", "--count", "2", "--timeout", "60"],
                  stdout=subprocess.PIPE, stderr=err)
        wait_for(started(err_path, "listening"), "events to listen")
        q.poke("exec", "stop")
        q.poke("exec", "cont")
        out, _ = p.communicate(timeout=30 * SLOW)
    print(out, read_file(err_path))
    check(p.returncode == 0, "events --count 2: exit 0")
    lines = out.splitlines()
    check([json.loads(l)["event"] for l in lines] == ["STOP", "RESUME"], "two events, one per line", out)

    with open(err_path, "w") as err:
        p = spawn(["-v", "-s", q.a, "events", "--name", "RESUME", "--count", "1"],
                  stdout=subprocess.PIPE, stderr=err)
        wait_for(started(err_path, "listening"), "events to listen")
        q.poke("exec", "stop")
        q.poke("exec", "cont")
        out, _ = p.communicate(timeout=30 * SLOW)
    check(p.returncode == 0 and [json.loads(l)["event"] for l in out.splitlines()] == ["RESUME"],
          "--name RESUME", out)

    rc, out, _ = run(["-s", q.a, "events", "--timeout", "0.3"])
    check(rc == 0 and out == "", "events --timeout without --count: exit 0")
    rc, _, err = run(["-s", q.a, "events", "--count", "1", "--timeout", "0.3"])
    check(rc == 4 and "timeout" in err, "events --count 1 --timeout: exit 4")


def case_wait(tmp, q):
    err_path = os.path.join(tmp, "wait.err")
    with open(err_path, "w") as err:
        p = spawn(["-v", "-s", q.a, "wait", "STOP", "--timeout", "60"], stdout=subprocess.PIPE, stderr=err)
        wait_for(started(err_path, "waiting for STOP"), "wait to wait")
        q.poke("exec", "stop")
        out, _ = p.communicate(timeout=30 * SLOW)
    check(p.returncode == 0 and json.loads(out)["event"] == "STOP", "wait STOP", out, read_file(err_path))
    q.poke("exec", "cont")

    # Matching data members: only the job's "concluded" status change ends the wait.
    img = os.path.join(tmp, "w.img")
    with open(err_path, "w") as err:
        p = spawn(["-v", "-s", q.a, "wait", "JOB_STATUS_CHANGE", "id=w1", "status=concluded"],
                  stdout=subprocess.PIPE, stderr=err)
        wait_for(started(err_path, "waiting for"), "wait to wait")
        q.poke("exec", "blockdev-create", "job-id=w1", "options.driver=file",
               "options.filename=" + img, "options.size=1048576")
        out, _ = p.communicate(timeout=30 * SLOW)
    ev = json.loads(out)
    check(p.returncode == 0 and ev["data"] == {"id": "w1", "status": "concluded"}, "wait with a match", out)

    rc, _, err = run(["-s", q.a, "wait", "RESET", "--timeout", "0.3"])
    check(rc == 4 and "timeout" in err, "wait timeout: exit 4")


def case_job_watch(tmp, q):
    env = {"QMP_SOCKET": q.a}
    img = os.path.join(tmp, "disk.img")
    q.poke("exec", "blockdev-create", "job-id=j1", "options.driver=file", "options.filename=" + img,
           "options.size=%d" % (64 << 20), "options.preallocation=full")
    rc, out, _ = run(["job", "watch", "j1", "--interval", "0.05"], env)
    check(rc == 0 and out.splitlines()[-1] == "job j1: concluded", "job watch j1: concluded", out)
    rc, out, _ = run(["job", "watch"], env)
    check(rc == 0 and "job j1: concluded" in out, "job watch (the only job)")
    q.poke("exec", "job-dismiss", "id=j1")

    bad = os.path.join(tmp, "no-such-dir", "disk.img")
    q.poke("exec", "blockdev-create", "job-id=j2", "options.driver=file", "options.filename=" + bad,
           "options.size=1048576")
    rc, out, _ = run(["job", "watch", "j2"], env)
    check(rc == 5 and "job j2: concluded, failed: " in out, "a failed job: exit 5", out)
    q.poke("exec", "job-dismiss", "id=j2")

    # Block jobs are dismissed by QEMU as soon as they end (auto-dismiss): their events say how they ended.
    q.poke("exec", "blockdev-add", "driver=null-co", "node-name=src", "size=%d" % (64 << 20))
    q.poke("exec", "blockdev-add", "driver=null-co", "node-name=dst", "size=%d" % (64 << 20))
    # Rate-limited so that it is still running when the watcher (maybe under valgrind) starts.
    q.poke("exec", "blockdev-backup", "job-id=b1", "device=src", "target=dst", "sync=full",
           "speed=%d" % ((32 << 20) // SLOW))
    rc, out, _ = run(["job", "watch", "b1", "--interval", "0.05"], env)
    lines = out.splitlines()
    check(rc == 0 and lines[-1] == "job b1: completed (then dismissed)", "an auto-dismissed job that completed", out)
    check(re.search(r"^job b1 \(backup\) \[[#.]+\] +\d+\.\d%  \d+\.\d MiB / 64\.0 MiB", out, re.M),
          "progress in IEC units, with plain spaces", out)
    q.poke("exec", "blockdev-backup", "job-id=b2", "device=src", "target=dst", "sync=full",
           "speed=%d" % ((4 << 20) // SLOW))
    err_path = os.path.join(tmp, "watch.err")
    with open(err_path, "w") as err:
        p = spawn(["job", "watch", "b2", "--interval", "0.05"], env, stdout=subprocess.PIPE, stderr=err)
        first = p.stdout.readline()          # the watcher has seen the job running
        q.poke("exec", "block-job-cancel", "device=b2")
        out, _ = p.communicate(timeout=30 * SLOW)
        out = first + out
    check(p.returncode == 5 and out.splitlines()[-1] == "job b2: cancelled (then dismissed)",
          "an auto-dismissed job that was cancelled: exit 5", out, read_file(err_path))

    rc, _, err = run(["job", "watch", "nope"], env)
    check(rc == 5 and "no job 'nope'" in err, "no such job: exit 5")
    rc, _, err = run(["job", "watch"], env)
    check(rc == 5 and "no job" in err, "no job at all: exit 5")


def case_migrate_watch(tmp, q):
    env = {"QMP_SOCKET": q.a}
    rc, _, err = run(["migrate", "watch"], env)
    check(rc == 5 and "no migration" in err, "no migration: exit 5")
    # A port nobody listens on: the migration fails after it started.
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    q.poke("exec", "migrate", "uri=tcp:127.0.0.1:%d" % port)
    rc, out, _ = run(["migrate", "watch", "--timeout", "30"], env)
    check(rc == 5 and "migration: failed" in out, "a failed migration: exit 5", out)
    q.poke("exec", "migrate", "uri=exec:cat > /dev/null")
    rc, out, _ = run(["migrate", "watch", "--timeout", "30"], env)
    check(rc == 0 and out.splitlines()[-1].startswith("migration: completed"), "migrate watch: completed", out)


def case_shell_batch(tmp, q):
    rc, out, err = run(["-s", q.a, "shell"], stdin="query-status\nhmp info status\n"
                       "no-such-command\n{\"execute\": \"query-name\"}\n/hmp\ninfo version\n")
    lines = out.splitlines()
    check(json.loads(lines[0])["status"] == "running" and lines[1] == "VM status: running",
          "commands from stdin", out)
    check("CommandNotFound: " in err and rc == 1, "a failed command is reported, exit 1", err)
    check(json.loads(lines[2]) == {} and re.match(r"\d+\.", lines[3]), "JSON line and /hmp mode", out)

    # Words as /bin/sh splits them; a JSON line is not split (an apostrophe in it is no quote).
    rc, out, err = run(["-s", q.a, "shell"], stdin="human-monitor-command 'command-line=info status'\n"
                       "human-monitor-command command-line=\"info status\"\n"
                       "human-monitor-command command-line=info\\ status\n"
                       "{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"/it's\"}}\n"
                       "human-monitor-command 'command-line=info status\n")
    lines = out.splitlines()
    check([json.loads(l) for l in lines] == ["VM status: running\r\n"] * 3, "quoted and escaped words", out)
    check("DeviceNotFound: " in err and "/it's" in err, "the JSON line reached QEMU", err)
    check(rc == 2 and "quote" in err.splitlines()[-1], "an unterminated quote: exit 2", err)
    # A line in HMP mode is HMP's as typed: an apostrophe in it is no quote.
    rc, out, err = run(["-s", q.a, "shell"], stdin="/hmp\nqom-list /it's\n")
    check(rc == 0 and "Device '/it's' not found" in out and "quote" not in err, "an HMP line is not split", out, err)
    # The shell's help comes from its table of commands.
    rc, out, _ = run(["-s", q.a, "shell"], stdin="help\n/hmp\nhelp\n")
    check(rc == 0 and out.count("  /validate [on|off]") == 2 and out.count("  quit, exit, ^D ") == 2,
          "help, also in HMP mode", out)


class Pty:
    """qmpctl shell on a pseudo-terminal, read and written like a user would."""

    def __init__(self, args, env):
        import pty  # noqa: F401 (os.openpty is what is used; pty documents the intent)
        self.master, slave = os.openpty()
        self.proc = spawn(args, env=dict(env, TERM="xterm"), stdin=slave, stdout=slave, stderr=slave,
                          start_new_session=True)
        os.close(slave)
        self.buf = b""

    def expect(self, pattern, timeout=10):
        """Reads until pattern (bytes regex) appears in what came since the last expect."""
        end = time.time() + timeout * SLOW
        while True:
            m = re.search(pattern, self.buf, re.S)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = end - time.time()
            check(left > 0, "the terminal never showed %r" % pattern, repr(self.buf))
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    data = b""
                check(data, "the terminal closed while waiting for %r" % pattern, repr(self.buf))
                self.buf += data

    def drain(self, quiet=0.3):
        """Forgets what the terminal shows until it has been quiet for a while."""
        while select.select([self.master], [], [], quiet * SLOW)[0]:
            try:
                if not os.read(self.master, 65536):
                    break
            except OSError:
                break
        self.buf = b""

    def send(self, data):
        os.write(self.master, data)

    def close(self):
        rc = self.proc.wait(timeout=30 * SLOW)
        os.close(self.master)
        return rc


def case_shell(tmp, q):
    state = os.path.join(tmp, "state")
    os.mkdir(state)
    env = {"XDG_STATE_HOME": state, "QMP_SOCKET": q.a}
    t = Pty(["shell"], env)
    t.expect(rb"qmp> ")
    t.send(b"query-vers\t")                   # tab completes the command name
    t.expect(rb"ion ")
    t.send(b"\r")
    t.expect(rb'"major".*?qmp> ')
    t.send(b"query-stat\t\t")                 # ambiguous: the second tab lists the candidates
    t.expect(rb"query-stats-schemas.*?query-status.*?qmp> query-stat")
    t.send(b"\x15")                           # ^U: clear the line
    t.send(b"query-status\r")
    t.expect(rb'"running".*?qmp> ')
    t.send(b"\x1b[A")                         # up-arrow: the last command again
    t.expect(rb"query-status")
    t.send(b"\r")
    t.expect(rb'"running".*?qmp> ')
    t.send(b"query-")                         # half a line, then an event arrives
    t.expect(rb"query-")
    q.poke("exec", "stop")
    t.expect(rb'\r\x1b\[K[^\n]*"STOP"[^\n]*\r\n')
    t.expect(rb"qmp> query-")                 # the prompt and the half line, drawn again
    t.send(b"\x15no-such-command\r")
    t.expect(rb"CommandNotFound: The command no-such-command has not been found.*?qmp> ")
    t.send(b"/hmp\r")
    t.expect(rb"hmp> ")
    t.send(b"info status\r")
    t.expect(rb"VM status: paused.*?hmp> ")
    t.send(b"/qmp\r")
    t.expect(rb"qmp> ")
    t.send(b"quit\r")
    check(t.close() == 0, "quit: exit 0")
    hist = read_file(os.path.join(state, "qmpctl_history"))
    check("query-status" in hist and "info\\040status" in hist, "history saved", hist)

    # The history is there in the next session.
    t = Pty(["shell"], env)
    t.expect(rb"qmp> ")
    t.send(b"\x1b[A")
    t.expect(rb"quit")
    t.send(b"\r")
    check(t.close() == 0, "quit from history: exit 0")

    # ^D on an empty line leaves too.
    t = Pty(["shell"], env)
    t.expect(rb"qmp> ")
    t.send(b"\x04")
    check(t.close() == 0, "^D: exit 0")


def case_busy(tmp, q):
    """QEMU serves one client per monitor: the second one is told why no greeting comes."""
    err_path = os.path.join(tmp, "first.err")
    with open(err_path, "w") as err:
        first = spawn(["-v", "-s", q.a, "events"], stdout=subprocess.DEVNULL, stderr=err)
        wait_for(started(err_path, "listening"), "the first client to listen")
    try:
        rc, out, err = run(["-s", q.a, "--timeout", "1", "exec", "query-status"])
        check(rc == 3 and out == "" and
              err == "qmpctl: timed out waiting for the QMP greeting from %s (the monitor may be in use by "
              "another client: QEMU serves one client per monitor)\n" % q.a, "a busy monitor: exit 3", err)
    finally:
        first.terminate()
        first.wait(timeout=30 * SLOW)
    rc, out, _ = run(["-s", q.a, "--timeout", "10", "exec", "query-status"])
    check(rc == 0 and json.loads(out)["status"] == "running", "the monitor serves the next client")


# --- the schema: schema, help, --validate, the shell's completion ------------------------

def case_schema(tmp, q):
    env = {"QMP_SOCKET": q.a}
    rc, out, _ = run(["schema"], env)
    lines = out.splitlines()
    check(rc == 0 and lines[0].startswith("Commands (") and "  blockdev-add" in lines, "schema: the commands", out)
    events = lines.index([l for l in lines if l.startswith("Events (")][0])
    check("  SHUTDOWN" in lines[events:] and "  blockdev-add" not in lines[events:], "schema: the events")
    check("  drive-backup [deprecated]" in lines and "  x-query-jit [unstable]" in lines,
          "schema: deprecated and unstable marked")

    rc, out, _ = run(["schema", "blockdev-add"], env)
    lines = out.splitlines()
    check(rc == 0 and lines[0] == "blockdev-add (command)" and lines[1] == "  arguments:", "schema NAME: heading", out)
    check(re.search(r"^    driver +enum: blkdebug, blklogwrites, .*\bfile,", out, re.M | re.S),
          "the driver enum and its values")
    check(re.search(r"^    node-name +str \(optional\)$", out, re.M), "an optional member")
    check(re.search(r"^      direct +bool \(optional\)$", out, re.M), "a nested object's members, indented")
    branch = re.search(r"^    when driver = file, host_cdrom, host_device: \[dynamic-auto-read-only\]\n((?:      .*\n)+)",
                       out, re.M)
    check(branch, "the file branch, with its type's feature")
    check(re.search(r"^      filename +str$", branch.group(1), re.M) and
          re.search(r"^      aio +enum: threads, native, io_uring \(optional\)$", branch.group(1), re.M),
          "the file branch's filename and aio with its values", branch.group(1))
    check(re.search(r"^      x-check-cache-dropped +bool \(optional\) \[unstable\]$", branch.group(1), re.M),
          "an unstable member")
    check(re.search(r"^      file +object \(recursive\)\|str$", out, re.M), "the recursion is cut")
    check(lines[-1] == "  returns: nothing", "returns nothing")
    rc, out, _ = run(["schema", "query-status"], env)
    check(rc == 0 and "  arguments: none" in out and "  returns: object" in out and
          re.search(r"^    status +enum: debug, ", out, re.M), "a command's return type", out)
    rc, out, _ = run(["schema", "MEM_UNPLUG_ERROR"], env)
    check(rc == 0 and out.startswith("MEM_UNPLUG_ERROR (event) [deprecated]\n  data:\n"), "an event", out)
    rc, out, _ = run(["schema", "str"], env)
    check(rc == 0 and out == "str (built-in type)\n", "a built-in type")

    rc, out, _ = run(["schema", "--json", "blockdev-add"], env)
    d = json.loads(out)
    check(rc == 0 and d["name"] == "blockdev-add" and d["meta-type"] == "command" and
          d["arguments"]["tag"] == "driver" and "file" in d["arguments"]["variants"], "schema --json NAME")
    check(out.count("\n") > 100, "--json is indented")
    rc, out, _ = run(["--compact", "schema", "--json"], env)
    d = json.loads(out)
    check(rc == 0 and "blockdev-add" in d["commands"] and "SHUTDOWN" in d["events"] and out.count("\n") == 1,
          "schema --json --compact: the lists on one line")

    rc, out, _ = run(["schema", "blockdev-add/arg-type/+file/aio/^io_uring"], env)
    check(rc == 0 and out == "true\n", "a true query: exit 0")
    rc, out, _ = run(["schema", "blockdev-add/arg-type/+file/aio/^io_urin"], env)
    check(rc == 1 and out == "false\n", "a false query: exit 1")
    rc, out, _ = run(["schema", "x-debug-query-block-graph/$unstable"], env)
    check(rc == 0 and out == "true\n", "a feature query")
    rc, out, err = run(["schema", "blockdev-add//aio"], env)
    check(rc == 2 and out == "" and "qmpctl: schema: " in err and "empty component" in err,
          "a malformed query: exit 2")

    rc, out, err = run(["schema", "blockdev-ad"], env)
    check(rc == 6 and out == "" and err == "qmpctl: 'blockdev-ad' is not a command, event or type of this "
          "server (did you mean 'blockdev-add'?)\n", "an unknown name: did you mean, exit 6", err)
    # one swap from query-status, one deletion from query-stats: the library's suggestion
    rc, out, err = run(["schema", "query-stauts"], env)
    check(rc == 6 and err == "qmpctl: 'query-stauts' is not a command, event or type of this "
          "server (did you mean 'query-status'?)\n", "a swapped pair of letters", err)
    rc, _, err = run(["help", "SHUTDWON"], env)
    check(rc == 6 and "(did you mean 'SHUTDOWN'?)" in err, "an event's name", err)
    rc, _, err = run(["schema", "no-such-thing-at-all"], env)
    check(rc == 6 and "did you mean" not in err and "'no-such-thing-at-all' is not" in err, "nothing close")


def case_help(tmp, q):
    env = {"QMP_SOCKET": q.a}
    rc, out, _ = run(["help", "blockdev-add"], env)
    lines = out.splitlines()
    check(rc == 0 and lines[0] == "blockdev-add [KEY=VALUE...]", "help COMMAND: heading", out)
    check(re.search(r"^  driver +enum: blkdebug, ", out, re.M) and
          re.search(r"^  cache +object \(optional\)$", out, re.M), "the arguments, one level")
    check(not re.search(r"^ +direct ", out, re.M), "objects are not expanded")
    branch = re.search(r"^  when driver = file, host_cdrom, host_device:\n((?:    .*\n)+)", out, re.M)
    check(branch and re.search(r"^    aio +enum: threads, native, io_uring \(optional\)$", branch.group(1), re.M),
          "the file branch with aio's values")
    rc, out, _ = run(["help", "drive-backup"], env)
    check(rc == 0 and out.startswith("drive-backup [KEY=VALUE...] [deprecated]\n"), "a deprecated command", out)
    rc, out, _ = run(["help", "query-status"], env)
    check(rc == 0 and out == "query-status [KEY=VALUE...]\n  no arguments\n", "no arguments", out)
    rc, _, err = run(["help", "qeury-status"], env)
    check(rc == 6 and "did you mean 'query-status'?" in err, "an unknown command: exit 6", err)


def sent(err, command):
    """The commands LIBQMP_DEBUG=1 traced as sent ("->") with this name."""
    return [l for l in err.splitlines() if re.search(r' -> \{.*"execute": ?"%s"' % re.escape(command), l)]


def case_validate(tmp, q):
    env = {"QMP_SOCKET": q.a, "LIBQMP_DEBUG": "1"}
    img = os.path.join(tmp, "v.img")
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    # A mistake: the library's message, exit 6, and nothing sent.
    rc, out, err = run(["exec", "--validate", "blockdev-add", "driver=raw", "node-name=v1", "file.driver=file",
                        "file.filename=" + img, "file.aio=io_urin"], env)
    check(rc == 6 and out == "", "a refused command: exit 6")
    check("qmpctl: blockdev-add: arguments.file.aio: 'io_urin' is not one of threads, native, io_uring\n" in err,
          "the library's message", err[-2000:])
    check(sent(err, "query-qmp-schema") and not sent(err, "blockdev-add"),
          "the schema was fetched, blockdev-add never sent", [l[:200] for l in err.splitlines() if " -> " in l])
    rc, _, err = run(["exec", "--validate", "blockdev-add", "driver=null-co", "node-nam=v1"], env)
    check(rc == 6 and "unknown member 'node-nam' (did you mean 'node-name'?)" in err and
          not sent(err, "blockdev-add"), "an unknown member")
    rc, _, err = run(["exec", "--validate", "qeury-status"], env)
    check(rc == 6 and "query-status" in err and not sent(err, "qeury-status"), "an unknown command", err[-500:])

    # A good command goes through (and is traced as sent).
    rc, out, err = run(["exec", "--validate", "blockdev-add", "driver=raw", "node-name=v1", "file.driver=file",
                        "file.filename=" + img, "file.aio=threads"], env)
    check(rc == 0 and json.loads(out) == {} and len(sent(err, "blockdev-add")) == 1 and "warning" not in err,
          "a valid command is sent", err[-1000:])
    nodes = [n["node-name"] for n in json.loads(q.poke("--compact", "exec", "query-named-block-nodes"))]
    check("v1" in nodes, "and it worked", nodes)

    # Deprecated: sent with a warning; refused with --deny-deprecated (the export then is not made).
    q.poke("exec", "nbd-server-start", "addr.type=unix", "addr.data.path=" + os.path.join(tmp, "nbd.sock"))
    q.poke("exec", "blockdev-add", "driver=null-co", "node-name=e1")
    q.poke("exec", "blockdev-add", "driver=null-co", "node-name=e2")
    env = {"QMP_SOCKET": q.a}
    rc, out, err = run(["exec", "--validate", "nbd-server-add", "device=e1"], env)
    check(rc == 0 and err == "qmpctl: warning: nbd-server-add: command 'nbd-server-add' is deprecated\n",
          "a deprecated command: a warning", err)
    rc, out, err = run(["exec", "--deny-deprecated", "nbd-server-add", "device=e2"], env)
    check(rc == 6 and "qmpctl: nbd-server-add: command 'nbd-server-add' is deprecated" in err,
          "--deny-deprecated: refused, exit 6", err)
    exports = [e["id"] for e in json.loads(q.poke("--compact", "exec", "query-block-exports"))]
    check(exports == ["e1"], "the refused command did not reach QEMU", exports)
    rc, _, err = run(["exec", "--deny-unstable", "x-query-jit"], env)
    check(rc == 6 and "is unstable" in err, "--deny-unstable", err)
    rc, out, err = run(["exec", "--validate", "x-query-jit"], env)
    check(rc == 0 and "human-readable-text" in out and
          err == "qmpctl: warning: x-query-jit: command 'x-query-jit' is unstable\n", "unstable: a warning", err)
    # Without --validate nothing is checked: QEMU answers.
    rc, _, err = run(["exec", "blockdev-add", "driver=null-co", "node-nam=v2"], env)
    check(rc == 1 and err.startswith("GenericError: "), "without --validate, QEMU answers", err)

    # The shell: /validate on and off.
    rc, out, err = run(["shell"], env, stdin="/validate\n/validate on\n/validate\n"
                       "blockdev-add driver=null-co node-nam=v3\nquery-status\n")
    check(rc == 6 and "unknown member 'node-nam'" in err, "/validate on: refused, exit 6", err)
    check(out.splitlines()[:2] == ["validation is off", "validation is on"] and '"status"' in out,
          "/validate shows the state", out)
    rc, out, err = run(["--deny-deprecated", "shell"], env, stdin="/validate\nnbd-server-add device=e2\n"
                       "/validate off\n/validate\n")
    check(rc == 6 and "refused" in err and out.splitlines() == ["validation is on, deprecated use refused",
                                                                 "validation is off"], "--deny-deprecated shell", out)


def case_shell_complete(tmp, q):
    state = os.path.join(tmp, "state")
    os.mkdir(state)
    t = Pty(["shell"], {"XDG_STATE_HOME": state, "QMP_SOCKET": q.a})
    t.expect(rb"qmp> ")
    t.send(b"blockdev-add dri\t")            # an argument name
    t.expect(rb"ver=")
    t.send(b"fi\t")                          # an enum value
    t.expect(rb"le ")
    t.send(b"filen\t")                       # a member of the branch driver=file selects
    t.expect(rb"ame=")
    t.send(b"/tmp/x aio=io_\t")              # a value in that branch
    t.expect(rb"uring ")
    t.send(b"read-only=t\t")                 # a bool
    t.expect(rb"rue ")
    t.send(b"\x15")
    t.drain()
    t.send(b"blockdev-add \t\t")          # no driver yet: the common members only
    m = t.expect(rb".*?qmp> blockdev-add ")   # the listing, then the line again
    check(b"driver=" in m.group(0) and b"node-name=" in m.group(0) and b"filename" not in m.group(0),
          "the common members", repr(m.group(0)))
    t.send(b"\x15help blockdev-a\t")          # help completes command names
    t.expect(rb"dd ")
    t.send(b"\r")
    t.expect(rb"blockdev-add \[KEY=VALUE\.\.\.\]\r\n  driver +enum: blkdebug,.*?"
             rb"when driver = file, host_cdrom, host_device:\r\n    filename +str\r\n.*?"
             rb"    aio +enum: threads, native, io_uring \(optional\).*?qmp> ")
    t.send(b"schema SHUTDOWN\r")
    t.expect(rb"SHUTDOWN \(event\)\r\n  data:\r\n    guest +bool.*?qmp> ")
    t.send(b"/validate on\r")
    t.expect(rb"qmp> ")
    t.send(b"blockdev-add driver=null-co node-name=c1 discard=unmpa\r")
    t.expect(rb"qmpctl: blockdev-add: arguments.discard: 'unmpa' is not one of ignore, unmap.*?qmp> ")
    t.send(b"quit\r")
    check(t.close() == 0, "quit: exit 0")


# --- cases with --launch ------------------------------------------------------------

def launch_dirs(d):
    """The private directories qmpctl made in $TMPDIR (valgrind puts its own files there too)."""
    return [n for n in os.listdir(d) if n.startswith("qmpctl.")]


def launch_env(tmp):
    d = os.path.join(tmp, "launch-tmp")
    os.makedirs(d, exist_ok=True)
    return d, {"TMPDIR": d}


def case_demo(tmp):
    d, env = launch_env(tmp)
    rc, out, _ = run(["--launch"], env)
    check(rc == 0, "qmpctl --launch: exit 0")
    for text in ("== 1/5", "connected to QEMU", "== 2/5", '"status":"running"', "<- event STOP",
                 "<- event RESUME", "query-fdsets", '"opaque":"qmpctl-demo"',
                 "error class CommandNotFound", "demo: all 5 steps worked"):
        check(text in out, "the demo shows " + text)
    check(launch_dirs(d) == [], "the private directory is removed", launch_dirs(d))
    rc, out, _ = run(["--launch", "demo", "--", "-name", "demo-vm"], env)
    check(rc == 0 and "all 5 steps worked" in out, "--launch demo -- QEMU ARGS")
    rc, out, _ = run(["--launch", "exec", "query-name", "--", "-name", "demo-vm"], env)
    check(rc == 0 and json.loads(out) == {"name": "demo-vm"}, "QEMU ARGS reach QEMU")
    check(launch_dirs(d) == [], "the private directory is removed", launch_dirs(d))


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def case_launch(tmp):
    d, env = launch_env(tmp)
    rc, _, err = run(["--launch", "exec", "query-status", "--", "-no-such-option"], env)
    check(rc == 3 and "no-such-option" in err, "QEMU that fails to start: exit 3 with its output", err)
    check(launch_dirs(d) == [], "the private directory is removed", launch_dirs(d))
    rc, _, err = run(["--launch", "demo"], dict(env, QEMU_SYSTEM=os.path.join(tmp, "no-qemu")))
    check(rc == 3 and "cannot run" in err, "$QEMU_SYSTEM that does not exist: exit 3")

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        err_path = os.path.join(tmp, "launch.err")
        with open(err_path, "w") as err:
            p = spawn(["-v", "--launch", "events"], env=env, stdout=subprocess.DEVNULL, stderr=err)
            wait_for(started(err_path, "listening"), "events to listen")
        pid = int(re.search(r"\(pid (\d+)\)", read_file(err_path)).group(1))
        check(pid_alive(pid), "QEMU runs")
        p.send_signal(sig)
        rc = p.wait(timeout=30 * SLOW)
        check(rc == -sig, "qmpctl ends by the signal %d" % sig, rc, read_file(err_path))
        check(not pid_alive(pid), "QEMU is gone after signal %d" % sig)
        check(launch_dirs(d) == [], "the private directory is removed", launch_dirs(d))

    # Stopped by the reader going away (SIGPIPE): events | head -1
    p = spawn(["--launch", "events"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    wait_for(lambda: any(os.path.exists(os.path.join(d, sub, "qmp.sock")) for sub in launch_dirs(d)),
             "the socket")
    time.sleep(0.3 * SLOW)
    p.stdout.close()
    p.send_signal(signal.SIGPIPE)
    p.wait(timeout=30 * SLOW)
    check(launch_dirs(d) == [], "the private directory is removed after SIGPIPE", launch_dirs(d))


# --- record --------------------------------------------------------------------------

def peer_client(path):
    """record-peer's conversation over the socket path: [(step, status, parsed JSON)]."""
    p = subprocess.run(WRAP + [PEER, "client", path], capture_output=True, text=True, timeout=60 * SLOW)
    print("$ record-peer client -> %d" % p.returncode)
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr)
    check(p.returncode == 0, "record-peer client failed", p.stderr)
    steps = []
    for line in p.stdout.splitlines():
        name, status, text = line.split("\t", 2)
        steps.append((name, int(status), json.loads(text)))
    return steps


def check_conversation(steps):
    """What QEMU 7.2 answers record-peer's conversation (recorded or live)."""
    got = {}
    for name, status, value in steps:
        got.setdefault(name, []).append((status, value))
    names = [s[0] for s in steps]
    check(names == ["query-version", "query-status", "device_del", "stop", "STOP", "query-status", "cont",
                    "RESUME", "getfd", "closefd", "closefd-again", "add-fd", "query-fdsets"],
          "the steps", names)
    check(got["query-version"][0][0] == 0 and got["query-version"][0][1]["qemu"]["major"] == 7, "query-version",
          got["query-version"])
    check(got["query-status"][0] == (0, {"status": "running", "singlestep": False, "running": True}),
          "running at first", got["query-status"])
    check(got["device_del"][0][0] != 0 and got["device_del"][0][1]["class"] == "DeviceNotFound",
          "device_del of no device: QEMU's error", got["device_del"])
    check(got["STOP"][0][0] == 0 and got["STOP"][0][1]["event"] == "STOP", "the STOP event", got["STOP"])
    check(got["query-status"][1][0] == 0 and got["query-status"][1][1]["status"] == "paused", "paused after stop",
          got["query-status"])
    check(got["RESUME"][0][0] == 0 and got["RESUME"][0][1]["event"] == "RESUME", "the RESUME event", got["RESUME"])
    check(got["getfd"][0][0] == 0 and got["closefd"][0][0] == 0, "getfd and closefd", got["getfd"], got["closefd"])
    # The second closefd fails: QEMU did hold the fd, and the first one closed it.
    check(got["closefd-again"][0][0] != 0 and "recfd" in got["closefd-again"][0][1]["desc"],
          "closefd of a closed fd", got["closefd-again"])
    status, (set_id, qemu_fd) = got["add-fd"][0]
    check(status == 0 and set_id >= 0 and qemu_fd >= 0, "add-fd", got["add-fd"])
    fdsets = got["query-fdsets"][0][1]
    check(any(s["fdset-id"] == set_id and any(f["fd"] == qemu_fd and f.get("opaque") == "recorded" for f in s["fds"])
              for s in fdsets), "query-fdsets holds the fd added", fdsets)


def replay(tmp, replies):
    """record-peer's conversation against the test server loaded with replies; the server verifies it."""
    sock = os.path.join(tmp, "mock.sock")
    server = subprocess.Popen(WRAP + [PEER, "serve", replies, sock], stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: os.path.exists(sock) or server.poll() is not None, "the test server's socket")
        steps = peer_client(sock)
        _, err = server.communicate(timeout=60 * SLOW)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    check(server.returncode == 0, "the test server: the client went through the recording", err)
    return steps


def replies_values(text):
    """The JSON values of a .replies file (blank-line separated)."""
    return [json.loads(block) for block in re.split(r"\n\s*\n", text.strip())]


def case_record(tmp, q):
    """A program's conversation recorded through qmpctl record, then replayed: the same answers."""
    out = os.path.join(tmp, "rec.replies")
    lsock = os.path.join(tmp, "rec.sock")
    p = spawn(["-s", q.a, "record", "-o", out, "--listen", lsock], stdout=subprocess.PIPE,
              stderr=subprocess.PIPE)
    try:
        wait_for(lambda: os.path.exists(lsock) or p.poll() is not None, "the recorder's socket")
        live = peer_client(lsock)
        rout, rerr = p.communicate(timeout=30 * SLOW)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    sys.stderr.write(rerr)
    check(p.returncode == 0 and rout == "", "qmpctl record ends when the program leaves, exit 0", rerr)
    check(not os.path.exists(lsock), "the recorder's socket is removed")
    check_conversation(live)
    text = read_file(out)
    print(text)
    check(text.endswith("}\n") and "\n\n\n" not in text, "the file: values, one blank line between them")
    values = replies_values(text)
    check(values[0] == {"execute": "qmp_capabilities", "id": "libvirt-1"} and values[1] == {"return": {}, "id": "libvirt-1"},
          "the negotiation first", values[:2])
    check(not any("QMP" in v for v in values), "no greeting")
    commands = [v for v in values if "execute" in v]
    check([c["id"] for c in commands] == ["libvirt-%d" % n for n in range(1, len(commands) + 1)],
          "the ids are libvirt-N", commands)
    check([c["execute"] for c in commands] ==
          ["qmp_capabilities", "query-version", "query-status", "device_del", "stop", "query-status", "cont",
           "getfd", "closefd", "closefd", "add-fd", "query-fdsets"], "every command, in order", commands)
    check(sum(1 for v in values if "event" in v) == 2, "the STOP and RESUME events", values)
    check(re.search(r'^    "execute": "getfd",\n    "arguments": \{\n        "fdname": "recfd"\n    \}$', text, re.M),
          "pretty-printed, 4 spaces an indent")
    replayed = replay(tmp, out)
    check_conversation(replayed)
    check(replayed == live, "the same answers from the recording", live, replayed)


def case_record_replay(tmp):
    """The recording kept in the tests' data (made with qmpctl record from QEMU 7.2) replays."""
    replies = os.path.join(HERE, "..", "data", "qemu-7.2", "qmpctl-record.replies")
    check_conversation(replay(tmp, replies))


class FakeQemu:
    """A QMP server of the test's own, for what QEMU does not send: huge numbers, fds to the client."""

    BIG = ('{"return": {"big": 18446744073709551615, "neg": -9223372036854775808, "f": 1.50, "e": 1E+3, '
           '"s": "caf\\u00e9 \\"q\\" \\\\ \\/", "empty": {}, "list": [[], 1]}, "id": %s}\r\n')

    def __init__(self, path):
        import threading
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        self.errors = []
        self.thread = threading.Thread(target=self.serve)
        self.thread.start()

    def serve(self):
        try:
            conn, _ = self.listener.accept()
            conn.sendall(b'{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, '
                         b'"capabilities": []}}\r\n')
            buf = b""
            while True:
                data, fds, _, _ = socket.recv_fds(conn, 65536, 4)
                for fd in fds:
                    # An fd from the program: say hello through it.
                    os.write(fd, b"hello from the server")
                    os.close(fd)
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    cmd = json.loads(line)
                    ident = json.dumps(cmd.get("id"))
                    name = cmd.get("execute") or cmd["exec-oob"]
                    if name == "query-slow":
                        slow = ident  # answered after the out-of-band query-fast
                    elif name == "query-fast":
                        conn.sendall(b'{"return": "fast", "id": %s}\r\n' % ident.encode())
                        conn.sendall(b'{"return": "slow", "id": %s}\r\n' % slow.encode())
                    elif name == "query-big":
                        conn.sendall(b'{"event": "BIG", "data": {"n": 18446744073709551615}, '
                                     b'"timestamp": {"seconds": 1, "microseconds": 2}}\r\n')
                        r, w = os.pipe()
                        self.pipe_r = r  # before sending: the test reads it as soon as the answer arrives
                        socket.send_fds(conn, [(self.BIG % ident).encode()], [w])
                        os.close(w)
                    elif name == "query-hang":
                        pass  # never answered
                    else:
                        conn.sendall(b'{"return": {}, "id": %s}\r\n' % ident.encode())
            conn.close()
        except Exception as e:  # reported by the test
            self.errors.append(repr(e))

    def close(self):
        self.listener.close()
        self.thread.join(timeout=30)


def case_record_exact(tmp):
    """Numbers and strings exactly as sent, fds both ways, the default socket, the end on SIGTERM."""
    fake_path = os.path.join(tmp, "fake.sock")
    fake = FakeQemu(fake_path)
    out = os.path.join(tmp, "exact.replies")
    p = spawn(["-s", fake_path, "record", "-o", out], env={"TMPDIR": tmp}, stdout=subprocess.PIPE,
              stderr=subprocess.PIPE)
    try:
        path = p.stdout.readline().strip()
        check(path == os.path.join(tmp, "qmpctl-record.%d.sock" % p.pid) or (VALGRIND and path.startswith(tmp)),
              "the default socket, printed on stdout", path)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(path)
        f = c.makefile("rb")
        check(b'"QMP"' in f.readline(), "the greeting is forwarded")
        c.sendall(b'{"execute": "qmp_capabilities", "id": {"mine": [1]}}\n')
        check(f.readline() == b'{"return": {}, "id": {"mine": [1]}}\r\n', "the answer, with the program's id")
        # An fd from the program to the server: the server writes into it.
        r, w = os.pipe()
        socket.send_fds(c, [b'{"execute": "getfd", "arguments": {"fdname": "x"}, "id": 2}\n'], [w])
        os.close(w)
        check(f.readline() == b'{"return": {}, "id": 2}\r\n', "getfd answered")
        check(os.read(r, 100) == b"hello from the server", "the program's fd reached the server")
        os.close(r)
        f.close()
        # An fd from the server to the program, with the answer to query-big.
        c.sendall(b'{"execute": "query-big", "id": 3}\n')
        lines, fds = [], []
        buf = b""
        while buf.count(b"\n") < 2:
            data, got, _, _ = socket.recv_fds(c, 65536, 4)
            check(data, "the answer to query-big")
            buf += data
            fds += got
        check(buf == b'{"event": "BIG", "data": {"n": 18446744073709551615}, '
              b'"timestamp": {"seconds": 1, "microseconds": 2}}\r\n' + (FakeQemu.BIG % "3").encode(),
              "the bytes exactly as the server sent them", buf)
        check(len(fds) == 1, "the server's fd reached the program", fds)
        os.write(fds[0], b"hello back")
        os.close(fds[0])
        check(os.read(fake.pipe_r, 100) == b"hello back", "the fd the program got is the server's pipe")
        os.close(fake.pipe_r)
        check(not os.path.exists(path), "the socket is removed once the program is connected")
        # An out-of-band command answered before the one sent earlier.
        c.sendall(b'{"execute": "query-slow", "id": "s"}\n{"exec-oob": "query-fast", "id": "f"}\n')
        got = b""
        while got.count(b"\n") < 2:
            got += c.recv(65536)
        check(got == b'{"return": "fast", "id": "f"}\r\n{"return": "slow", "id": "s"}\r\n', "out of order", got)
        c.sendall(b'{"execute": "query-hang", "id": 4}\n')
        time.sleep(0.3 * SLOW)
        p.send_signal(signal.SIGTERM)
        rout, rerr = p.communicate(timeout=30 * SLOW)
        c.close()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        fake.close()
    check(not fake.errors, "the fake server", fake.errors)
    check(p.returncode == 0, "SIGTERM ends the recording, exit 0", p.returncode, rerr)
    check("query-hang" in rerr and "no response" in rerr, "the unanswered command is named", rerr)
    text = read_file(out)
    print(text)
    values = replies_values(text)
    check([v.get("execute") or v.get("exec-oob") or v.get("event") or "response" for v in values] ==
          ["qmp_capabilities", "response", "getfd", "response", "query-big", "BIG", "response",
           "query-fast", "response", "query-slow", "response"],
          "the conversation up to SIGTERM, without the unanswered command", values)
    check(values[1]["id"] == "libvirt-1" and values[6]["id"] == "libvirt-3", "responses get their command's id")
    check(values[7] == {"exec-oob": "query-fast", "id": "libvirt-5"} and values[8] == {"return": "fast", "id": "libvirt-5"}
          and values[9] == {"execute": "query-slow", "id": "libvirt-4"} and values[10] == {"return": "slow", "id": "libvirt-4"},
          "an out-of-band answer: each command with its own response", values[7:])
    for exact in ('"big": 18446744073709551615,', '"neg": -9223372036854775808,', '"f": 1.50,', '"e": 1E+3,',
                  '"s": "caf\\u00e9 \\"q\\" \\\\ \\/",', '"empty": {},', '"n": 18446744073709551615\n'):
        check(exact in text, "written exactly: " + exact, text)
    check('\n        "list": [\n            [],\n            1\n        ]\n    },\n' in text, "arrays pretty-printed", text)
    check(text.endswith("}\n"), "the file ends with its last value")


# --- cases against a real qemu-ga, always started with -b ----------------------------

def qga_blocked_rpcs():
    """The one list of commands no test qemu-ga may run: QGA_BLOCKED_RPCS in tests/agent/qga.h."""
    header = read_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "agent", "qga.h"))
    body = header.split("#define QGA_BLOCKED_RPCS", 1)[1].split("\n\n", 1)[0]
    names = "".join(re.findall(r'"([^"]*)"', body))
    check("guest-shutdown" in names.split(",") and "guest-set-time" in names.split(","),
          "QGA_BLOCKED_RPCS read from qga.h", names)
    return names


def start_qga(tmp):
    """qemu-ga -m unix-listen with a private state directory and -b (every command that changes the machine)."""
    state = os.path.join(tmp, "qga-state")
    os.mkdir(state)
    sock = os.path.join(tmp, "qga.sock")
    proc = subprocess.Popen(["qemu-ga", "-m", "unix-listen", "-p", sock, "-t", state,
                             "-f", os.path.join(tmp, "qga.pid"), "-l", os.path.join(tmp, "qga.log"),
                             "-b", qga_blocked_rpcs()])
    wait_for(lambda: os.path.exists(sock), "qemu-ga's socket")
    return proc, sock


def case_agent(tmp):
    """--agent: exec, run (exit status, output), cat, copy-in, copy-out, shell completion; errors."""
    proc, sock = start_qga(tmp)
    try:
        rc, out, _ = run(["--agent", sock, "exec", "guest-ping"])
        check(rc == 0 and json.loads(out) == {}, "exec guest-ping", rc, out)
        rc, out, err = run(["--agent", sock, "run", "--", "/bin/sh", "-c", "echo out; echo err >&2; exit 3"])
        check(rc == 3 and out == "out\n" and err == "err\n", "run: output and exit status", rc, out, err)
        rc, out, _ = run(["--agent", sock, "run", "--", "/bin/echo", "a b", "c"])
        check(rc == 0 and out == "a b c\n", "run: argv kept word by word", rc, out)
        rc, _, _ = run(["--agent", sock, "run", "--", "/bin/false"])
        check(rc == 1, "run /bin/false: exit 1", rc)
        rc, _, err = run(["--agent", sock, "run", "--", os.path.join(tmp, "no-such-program")])
        check(rc == 1 and "no-such-program" in err, "run: a missing program is the agent's error, exit 1", rc, err)
        local = os.path.join(tmp, "local.bin")
        data = bytes((i * 7) & 0xff for i in range(200000))
        with open(local, "wb") as f:
            f.write(data)
        guest = os.path.join(tmp, "guest.bin")
        rc, _, err = run(["--agent", sock, "copy-in", local, guest])
        check(rc == 0 and open(guest, "rb").read() == data, "copy-in of several chunks", rc, err)
        back = os.path.join(tmp, "back.bin")
        rc, _, err = run(["--agent", sock, "copy-out", guest, back])
        check(rc == 0 and open(back, "rb").read() == data, "copy-out", rc, err)
        with open(os.path.join(tmp, "text.txt"), "w") as f:
            f.write("some text\n")
        rc, out, _ = run(["--agent", sock, "cat", os.path.join(tmp, "text.txt")])
        check(rc == 0 and out == "some text\n", "cat", rc, out)
        rc, out, err = run(["--agent", sock, "cat", os.path.join(tmp, "missing.txt")])
        check(rc == 1 and "No such file" in err, "cat of a missing file: the agent's error, exit 1", rc, err)
        rc, out, _ = run(["--agent", sock, "shell"], stdin="guest-get-osinfo\n")
        check(rc == 0 and '"id"' in out, "shell on the agent", rc, out)
    finally:
        proc.terminate()
        proc.wait()
    # No agent answering on the socket: exit 3, the message names the guest agent.
    silent = os.path.join(tmp, "silent.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(silent)
    s.listen(1)
    rc, _, err = run(["--agent", silent, "--timeout", "0.3", "exec", "guest-ping"])
    s.close()
    check(rc == 3 and "guest agent" in err, "a silent agent: exit 3 naming the guest agent", rc, err)


CASES_NO_QEMU = {"usage": case_usage, "manpage": case_manpage, "record-exact": case_record_exact,
                 "record-replay": case_record_replay, "agent": case_agent}
CASES_QEMU = {"exec": case_exec, "hmp": case_hmp, "events": case_events, "wait": case_wait,
              "job-watch": case_job_watch, "migrate-watch": case_migrate_watch,
              "shell": case_shell, "shell-batch": case_shell_batch, "schema": case_schema,
              "help": case_help, "validate": case_validate, "shell-complete": case_shell_complete,
              "busy": case_busy, "record": case_record}
CASES_LAUNCH = {"demo": case_demo, "launch": case_launch}


def main():
    tmp = tempfile.mkdtemp(prefix="qmpctl-test.")
    q = None
    try:
        if CASE in CASES_NO_QEMU:
            CASES_NO_QEMU[CASE](tmp)
        else:
            if not shutil.which(QEMU):
                print("test-qmpctl: %s not found" % QEMU, file=sys.stderr)
                return 77 if os.environ.get("LIBQMP_QEMU_OPTIONAL") == "1" else 1
            if CASE in CASES_LAUNCH:
                CASES_LAUNCH[CASE](tmp)
            else:
                q = Qemu(tmp)
                CASES_QEMU[CASE](tmp, q)
    except Failure as e:
        print("FAIL: %s" % e, file=sys.stderr)
        return 1
    finally:
        if q:
            q.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS: %s" % CASE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
