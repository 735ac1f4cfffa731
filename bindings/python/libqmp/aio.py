"""libqmp.aio: a QMP client for asyncio.

    import asyncio, libqmp.aio

    async def main():
        async with await libqmp.aio.connect_unix("/tmp/qmp.sock", timeout=5) as c:
            print((await c.execute("query-status"))["status"])
            seq = c.event_seq
            await c.execute("stop")
            await c.wait_event("STOP", after=seq, timeout=5)

    asyncio.run(main())

The client runs on libqmp's asynchronous C calls: commands are queued with
qmp_client_execute_async(), and the client's socket, its wakeup fd and its
nearest deadline are watched by the running loop (loop.add_reader,
add_writer, call_later), which calls qmp_client_process() when they fire.
No thread waits for any call.  One AsyncClient belongs to the loop that
connected it.

Cancelling the task that awaits execute() cancels the command: the reply,
when it comes, is dropped, and the next call gets its own.  Timeouts are in
seconds; a call without one gets the client's default (default_timeout at
connect; None: calls wait until the reply, the connection's end or their
cancellation).  Errors are libqmp's: CommandError, TimeoutError,
ConnectionClosed...
"""

from __future__ import annotations

import asyncio
import collections
import json
import math
import os
import socket
from typing import Any, AsyncIterator, Deque, Dict, List, Optional, Tuple, Union

from . import _libqmp as _c
from . import (ConnectionClosed, Error, Event, InvalidArgument, OutOfMemory, TimeoutError,
               _call_validate, _check, _command_json, _event, _ms)

__all__ = ["AsyncClient", "connect_unix", "connect_tcp"]

_EVENT_QUEUE = 65536      # events queued in C between two rounds of the loop
_HISTORY = 1000           # events kept for wait_event(after=...)

PathLike = Union[str, "os.PathLike[str]"]


def _call_ms(timeout: Optional[float]) -> int:
    """Seconds into qmp_exec_options.timeout_ms for an async call (0: none)."""
    if timeout is None:
        return 0
    ms = _ms(timeout)
    return 0 if ms < 0 else ms


def _matches(data: Any, match: Any) -> bool:
    """data contains every member of match, recursively."""
    if isinstance(match, dict):
        if not isinstance(data, dict):
            return False
        return all(k in data and _matches(data[k], v) for k, v in match.items())
    return data == match


