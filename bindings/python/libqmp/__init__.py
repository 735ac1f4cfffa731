"""libqmp: a client for the QEMU Machine Protocol (QMP).

    import libqmp

    with libqmp.Client.connect_unix("/tmp/qmp.sock", timeout=5.0) as c:
        print(c.execute("query-status")["status"])
        seq = c.event_seq                      # before the command
        c.execute("stop")
        c.wait_event("STOP", after=seq, timeout=5)
        try:
            c.execute("no-such-command")
        except libqmp.CommandError as e:
            print(e.error_class, e.desc)

Schema: what this QEMU supports, asked with libvirt-style query strings, and
commands checked before they are sent (libqmp's qmp-schema.h):

    if c.schema_has("blockdev-add/arg-type/+file/aio/^io_uring"):
        aio = "io_uring"
    c.validation = libqmp.VALIDATE | libqmp.DENY_DEPRECATED
    c.execute("blockdev-add", driver="file", node_name="f0",
              filename="/tmp/disk.img", aio="io_urin")   # InvalidArgument, never sent
    c.execute("drive-backup", validate=False, ...)        # this call unchecked

    schema = libqmp.Schema.from_json(open("schema.json").read())  # offline
    warnings = schema.validate({"execute": "drive-backup", "arguments": {...}})

Values are plain dict/list/str/int as Python's json module makes them.  Every
timeout is in seconds (a float); None means the client's default
(``Client.timeout``, 30 s unless changed) and ``libqmp.FOREVER`` waits forever.

Threads: a Client may be shared by threads.  Every call that waits releases
the GIL, so other threads run meanwhile.

Events: ``c.on_event(name, fn)`` registers a handler.  Events are queued in C
as they arrive and handlers run in the Python thread that makes the next call
on the client: at the end of execute(), hmp(), wait_event() ..., or in
``c.process(timeout)``, which exists to wait for events and dispatch them.
Handlers never run inside C or in a thread of the library (it has none), run
one at a time, and may call back into the client.  An exception raised by a
handler is logged (logger "libqmp") and does not disturb the call that
dispatched it.
"""

import json
import logging
import math
import os
import threading
import builtins

from . import _libqmp as _c

__all__ = [
    "Client", "Event", "FOREVER",
    "Error", "CommandError", "TimeoutError", "ConnectionClosed", "Cancelled",
    "ProtocolError", "MessageTooBig", "HandshakeError", "NegotiationError",
    "SocketError", "InvalidArgument", "OutOfMemory", "DeadlockError",
    "command", "action", "transaction", "add_secret_member", "version",
    "Schema", "VALIDATE", "DENY_DEPRECATED", "DENY_UNSTABLE",
    "Mock", "MockMismatch",
    "connect_agent_unix", "ExecResult", "ExecError",
]

FOREVER = math.inf

_log = logging.getLogger("libqmp")

# Validation flags (qmp-schema.h's QMP_VALIDATE...): Client.validation,
# execute(validate=...), Schema.validate(flags=...).  VALIDATE checks commands
# against the server's schema before they are sent; use of something
# deprecated or unstable is then only a warning, unless DENY_DEPRECATED or
# DENY_UNSTABLE make it an error (each implies VALIDATE).
VALIDATE = _c.QMP_VALIDATE
DENY_DEPRECATED = _c.QMP_VALIDATE_DENY_DEPRECATED
DENY_UNSTABLE = _c.QMP_VALIDATE_DENY_UNSTABLE


def version():
    """The version of the C library at run time, e.g. "0.1.0"."""
    return _c.qmp_version_string()


# --- errors -------------------------------------------------------------------

class Error(Exception):
    """Every libqmp failure.  .code is the qmp_status (a negative int),
    .message the library's message."""

    def __init__(self, message, code=None, sys_errno=0):
        super().__init__(message)
        self.message = message
        self.code = code
        self.sys_errno = sys_errno


class CommandError(Error):
    """The server answered {"error": {"class": ..., "desc": ...}}."""

    def __init__(self, error_class, desc, message=None, code=None):
        super().__init__(message or "%s: %s" % (error_class, desc),
                         _c.QMP_ECOMMAND if code is None else code)
        self.error_class = error_class
        self.desc = desc


class TimeoutError(Error, builtins.TimeoutError):
    """The call did not complete in time; the client stays usable."""


class ConnectionClosed(Error):
    """Not connected, or the connection ended (QEMU went away)."""


class Cancelled(ConnectionClosed):
    """The client was closed by another thread while this call waited."""


class ProtocolError(Error):
    """The peer sent something that is not QMP."""


class MessageTooBig(ProtocolError):
    """A message exceeded the size or nesting limit."""


class HandshakeError(ProtocolError):
    """No or an invalid QMP greeting."""


class NegotiationError(HandshakeError):
    """qmp_capabilities was refused."""


class SocketError(Error, OSError):
    """A system call failed; .errno says which error."""


class InvalidArgument(Error, ValueError):
    """A bad argument, or a misuse; also a command that validation refused
    (.message names the command and the path, e.g. "blockdev-add:
    arguments.file.aio: 'io_urin' is not one of threads, native, io_uring")
    and a malformed schema query."""


class OutOfMemory(Error, MemoryError):
    pass


