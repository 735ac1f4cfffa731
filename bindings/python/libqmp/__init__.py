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
]

FOREVER = math.inf

_log = logging.getLogger("libqmp")


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
    """A bad argument, or a misuse."""


class OutOfMemory(Error, MemoryError):
    pass


class DeadlockError(Error):
    """The call would wait on itself."""


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


def _check(r):
    """The result r of a shim call; raises the error it carries."""
    if r is None:
        raise OutOfMemory("out of memory", _c.QMP_ENOMEM)
    code = r.code
    if code == 0:
        return r
    message = r.message or _c.qmp_strerror(code)
    if code == _c.QMP_ECOMMAND:
        raise CommandError(r.error_class, r.error_desc, message)
    cls = _ERRORS.get(code, Error)
    e = cls(message, code, r.sys_errno)
    if cls is SocketError and r.sys_errno:
        e.errno = r.sys_errno
        e.strerror = os.strerror(r.sys_errno)
    raise e


def _ms(timeout):
    """Seconds (None: the client's default, inf or < 0: forever) in libqmp's milliseconds."""
    if timeout is None:
        return 0
    if timeout < 0 or math.isinf(timeout):
        return -1
    return max(1, min(int(math.ceil(timeout * 1000)), 2**31 - 1))


def _fd_of(f):
    if isinstance(f, int):
        return f
    return f.fileno()


# --- building commands --------------------------------------------------------

def _arguments(args, kwargs):
    out = dict(args) if args else {}
    for k, v in kwargs.items():
        out[k.replace("_", "-")] = v
    return out


def command(name, args=None, **kwargs):
    """{"execute": name, "arguments": {...}}.  Keyword names have "_" turned
    into "-" (node_name= is "node-name"); for a member whose name has an
    underscore (block_set_io_throttle's bps_rd), pass a dict as args."""
    cmd = {"execute": name}
    arguments = _arguments(args, kwargs)
    if arguments:
        cmd["arguments"] = arguments
    return cmd


def action(type, data=None, **kwargs):
    """One action of a transaction: {"type": type, "data": {...}}."""
    return {"type": type, "data": _arguments(data, kwargs)}


def transaction(actions, completion_mode=None):
    """The "transaction" command for a list of action() dicts; pass it to
    Client.execute().  completion_mode: "individual" or "grouped"."""
    arguments = {"actions": list(actions)}
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
    on the client; None for events from wait_event())."""

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

    def __init__(self, *, oob=False, event_buffer=None, max_message_size=None):
        """An unconnected client; the settings apply to its connections."""
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

    # -- opening and closing

    @classmethod
    def connect_unix(cls, path, timeout=None, **settings):
        """Connects to a Unix socket (retried until timeout while QEMU starts),
        reads the greeting and negotiates.  timeout: seconds (None: 30)."""
        c = cls(**settings)
        return c._open(_c.qmpb_client_connect_unix, os.fspath(path), _ms(timeout))

    @classmethod
    def connect_tcp(cls, host, port, timeout=None, **settings):
        c = cls(**settings)
        return c._open(_c.qmpb_client_connect_tcp, host, str(port), _ms(timeout))

    @classmethod
    def connect_socket(cls, sock, timeout=None, **settings):
        """Talks QMP over a connected stream socket (a socket object or an
        fd).  The client uses a duplicate: sock stays the caller's."""
        fd = os.dup(_fd_of(sock))
        c = cls(**settings)
        return c._open(_c.qmpb_client_connect_fd, fd, _ms(timeout))

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

    def execute(self, name, args=None, *, timeout=None, fds=(), oob=False, **kwargs):
        """Runs a command and returns its "return" value (dict, list...).

        name is the command's name, or a whole command dict (from command()
        or transaction()).  Arguments: a dict args and/or keywords (with "_"
        as "-").  fds: file objects or ints sent with the command (they stay
        the caller's).  oob: run out of band (connect with oob=True).
        Raises CommandError with .error_class and .desc when QEMU refuses."""
        if isinstance(name, dict):
            if args or kwargs:
                raise InvalidArgument("a whole command takes no other arguments", _c.QMP_EINVAL)
            cmd = name
        else:
            cmd = command(name, args, **kwargs)
        text = self.execute_json(json.dumps(cmd), timeout=timeout, fds=fds, oob=oob)
        return json.loads(text) if text is not None else None

    def execute_json(self, command_json, *, timeout=None, fds=(), oob=False):
        """The same with JSON text in and out: {"execute": ...} without "id";
        returns the text of the "return" value as the server sent it."""
        fd_list = ",".join(str(_fd_of(f)) for f in fds) if fds else None
        try:
            r = self._call(_c.qmpb_client_execute, command_json, _ms(timeout), fd_list, 1 if oob else 0)
        finally:
            self._dispatch_queued()
        return r.text

    def hmp(self, command_line):
        """Runs an HMP command line ("info status") and returns what it printed."""
        try:
            return self._call(_c.qmpb_client_hmp, command_line).text or ""
        finally:
            self._dispatch_queued()

    def getfd(self, fd, name):
        """Passes fd (a file object or an int; it stays the caller's) to QEMU as name."""
        try:
            self._call(_c.qmpb_client_getfd, _fd_of(fd), name)
        finally:
            self._dispatch_queued()

    def closefd(self, name):
        """Closes QEMU's copy of a named fd."""
        try:
            self._call(_c.qmpb_client_closefd, name)
        finally:
            self._dispatch_queued()

    def add_fd(self, fd, fdset_id=None, opaque=None):
        """Adds fd (it stays the caller's) to fd set fdset_id (None: a new
        set); returns {"fdset-id": N, "fd": M} (M: QEMU's number for it)."""
        try:
            r = self._call(_c.qmpb_client_add_fd, _fd_of(fd),
                           -1 if fdset_id is None else int(fdset_id), opaque)
        finally:
            self._dispatch_queued()
        return json.loads(r.text)

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
        Raises TimeoutError."""
        if after is None:
            after = self.event_seq
        match_json = json.dumps(match) if match else None
        try:
            r = self._call(_c.qmpb_client_wait_event, name, match_json, int(after), _ms(timeout))
        finally:
            self._dispatch_queued()
        return _event(r.text)

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
                r = self._call(_c.qmpb_client_next_event, _ms(timeout))
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