class AsyncClient:
    """A QMP connection driven by the running asyncio loop.  Make one with
    connect_unix() or connect_tcp(); use it with ``async with``, or close()."""

    def __init__(self, *, default_timeout: Optional[float] = None,
                 loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._a = _c.qmpb_aio_new()
        if self._a is None:
            raise OutOfMemory("out of memory", _c.QMP_ENOMEM)
        self._b = _c.qmpb_aio_client(self._a)
        self.default_timeout = default_timeout
        self._futures: Dict[int, asyncio.Future] = {}
        self._next_token = 1
        self._fd = -1
        self._watching = 0            # QMP_POLL_* added to the loop for self._fd
        self._timer: Optional[asyncio.TimerHandle] = None
        self._opened = False          # connected once
        self._gone = False            # and that connection has ended
        self._history: Deque[Event] = collections.deque(maxlen=_HISTORY)
        self._waiters: List[Tuple[Optional[str], Any, int, asyncio.Future]] = []
        self._streams: List[Tuple[Optional[str], asyncio.Queue]] = []
        self._seq = 0
        _check(_c.qmpb_client_queue_events(self._b, _EVENT_QUEUE))
        self._wakeup = _c.qmpb_aio_get_wakeup_fd(self._a)
        if self._wakeup < 0:
            raise Error("no wakeup fd for the loop", _c.QMP_EIO)
        self._loop.add_reader(self._wakeup, self._on_ready, 0)

    # -- the loop's side

    def _on_ready(self, revents: int) -> None:
        if self._a is None:
            return
        rc = _c.qmpb_aio_process(self._a, revents)
        self._drain()
        if rc == _c.QMP_ECLOSED and self._opened and not self._gone:
            # The peer hung up (or the connection failed): waits and iterators end.
            self._gone = True
            self._end_streams(ConnectionClosed("the connection is closed", _c.QMP_ECLOSED))
        self._update()

    def _on_timer(self) -> None:
        self._timer = None            # fired: nothing left to cancel
        self._on_ready(0)

    def _update(self) -> None:
        """Watches what the client asks for now: fd, events, deadline."""
        if self._a is None:
            return
        fd = _c.qmpb_aio_get_fd(self._a)
        want = _c.qmpb_aio_get_events(self._a) if fd >= 0 else 0
        if fd != self._fd:
            self._unwatch()
            self._fd = fd
        if fd >= 0:
            for bit, add, remove in ((_c.QMP_POLL_IN, self._loop.add_reader, self._loop.remove_reader),
                                     (_c.QMP_POLL_OUT, self._loop.add_writer, self._loop.remove_writer)):
                if want & bit and not self._watching & bit:
                    add(fd, self._on_ready, bit)
                    self._watching |= bit
                elif not want & bit and self._watching & bit:
                    remove(fd)
                    self._watching &= ~bit
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        ms = _c.qmpb_aio_get_timeout_ms(self._a)
        if ms >= 0:
            self._timer = self._loop.call_later(ms / 1000.0, self._on_timer)

    def _unwatch(self) -> None:
        if self._fd >= 0:
            if self._watching & _c.QMP_POLL_IN:
                self._loop.remove_reader(self._fd)
            if self._watching & _c.QMP_POLL_OUT:
                self._loop.remove_writer(self._fd)
        self._watching = 0
        self._fd = -1

    def _drain(self) -> None:
        """Hands finished calls to their futures (a cancelled call's reply is
        dropped here) and queued events to waiters and iterators."""
        while True:
            r = _c.qmpb_aio_take(self._a)
            if r is None:
                break
            fut = self._futures.pop(r.seq, None)
            if fut is None or fut.done():
                continue
            try:
                _check(r)
            except Error as e:
                fut.set_exception(e)
            else:
                fut.set_result(r.text)
        while _c.qmpb_client_events_queued(self._b):
            r = _check(_c.qmpb_client_poll_event(self._b))   # pops, reads nothing: one is queued
            if r.text is None:
                break
            ev = _event(r.text, r.seq)
            self._seq = max(self._seq, r.seq)
            self._history.append(ev)
            for w in list(self._waiters):
                name, match, after, fut = w
                if fut.done():
                    self._waiters.remove(w)
                elif ev.seq > after and (name is None or name == ev.name) and \
                        (not match or _matches(ev.data, match)):
                    self._waiters.remove(w)
                    fut.set_result(ev)
            for name, q in self._streams:
                if name is None or name == ev.name:
                    q.put_nowait(ev)

    def _end_streams(self, exc: BaseException) -> None:
        for _, _, _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(exc)
        self._waiters.clear()
        for _, q in self._streams:
            q.put_nowait(None)

    def _token(self) -> int:
        t = self._next_token
        self._next_token += 1
        return t

    async def _await(self, token: int, fut: asyncio.Future) -> Any:
        self._futures[token] = fut
        self._drain()
        self._update()
        try:
            return await fut
        finally:
            # Cancelled or not: a reply that comes later finds no future and is dropped.
            self._futures.pop(token, None)

    # -- opening and closing

    async def _connect(self, begin: Any, *args: Any) -> "AsyncClient":
        token = self._token()
        fut = self._loop.create_future()
        try:
            _check(begin(self._a, *args, token))
            await self._await(token, fut)
            self._opened = True
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        """Closes the connection: calls still waiting raise Cancelled,
        iterators over events end.  Closing twice is harmless."""
        if self._a is None:
            return
        _c.qmpb_client_close(self._b)
        self._drain()
        for fut in self._futures.values():
            if not fut.done():
                fut.set_exception(ConnectionClosed("the client is closed", _c.QMP_ECLOSED))
        self._futures.clear()
        self._end_streams(ConnectionClosed("the client is closed", _c.QMP_ECLOSED))
        self._unwatch()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._loop.remove_reader(self._wakeup)
        a, self._a, self._b = self._a, None, None
        del a                         # frees the client (and closes the wakeup fd)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def _live(self) -> None:
        if self._a is None:
            raise ConnectionClosed("the client is closed", _c.QMP_ECLOSED)

    def _open(self) -> None:
        self._live()
        if self._gone:
            raise ConnectionClosed("the connection is closed", _c.QMP_ECLOSED)

    @property
    def connected(self) -> bool:
        return self._a is not None and bool(_c.qmpb_client_is_connected(self._b))

    @property
    def greeting(self) -> Dict[str, Any]:
        """The server's greeting ({"QMP": {"version": ..., "capabilities": ...}})."""
        self._live()
        return json.loads(_check(_c.qmpb_client_greeting(self._b)).text)

    @property
    def event_seq(self) -> int:
        """The sequence number of the newest event seen (0 before the first):
        take it before a command, pass it as wait_event(after=...)."""
        self._live()
        return max(self._seq, _c.qmpb_client_event_seq(self._b))

    # -- commands

    async def execute(self, name: Union[str, Dict[str, Any]], args: Optional[Dict[str, Any]] = None, *,
                      timeout: Optional[float] = None, oob: bool = False,
                      validate: Optional[Union[bool, int]] = None, **kwargs: Any) -> Any:
        """Runs a command and returns its "return" value.  Arguments as in
        Client.execute (a dict and/or keywords, "_" sent as "-").  timeout:
        seconds (None: default_timeout).  Raises CommandError when QEMU
        refuses, TimeoutError, ConnectionClosed; cancelling the awaiting task
        drops the command's reply."""
        text = await self.execute_json(_command_json(name, args, kwargs), timeout=timeout,
                                       oob=oob, validate=validate)
        return json.loads(text) if text is not None else None

    async def execute_json(self, command_json: str, *, timeout: Optional[float] = None,
                           oob: bool = False, validate: Optional[Union[bool, int]] = None) -> Optional[str]:
        """The same with JSON text in and out."""
        self._live()
        if timeout is None:
            timeout = self.default_timeout
        token = self._token()
        fut = self._loop.create_future()
        _check(_c.qmpb_aio_execute(self._a, command_json, _call_ms(timeout), 1 if oob else 0,
                                   _call_validate(validate), token))
        return await self._await(token, fut)

    # -- events

    async def wait_event(self, name: Optional[str] = None, match: Optional[Dict[str, Any]] = None,
                         after: Optional[int] = None, timeout: Optional[float] = None) -> Event:
        """The first event named name (None: any) whose data contains match,
        with a sequence number above after (None: from now on; events already
        seen count, so take event_seq before the command).  timeout: seconds
        (None: default_timeout).  Raises TimeoutError, or ConnectionClosed
        when the connection ends first."""
        self._live()
        self._drain()
        if after is None:
            after = self.event_seq
        for ev in self._history:
            if ev.seq > after and (name is None or name == ev.name) and (not match or _matches(ev.data, match)):
                return ev
        self._open()
        if timeout is None:
            timeout = self.default_timeout
        fut = self._loop.create_future()
        w = (name, match, int(after), fut)
        self._waiters.append(w)
        try:
            if timeout is None or math.isinf(timeout) or timeout < 0:
                return await fut
            try:
                return await asyncio.wait_for(fut, timeout)
            except asyncio.TimeoutError:
                raise TimeoutError("no %s event in %g s" % (name or "", timeout), _c.QMP_ETIMEDOUT) from None
        finally:
            if w in self._waiters:
                self._waiters.remove(w)

    async def events(self, name: Optional[str] = None) -> AsyncIterator[Event]:
        """Iterates over the events (named name; None: all) that arrive from
        now on, until the connection closes:  ``async for ev in c.events():``"""
        self._live()
        if self._gone:
            return
        q: asyncio.Queue = asyncio.Queue()
        entry = (name, q)
        self._streams.append(entry)
        try:
            while True:
                ev = await q.get()
                if ev is None:
                    return
                yield ev
        finally:
            if entry in self._streams:
                self._streams.remove(entry)


async def connect_unix(path: PathLike, timeout: Optional[float] = None, *,
                       default_timeout: Optional[float] = None) -> AsyncClient:
    """Connects to QEMU's QMP Unix socket (retried until timeout while QEMU
    starts), reads the greeting and negotiates, without blocking the loop.
    timeout: seconds for the connect (None: 30).  default_timeout: seconds
    for every later call that names none (None: no limit)."""
    c = AsyncClient(default_timeout=default_timeout)
    return await c._connect(_c.qmpb_aio_connect_unix, os.fspath(path), _ms(timeout))


async def connect_tcp(host: str, port: Union[int, str], timeout: Optional[float] = None, *,
                      default_timeout: Optional[float] = None) -> AsyncClient:
    """The same over TCP (the socket is connected by the loop)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    last: Optional[BaseException] = None
    for family, type_, proto, _, addr in infos:
        s = socket.socket(family, type_, proto)
        s.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(s, addr), timeout if timeout is not None else 30)
        except (OSError, asyncio.TimeoutError) as e:
            s.close()
            last = e
            continue
        c = AsyncClient(default_timeout=default_timeout)
        return await c._connect(_c.qmpb_aio_connect_fd, s.detach(), _ms(timeout))
    if isinstance(last, asyncio.TimeoutError):
        raise TimeoutError("connecting to %s:%s timed out" % (host, port), _c.QMP_ETIMEDOUT)
    raise ConnectionClosed("cannot connect to %s:%s: %s" % (host, port, last), _c.QMP_EIO)