class DeadlockError(Error):
    """The call would wait on itself (QMP_EDEADLK; in C only
    qmp_client_set_loop_callbacks() from inside a loop callback returns it,
    which this binding never calls: see qmp-common.h)."""


_ERRORS = {
    _c.QMP_EINVAL: InvalidArgument,
    _c.QMP_ENOMEM: OutOfMemory,
    _c.QMP_EIO: SocketError,
    _c.QMP_ECLOSED: ConnectionClosed,
    _c.QMP_ETIMEDOUT: TimeoutError,
    _c.QMP_EPROTO: ProtocolError,
    _c.QMP_EHANDSHAKE: HandshakeError,
    _c.QMP_ENEGOTIATION: NegotiationError,
    _c.QMP_ETOOBIG: MessageTooBig,
    _c.QMP_ECANCELLED: Cancelled,
    _c.QMP_EDEADLK: DeadlockError,
}


def _raise(code, message, error_class, error_desc, sys_errno):
    """Raises the exception of a libqmp status (not 0)."""
    message = message or _c.qmp_strerror(code)
    if code == _c.QMP_ECOMMAND:
        raise CommandError(error_class, error_desc, message)
    cls = _ERRORS.get(code, Error)
    e = cls(message, code, sys_errno)
    if cls is SocketError and sys_errno:
        e.errno = sys_errno
        e.strerror = os.strerror(sys_errno)
    raise e


def _check(r):
    """The result r of a shim call; raises the error it carries."""
    if r is None:
        raise OutOfMemory("out of memory", _c.QMP_ENOMEM)
    if r.code != 0:
        _raise(r.code, r.message, r.error_class, r.error_desc, r.sys_errno)
    return r


def _check_call(call):
    """The value (JSON text) and event sequence number of the last call on
    a qmp_call handle (qmp-call.h); raises its error."""
    code = _c.qmp_call_status(call)
    if code != 0:
        e = _c.qmp_call_error(call)
        _raise(code, e.message, e.qmp_class, e.qmp_desc, e.sys_errno)
    return _c.qmp_call_result(call), _c.qmp_call_seq(call)


def _ms(timeout):
    """Seconds (None: the client's default, inf or < 0: forever) in libqmp's milliseconds."""
    if timeout is None:
        return 0
    if timeout < 0 or math.isinf(timeout):
        return -1
    return max(1, min(int(math.ceil(timeout * 1000)), 2**31 - 1))


def _fd_of(f):
    """A file object (anything with fileno()) or an int into a descriptor:
    another type is a TypeError, a closed file or a negative number a
    ValueError (InvalidArgument), raised before anything is sent."""
    if isinstance(f, bool) or not (isinstance(f, int) or hasattr(f, "fileno")):
        raise TypeError("expected a file object or a file descriptor, got %s" % type(f).__name__)
    fd = f if isinstance(f, int) else f.fileno()
    if not isinstance(fd, int) or fd < 0:
        raise InvalidArgument("not an open file descriptor: %r" % (f,), _c.QMP_EINVAL)
    return fd


def _flags(validate, deny_deprecated=False, deny_unstable=False):
    """True/False/flags plus the deny keywords into QMP_VALIDATE flags (0: off)."""
    if validate is None or validate is False:
        flags = 0
    elif validate is True:
        flags = VALIDATE
    elif isinstance(validate, int) and validate >= 0:
        flags = validate
    else:
        raise InvalidArgument("validate: expected True, False or VALIDATE flags, got %r" % (validate,),
                              _c.QMP_EINVAL)
    if deny_deprecated:
        flags |= DENY_DEPRECATED
    if deny_unstable:
        flags |= DENY_UNSTABLE
    return flags | VALIDATE if flags else 0


def _call_validate(validate):
    """execute()'s validate= into qmp_exec_options.validate: None the
    client's setting (0), False/0 off for this call, True or flags."""
    if validate is None:
        return 0
    flags = _flags(validate)
    return flags if flags else _c.QMP_VALIDATE_OFF


# --- building commands --------------------------------------------------------

def _arguments(args, kwargs):
    out = dict(args) if args else {}
    for k, v in kwargs.items():
        out[k.replace("_", "-")] = v
    return out


def _command_json(name, args, kwargs):
    """The JSON text of a command (name, or a whole command dict); values
    JSON cannot hold (NaN, infinities) are the caller's InvalidArgument."""
    if not isinstance(name, (str, dict)):
        raise TypeError("command: expected a name (str) or a whole command (dict), got %s" % type(name).__name__)
    if isinstance(name, dict):
        if args or kwargs:
            raise InvalidArgument("a whole command takes no other arguments", _c.QMP_EINVAL)
        cmd = name
    else:
        cmd = command(name, args, **kwargs)
    try:
        return json.dumps(cmd, allow_nan=False)
    except ValueError as e:
        raise InvalidArgument("the arguments hold a value JSON cannot carry (NaN or an infinity): %s"
                              % (e,), _c.QMP_EINVAL) from None


def command(name, args=None, **kwargs):
    """{"execute": name, "arguments": {...}}.  Keyword names have "_" turned
    into "-" (node_name= is "node-name"); for a member whose name has an
    underscore (block_set_io_throttle's bps_rd), pass a dict as args."""
    cmd = {"execute": name}
    arguments = _arguments(args, kwargs)
    if arguments:
        cmd["arguments"] = arguments
    return cmd


_command = command   # for the methods whose parameter is named command


def action(type, data=None, **kwargs):
    """One action of a transaction: {"type": type, "data": {...}}."""
    return {"type": type, "data": _arguments(data, kwargs)}


def transaction(actions, completion_mode=None):
    """The "transaction" command for a list of action() dicts; pass it to
    Client.execute().  An action without data is sent with "data": {}.  completion_mode: "individual" or "grouped"."""
    arguments = {"actions": [dict(a, data={}) if isinstance(a, dict) and a.get("data") is None else a
                             for a in actions]}
    if completion_mode is not None:
        arguments["properties"] = {"completion-mode": completion_mode}
    return {"execute": "transaction", "arguments": arguments}


def add_secret_member(name):
    """Adds a member name whose values the wire trace (LIBQMP_DEBUG=1) redacts."""
    _check(_c.qmpb_add_secret_member(name))


# --- events -------------------------------------------------------------------

class Event(dict):
    """An event as the server sent it ({"event", "data", "timestamp"}), with
    .name, .data, .timestamp (float seconds) and .seq (its sequence number
    on the client: the one event_seq counts, also for events from
    wait_event())."""

    seq = None

    @property
    def name(self):
        return self.get("event")

    @property
    def data(self):
        return self.get("data", {})

    @property
    def timestamp(self):
        ts = self.get("timestamp") or {}
        if ts.get("seconds", -1) < 0:
            return None
        return ts["seconds"] + ts.get("microseconds", 0) / 1e6


def _event(text, seq=None):
    ev = Event(json.loads(text))
    ev.seq = seq
    return ev


# --- the client -----------------------------------------------------------------

_EVENT_QUEUE = 65536      # events queued in C for the handlers before the oldest are dropped


class Client:
    """A connection to a QMP server (QEMU, qemu-storage-daemon).

    Open one with Client.connect_unix(), connect_tcp() or connect_socket();
    use it as a context manager or call close()."""

    def __init__(self, *, oob=False, event_buffer=None, max_message_size=None, validation=None,
                 default_timeout=None):
        """An unconnected client; the settings apply to its connections.
        validation: see the validation property (checked from the first command).
        default_timeout: seconds for every call that names no timeout (the
        timeout property; None: 30 s)."""
        self._b = _c.qmpb_client_new()
        if self._b is None:
            raise OutOfMemory("out of memory", _c.QMP_ENOMEM)
        self._lock = threading.Condition()
        self._busy = 0                  # shim calls in progress (close waits for them)
        self._closing = False
        self._handlers = {}             # id -> (name or None, fn)
        self._next_handler = 1
        self._dispatch_lock = threading.RLock()
        self._dispatching = threading.local()
        if oob:
            self._call(_c.qmpb_client_set_oob, 1)
        if event_buffer is not None:
            self._call(_c.qmpb_client_set_event_buffer, int(event_buffer))
        if max_message_size is not None:
            self._call(_c.qmpb_client_set_max_message_size, int(max_message_size))
        if validation:
            self.validation = validation
        if default_timeout is not None:
            self.timeout = default_timeout

    # -- opening and closing

    @classmethod
    def connect_unix(cls, path, timeout=None, **settings):
        """Connects to a Unix socket (retried until timeout while QEMU starts),
        reads the greeting and negotiates.  timeout: seconds for the connect
        (None: 30).  settings: those of Client(), such as default_timeout,
        the seconds every later call waits when it names no timeout."""
        c = cls(**settings)
        return c._open(_c.qmpb_client_connect_unix, None, os.fspath(path), _ms(timeout))

    @classmethod
    def connect_agent_unix(cls, path, timeout=None, **settings):
        """Connects to a guest agent (qemu-ga) through a Unix socket: the
        host end of its virtio-serial channel, or qemu-ga's own socket.  No
        greeting: the channel is synchronised (guest-sync-delimited).
        TimeoutError, naming the guest agent, when no agent answers within
        timeout (seconds; None: 30)."""
        c = cls(**settings)
        return c._open(_c.qmpb_client_connect_agent_unix, None, os.fspath(path), _ms(timeout))

    @classmethod
    def connect_tcp(cls, host, port, timeout=None, **settings):
        c = cls(**settings)
        return c._open(_c.qmpb_client_connect_tcp, None, host, str(port), _ms(timeout))

    @classmethod
    def connect_socket(cls, sock, timeout=None, **settings):
        """Talks QMP over a connected stream socket (a socket object or an
        fd).  The client uses a duplicate: sock stays the caller's."""
        fd = os.dup(_fd_of(sock))
        c = cls(**settings)
        return c._open(_c.qmpb_client_connect_fd, None, fd, _ms(timeout))

    def _open(self, fn, *args):
        try:
            self._call(fn, *args)
        except BaseException:
            self.close()
            raise
        return self

    def close(self):
        """Closes the connection (calls waiting in other threads raise
        Cancelled) and frees the client.  Closing twice is a no-op."""
        with self._lock:
            b = self._b
            if b is None or self._closing:
                return
            self._closing = True
        _c.qmpb_client_close(b)
        with self._lock:
            while self._busy:
                self._lock.wait()
            self._b = None
        _c.qmpb_client_free(b)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- calling the shim: keeps the client alive while a call runs

    def _enter(self):
        with self._lock:
            if self._b is None or self._closing:
                raise ConnectionClosed("the client is closed", _c.QMP_ECLOSED)
            self._busy += 1
            return self._b

    def _leave(self):
        with self._lock:
            self._busy -= 1
            if self._busy == 0 and self._closing:
                self._lock.notify_all()

    def _call(self, fn, *args):
        b = self._enter()
        try:
            return _check(fn(b, *args))
        finally:
            self._leave()

    def _on_call(self, fn, *args):
        """fn(call, *args) on a qmp_call handle (qmp-call.h) of this client:
        the value's text and the event's sequence number, or the handle's
        error raised."""
        b = self._enter()
        try:
            call = _c.qmpb_call_new(b)
            if call is None:
                raise OutOfMemory("out of memory", _c.QMP_ENOMEM)
            try:
                fn(call, *args)
                return _check_call(call)
            finally:
                _c.qmp_call_free(call)
        finally:
            self._leave()

    def _query(self, fn, *args, default=None):
        try:
            b = self._enter()
        except ConnectionClosed:
            return default
        try:
            return fn(b, *args)
        finally:
            self._leave()

    # -- state and settings

    @property
    def connected(self):
        return bool(self._query(_c.qmpb_client_is_connected, default=0))

    @property
    def greeting(self):
        """The server's greeting {"QMP": {"version": ..., "capabilities": [...]}}."""
        return json.loads(self._call(_c.qmpb_client_greeting).text)

    @property
    def version(self):
        """QEMU's version as a tuple (major, minor, micro)."""
        q = self.greeting["QMP"]["version"]["qemu"]
        return (q["major"], q["minor"], q["micro"])

    def has_capability(self, name):
        """Whether the capability (e.g. "oob") was negotiated."""
        return bool(self._query(_c.qmpb_client_has_capability, name, default=0))

    @property
    def timeout(self):
        """The default timeout of calls, in seconds (write-only in C: what was set here)."""
        return getattr(self, "_timeout", 30.0)

    @timeout.setter
    def timeout(self, seconds):
        self._call(_c.qmpb_client_set_timeout, _ms(seconds) if seconds is not None else 30000)
        self._timeout = seconds

    def fileno(self):
        """The socket's fd (-1 when not connected), e.g. for select()."""
        return self._query(_c.qmpb_client_get_fd, default=-1)

    # -- commands

    def execute(self, name, args=None, *, timeout=None, fds=(), oob=False, validate=None, **kwargs):
        """Runs a command and returns its "return" value (dict, list...).

        name is the command's name, or a whole command dict (from command()
        or transaction()).  Arguments: a dict args and/or keywords (with "_"
        as "-").  fds: file objects or ints sent with the command (they stay
        the caller's).  oob: run out of band (connect with oob=True).
        validate: check this command against the server's schema first
        (True, or VALIDATE flags such as VALIDATE | DENY_DEPRECATED), or not
        (False); None follows the client's validation setting.
        Raises CommandError with .error_class and .desc when QEMU refuses,
        InvalidArgument when validation does (the command is not sent)."""
        text = self.execute_json(_command_json(name, args, kwargs), timeout=timeout, fds=fds, oob=oob,
                                 validate=validate)
        return json.loads(text) if text is not None else None

    # -- the guest agent (connect_agent_unix()); InvalidArgument on a monitor

    @property
    def is_agent(self):
        """True while connected to a guest agent."""
        return bool(self._query(_c.qmpb_client_is_agent, default=0))

    def agent_ping(self, timeout=None):
        """True when the agent answers guest-ping within timeout (seconds;
        None: one second), False when it does not."""
        try:
            self._call(_c.qmpb_agent_ping, None, 0 if timeout is None else _ms(timeout))
        except TimeoutError:
            return False
        return True

    def agent_commands(self):
        """(names, version): the commands the agent has enabled (those
        blocked with qemu-ga -b left out) and its version string."""
        o = json.loads(self._call(_c.qmpb_agent_commands, None).text)
        return o["commands"], o["version"]

    def agent_exec(self, argv, input=None, env=None, timeout=None, check=False):
        """Runs argv (argv[0] a path in the guest) through guest-exec and
        waits until it exits; returns an ExecResult (exit code, signal,
        stdout and stderr as bytes, truncation).  input: bytes on its stdin;
        env: a list of "NAME=value" or a dict.  timeout: seconds to wait
        for the exit (None: the client's default); TimeoutError when it
        runs longer (it keeps running in the guest).  check: raise
        ExecError when it exits non-zero or is killed.  CommandError when
        the agent refuses (e.g. a missing program)."""
        argv = [os.fsdecode(a) for a in argv]
        if not argv:
            raise InvalidArgument("argv: empty (argv[0] is the program to run)", _c.QMP_EINVAL)
        if isinstance(env, dict):
            env = ["%s=%s" % kv for kv in env.items()]
        env_json = json.dumps(list(env)) if env is not None else None
        input_hex = bytes(input).hex() if input is not None else None
        o = json.loads(self._call(_c.qmpb_agent_exec, None, json.dumps(argv), env_json, input_hex, _ms(timeout)).text)
        r = ExecResult(o["pid"], o["exit_code"], o["signal"], bytes.fromhex(o["out"]),
                       bytes.fromhex(o["err"]), o["out_truncated"], o["err_truncated"])
        if check:
            r.check_returncode(argv)
        return r

    def agent_file_read(self, path, max_bytes=None):
        """The contents of a guest file as bytes (guest-file-open, -read in
        chunks, -close).  max_bytes: MessageTooBig beyond it (None: 64 MiB).
        CommandError when the agent refuses (a missing file...)."""
        return bytes.fromhex(self._call(_c.qmpb_agent_file_read, None, os.fspath(path),
                                        0 if max_bytes is None else int(max_bytes)).text)

    def agent_file_write(self, path, data):
        """Writes bytes to a guest file, creating or truncating it.
        CommandError when the agent refuses (e.g. a read-only path)."""
        self._call(_c.qmpb_agent_file_write, None, os.fspath(path), bytes(data).hex())

    def execute_json(self, command_json, *, timeout=None, fds=(), oob=False, validate=None):
        """The same with JSON text in and out: {"execute": ...} without "id";
        returns the text of the "return" value as the server sent it."""
        fds = list(fds)
        if len(fds) > _c.QMP_MAX_FDS:
            raise InvalidArgument("fds: at most %d file descriptors go with one command (libqmp's limit), "
                                  "got %d" % (_c.QMP_MAX_FDS, len(fds)), _c.QMP_EINVAL)
        fd_list = [_fd_of(f) for f in fds]
        v = _call_validate(validate)
        try:
            return self._on_call(_c.qmpb_call_execute, command_json, _ms(timeout), fd_list, 1 if oob else 0, v)[0]
        finally:
            self._dispatch_queued()

    def hmp(self, command_line):
        """Runs an HMP command line ("info status") and returns what it printed."""
        if not isinstance(command_line, str):
            raise TypeError("hmp: expected a str, got %s" % type(command_line).__name__)
        return self.execute("human-monitor-command", {"command-line": command_line}) or ""

    def getfd(self, fd, name):
        """Passes fd (a file object or an int; it stays the caller's) to QEMU as name."""
        self.execute("getfd", {"fdname": name}, fds=[_fd_of(fd)])

    def closefd(self, name):
        """Closes QEMU's copy of a named fd."""
        self.execute("closefd", {"fdname": name})

    def add_fd(self, fd, fdset_id=None, opaque=None):
        """Adds fd (it stays the caller's) to fd set fdset_id (None: a new
        set); returns {"fdset-id": N, "fd": M} (M: QEMU's number for it)."""
        args = {}
        if fdset_id is not None:
            args["fdset-id"] = int(fdset_id)
        if opaque:
            args["opaque"] = opaque
        return self.execute("add-fd", args, fds=[_fd_of(fd)])

    # -- the schema

    def schema_has(self, query):
        """Whether the server's schema has what query names (a libvirt-style
        query string, e.g. "blockdev-add/arg-type/+file/aio/^io_uring"; see
        Schema.has).  The schema is fetched once per connection (a round
        trip), then kept.  Raises InvalidArgument for a malformed query,
        ConnectionClosed when not connected."""
        try:
            r = self._call(_c.qmpb_client_schema_has, None, query)
        finally:
            self._dispatch_queued()
        return r.text == "true"

    def schema(self, timeout=None):
        """The server's schema as a Schema (fetched once per connection;
        timeout in seconds, None: the client's default).  It stays usable
        after the client is closed."""
        h = _c.qmpb_schema_new()
        if h is None:
            raise OutOfMemory("out of memory", _c.QMP_ENOMEM)
        try:
            self._call(_c.qmpb_client_get_schema, None, h, _ms(timeout))
        finally:
            self._dispatch_queued()
        return Schema._of(h)

    @property
    def validation(self):
        """The client's validation flags (0: off): when set, every command is
        checked against the server's schema before it is sent, and a mistake
        raises InvalidArgument without reaching QEMU.  Set True, False, or
        VALIDATE flags (VALIDATE | DENY_DEPRECATED | DENY_UNSTABLE); when
        connected, setting it fetches the schema."""
        return self._query(_c.qmpb_client_get_validation, default=0)

    @validation.setter
    def validation(self, flags):
        self.set_validation(flags)

    def set_validation(self, validate=True, *, deny_deprecated=False, deny_unstable=False):
        """Sets validation: set_validation(deny_deprecated=True) is
        validation = VALIDATE | DENY_DEPRECATED; set_validation(False) turns it off."""
        try:
            self._call(_c.qmpb_client_set_validation, None, _flags(validate, deny_deprecated, deny_unstable))
        finally:
            self._dispatch_queued()

    # -- events

    @property
    def event_seq(self):
        """The sequence number of the newest event received (0 before the
        first): take it before a command, then wait_event(after=seq)."""
        return self._query(_c.qmpb_client_event_seq, default=0)

    def wait_event(self, name=None, match=None, *, timeout=None, after=None):
        """Waits for an event named name (None: any) whose data contains match
        (a dict, compared recursively) and returns it (an Event).

        after: a sequence number (event_seq); events with a larger one count
        even if they arrived before this call, so nothing is lost between a
        command and the wait for its event.  None: only events from now on.
        The Event's .seq is its sequence number: pass it as after to wait
        for the next one without missing any.  Raises TimeoutError."""
        if after is None:
            after = self.event_seq
        match_json = json.dumps(match) if match else None
        try:
            text, seq = self._on_call(_c.qmpb_call_wait_event, name, match_json, int(after), _ms(timeout))
        finally:
            self._dispatch_queued()
        return _event(text, seq)

    def on_event(self, name, fn):
        """Calls fn(event) for every event named name (None: every event);
        returns an id for off_event().  See the module's doc for when fn runs."""
        if not callable(fn):
            raise InvalidArgument("fn is not callable", _c.QMP_EINVAL)
        with self._dispatch_lock:
            if not self._handlers:
                self._call(_c.qmpb_client_queue_events, _EVENT_QUEUE)
            hid = self._next_handler
            self._next_handler += 1
            self._handlers[hid] = (name, fn)
            return hid

    def off_event(self, handler_id):
        with self._dispatch_lock:
            if self._handlers.pop(handler_id, None) is None:
                raise InvalidArgument("no handler %r" % (handler_id,), _c.QMP_EINVAL)
            if not self._handlers:
                self._query(_c.qmpb_client_queue_events, 0)

    @property
    def events_dropped(self):
        """Events the handlers missed because too many were queued."""
        return self._query(_c.qmpb_client_events_dropped, default=0)

    def process(self, timeout=0):
        """Dispatches the events that have arrived to the handlers, first
        waiting up to timeout seconds for one if none has (0: do not wait).
        Returns how many were dispatched (0 at once when no handler is
        registered).  Raises ConnectionClosed when the connection is gone
        and nothing is left to dispatch."""
        if not self._handlers:
            return 0
        n = 0
        if timeout:
            try:
                r = self._call(_c.qmpb_client_next_event, None, _ms(timeout))
            except TimeoutError:
                return 0
            with self._dispatch_lock:
                n += self._run_handlers(r)
        with self._dispatch_lock:
            while True:
                r = self._call(_c.qmpb_client_poll_event)
                if r.text is None:
                    return n
                n += self._run_handlers(r)

    def _dispatch_queued(self):
        """Runs the handlers for the events queued so far, in order (not
        when already dispatching in this thread: the outer loop does it)."""
        if not self._handlers or getattr(self._dispatching, "active", False):
            return
        with self._dispatch_lock:
            while self._query(_c.qmpb_client_events_queued, default=0):
                r = self._query(_c.qmpb_client_poll_event)
                if r is None or r.code != 0 or r.text is None:
                    return
                self._run_handlers(r)

    def _run_handlers(self, r):
        """Calls the handlers for the event in r; the caller holds _dispatch_lock."""
        ev = _event(r.text, r.seq)
        targets = [fn for (name, fn) in list(self._handlers.values()) if name is None or name == ev.name]
        self._dispatching.active = True
        try:
            for fn in targets:
                try:
                    fn(ev)
                except Exception:
                    _log.exception("libqmp: exception in the handler %r of %s", fn, ev.name)
        finally:
            self._dispatching.active = False
        return 1


# --- the schema -------------------------------------------------------------------

class ExecError(Error):
    """agent_exec(..., check=True): the program exited non-zero or was
    killed; .result is its ExecResult."""

    def __init__(self, message, result):
        super().__init__(message, _c.QMP_ECOMMAND)
        self.result = result


class ExecResult:
    """What a program run by Client.agent_exec() came to: pid (in the
    guest), exit_code (-1 when a signal ended it), signal (else 0), stdout
    and stderr (bytes), stdout_truncated / stderr_truncated (the agent kept
    only their start)."""

    __slots__ = ("pid", "exit_code", "signal", "stdout", "stderr", "stdout_truncated", "stderr_truncated")

    def __init__(self, pid, exit_code, signal, stdout, stderr, stdout_truncated, stderr_truncated):
        self.pid = pid
        self.exit_code = exit_code
        self.signal = signal
        self.stdout = stdout
        self.stderr = stderr
        self.stdout_truncated = bool(stdout_truncated)
        self.stderr_truncated = bool(stderr_truncated)

    @property
    def ok(self):
        return self.exit_code == 0 and self.signal == 0

    def check_returncode(self, argv=None):
        """Raises ExecError unless the program exited with status 0."""
        if self.ok:
            return
        what = argv[0] if argv else "the program"
        if self.signal:
            raise ExecError("%s was killed by signal %d" % (what, self.signal), self)
        raise ExecError("%s exited with status %d" % (what, self.exit_code), self)

    def __repr__(self):
        return ("ExecResult(pid=%r, exit_code=%r, signal=%r, stdout=%r, stderr=%r, "
                "stdout_truncated=%r, stderr_truncated=%r)"
                % (self.pid, self.exit_code, self.signal, self.stdout, self.stderr,
                   self.stdout_truncated, self.stderr_truncated))


def connect_agent_unix(path, timeout=None, **settings):
    """Client.connect_agent_unix(): a client connected to a guest agent."""
    return Client.connect_agent_unix(path, timeout, **settings)


class Schema:
    """A QMP schema (query-qmp-schema), from Client.schema() or, offline,
    Schema.from_json(text).  Immutable and safe to share between threads;
    close() (or the end of a with block, or the garbage collector) frees it.

        schema = client.schema()
        schema.has("blockdev-add/arg-type/+file/aio/^io_uring")    # True
        schema.arguments("drive-backup")[0]   # {"name": "job-id", "type": "str", ...}
        schema.validate({"execute": "drive-backup", "arguments": {...}})
            # -> ["drive-backup: command 'drive-backup' is deprecated"]
    """

    def __init__(self):
        raise TypeError("use Client.schema() or Schema.from_json()")

    @classmethod
    def _of(cls, h):
        s = object.__new__(cls)
        s._h = h                 # the SWIG object owns the C holder: freed with it
        return s

    @classmethod
    def from_json(cls, text):
        """A schema from query-qmp-schema's return value (JSON text, str or
        bytes, or the list itself) or from a whole reply {"return": [...]}.
        Raises InvalidArgument when it is not a valid schema."""
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8")
        elif not isinstance(text, str):
            text = json.dumps(text)
        h = _c.qmpb_schema_new()
        if h is None:
            raise OutOfMemory("out of memory", _c.QMP_ENOMEM)
        _check(_c.qmpb_schema_load(h, text))
        return cls._of(h)

    def close(self):
        """Drops the schema (later calls raise InvalidArgument).  Idempotent."""
        h = self.__dict__.get("_h")
        if h is not None:
            _c.qmpb_schema_release(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _json(self, fn, *args):
        return json.loads(_check(fn(self._h, *args)).text)

    def has(self, query):
        """Whether query holds (libvirt's query strings, see qmp-schema.h):
        NAME/arg-type/member/+variant/^enum-value, *member (optional),
        !type (a built-in type), $feature; e.g.
        "blockdev-add/arg-type/+file/aio/^io_uring",
        "x-debug-query-block-graph/$unstable".  Raises InvalidArgument when
        the query is malformed."""
        return _check(_c.qmpb_schema_has(self._h, query)).text == "true"

    __contains__ = has

    def commands(self):
        """The names of the commands, sorted."""
        return self._json(_c.qmpb_schema_list, _c.QMP_SCHEMA_COMMANDS)

    def events(self):
        """The names of the events, sorted."""
        return self._json(_c.qmpb_schema_list, _c.QMP_SCHEMA_EVENTS)

    def arguments(self, name):
        """The arguments of a command or event, a list of dicts in the
        schema's order: {"name", "type" (str, int, enum, object, "[T]",
        "A|B"...), "optional"} and, where they apply, "values" (enums),
        "features", "tag" and "variant" (members of a union's branch).
        Raises InvalidArgument for an unknown name."""
        return self._json(_c.qmpb_schema_arguments, name)

    def describe(self, name):
        """A command, event or type with every type it uses resolved, as a
        dict ({"name", "meta-type": "command", "arguments", "returns", ...}
        for a command); what `qmpctl schema NAME` prints.  Raises
        InvalidArgument for an unknown name."""
        return self._json(_c.qmpb_schema_describe, name)

    def validate(self, command, args=None, *, deny_deprecated=False, deny_unstable=False, flags=None,
                 **kwargs):
        """Checks a command against the schema without sending it: command
        is a whole command dict ({"execute": ..., "arguments": ...}) or a
        name with args/keywords as for Client.execute().  Returns the list
        of warnings (use of deprecated or unstable things; empty when none);
        raises InvalidArgument with the library's message when the command
        is not valid, or uses what deny_deprecated/deny_unstable refuse.
        flags: VALIDATE flags instead of the keywords."""
        if isinstance(command, dict):
            if args or kwargs:
                raise InvalidArgument("a whole command takes no other arguments", _c.QMP_EINVAL)
            cmd = command
        else:
            cmd = _command(command, args, **kwargs)
        f = _flags(VALIDATE if flags is None else flags or VALIDATE, deny_deprecated, deny_unstable)
        return self._json(_c.qmpb_schema_validate, json.dumps(cmd), f)


# --- the test server (qmp-mock.h) ---------------------------------------------------

class MockMismatch(Error, AssertionError):
    """Mock.verify(): the conversation was not the script's.  .message names
    the first mismatch, e.g. "qmp_mock: expected command 'stop', got 'cont'"
    (an AssertionError, so unittest and pytest report it as a failure)."""


_NO_RETURN = object()


class Mock:
    """A scripted QMP server for the tests of code that speaks QMP, without
    QEMU (libqmp's qmp-mock.h).  Script what the code under test must send
    and what the server answers, connect a Client to it, run the code, and
    verify:

        with libqmp.Mock() as m:
            m.expect("device_del", {"id": "disk0"})           # answered {"return": {}}
            m.event("DEVICE_DELETED", {"device": "disk0"})
            with m.connect() as c:
                unplug_disk(c, "disk0")
        # the end of the with block verifies: MockMismatch when the code
        # sent something else (or less), then stops the server

    A command the script does not expect is answered with a GenericError that
    says what was expected, so the code under test fails where it went wrong.
    A script item that is not what it claims raises InvalidArgument at the
    call that adds it.  Timeouts are in seconds."""

    VERIFY_TIMEOUT = 5.0

    def __init__(self, *, greeting=None, schema=None, verify_timeout=VERIFY_TIMEOUT):
        """greeting: {"QMP": {...}} (see greeting()); schema: a Schema that
        checks the script and the conversation; verify_timeout: how long
        verify() (and the end of a with block) waits by default, seconds."""
        self._h = _c.qmpb_mock_new()
        if self._h is None:
            raise OutOfMemory("out of memory", _c.QMP_ENOMEM)
        self._clients = []
        self._verify_timeout = verify_timeout
        if greeting is not None:
            self.greeting(greeting)
        if schema is not None:
            self.set_schema(schema)

    def _call(self, fn, *args):
        return _check(fn(self._h, *args))

    @staticmethod
    def _text(value):
        return value if isinstance(value, str) else json.dumps(value)

    # -- the script

    def greeting(self, greeting):
        """The greeting to send ({"QMP": {...}}, a dict or JSON text); before
        the server starts.  The default is QEMU 7.2's."""
        self._call(_c.qmpb_mock_set_greeting, self._text(greeting))
        return self

    def expect(self, command, arguments=None, *, returns=_NO_RETURN, error=None, response=None):
        """The next command must be `command`, with exactly these arguments
        (a dict; None accepts any).  It is answered {"return": returns}
        ({} by default), or {"error": {"class": error[0], "desc": error[1]}}
        when error=(class, desc), or with `response` as given (a dict or JSON
        text).  Returns the Mock, so calls chain."""
        given = (returns is not _NO_RETURN) + (error is not None) + (response is not None)
        if given > 1:
            raise InvalidArgument("expect(): give one of returns, error and response", _c.QMP_EINVAL)
        if response is None:
            if error is not None:
                if isinstance(error, dict):
                    response = {"error": error}
                else:
                    error_class, desc = error
                    response = {"error": {"class": error_class, "desc": desc}}
            else:
                response = {"return": {} if returns is _NO_RETURN else returns}
        args = None if arguments is None else self._text(arguments)
        self._call(_c.qmpb_mock_expect, command, args, self._text(response))
        return self

    def event(self, event, data=None, *, timestamp=None):
        """An event, sent after the response to the expectation added before
        it: a name (with data, a dict, and timestamp {"seconds", "microseconds"})
        or a whole event (a dict or JSON text)."""
        if isinstance(event, str) and not event.lstrip().startswith("{"):
            ev = {"event": event}
            if data is not None:
                ev["data"] = data
            if timestamp is not None:
                ev["timestamp"] = timestamp
            text = json.dumps(ev)
        else:
            if data is not None or timestamp is not None:
                raise InvalidArgument("event(): a whole event takes no data or timestamp",
                                      _c.QMP_EINVAL)
            text = self._text(event)
        self._call(_c.qmpb_mock_event, text)
        return self

    def load_replies(self, path):
        """Appends a libvirt .replies recording (commands, their responses and
        the events between them; ids replaced by the client's own).  A file
        that is malformed raises InvalidArgument naming "PATH:LINE"."""
        self._call(_c.qmpb_mock_load_replies, os.fspath(path))
        return self

    def set_schema(self, schema):
        """Checks the script and the conversation against a Schema (None: no
        checking): commands received, scripted returns and events."""
        self._call(_c.qmpb_mock_set_schema, None if schema is None else schema._h)
        return self

    # -- the connection

    def socketpair(self):
        """Starts the server on a socketpair; returns the client's end, an fd
        that is the caller's (see connect())."""
        return int(self._call(_c.qmpb_mock_socketpair).text)

    def listen_unix(self, path):
        """Starts the server listening on a Unix socket at path (which must
        not exist) for one connection; close() removes it."""
        self._call(_c.qmpb_mock_listen_unix, os.fspath(path))
        return self

    def connect(self, timeout=None, **settings):
        """Starts the server on a socketpair and returns a Client connected to
        it (greeting and negotiation done); settings as for Client().  The
        client is closed with the Mock if not before."""
        c = Client(**settings)
        try:
            fd = self.socketpair()
        except BaseException:
            c.close()
            raise
        c._open(_c.qmpb_client_connect_fd, None, fd, _ms(timeout))
        self._clients.append(c)
        return c

    # -- the end

    def verify(self, timeout=None):
        """Waits up to timeout seconds (None: verify_timeout) for the script
        to be used up.  Raises
        MockMismatch naming the first mismatch: an unexpected command, wrong
        arguments, a schema violation, garbage, a client that left early, or
        expectations never reached."""
        r = _c.qmpb_mock_verify(self._h, _ms(self._verify_timeout if timeout is None else timeout))
        if r is not None and r.code == _c.QMP_EPROTO:
            raise MockMismatch(r.message, r.code)
        _check(r)

    def close(self):
        """Closes the clients from connect(), stops the server and frees it.
        Idempotent; later calls raise InvalidArgument."""
        clients, self._clients = self._clients, []
        for c in clients:
            c.close()
        h = self.__dict__.get("_h")
        if h is not None:
            _c.qmpb_mock_close(h)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.verify()
        finally:
            self.close()
