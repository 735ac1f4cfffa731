#!/usr/bin/python3
"""The Python clients side by side: libqmp.aio (asyncio), libqmp.Client
(sync), the sync client under asyncio.to_thread, and qemu.qmp's QMPClient
where it is installed.

    bench_aio.py --mock PATH --schema PATH [--qemu BIN] [--quick] [--reps N]

Round trips (query-status, one at a time) against the benchmarks' mock
(bench/qmp-mock) and against a real `qemu-system-x86_64 -M none`, 64
commands in flight against the mock, and an event flood (the mock's
bench-flood: N events, the last BENCH_END).  Prints the median of the
repetitions in the table format of qmp-bench.

qemu.qmp is QEMU's own asyncio library (python/qemu/qmp in QEMU's source;
not packaged in Debian).  It is looked for on sys.path, with the directory
named by QEMU_QMP_PATH (the "python" directory of a QEMU checkout, or a
site-packages holding qemu.qmp) put first; when it is absent its rows say
so and are skipped.
"""

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

QEMU_QMP_PATH = os.environ.get("QEMU_QMP_PATH")
if QEMU_QMP_PATH:
    sys.path.insert(0, QEMU_QMP_PATH)
try:
    from qemu.qmp import QMPClient  # type: ignore
    QEMU_QMP_WHY = None
except ImportError as e:
    QMPClient = None
    QEMU_QMP_WHY = ("skipped: qemu.qmp not found (looked on sys.path%s: %s)"
                    % (" with QEMU_QMP_PATH=" + QEMU_QMP_PATH if QEMU_QMP_PATH else
                       "; set QEMU_QMP_PATH to QEMU's python/ dir", e))

import libqmp
import libqmp.aio


# --- the workloads: each returns (value, unit) for one repetition ------------

def sync_rt(path, n):
    with libqmp.Client.connect_unix(path, timeout=30) as c:
        c.execute("query-status")
        t = time.perf_counter()
        for _ in range(n):
            c.execute("query-status")
        return (time.perf_counter() - t) / n * 1e6


async def aio_rt(path, n):
    async with await libqmp.aio.connect_unix(path, timeout=30) as c:
        await c.execute("query-status")
        t = time.perf_counter()
        for _ in range(n):
            await c.execute("query-status")
        return (time.perf_counter() - t) / n * 1e6


async def thread_rt(path, n):
    c = libqmp.Client.connect_unix(path, timeout=30)
    try:
        await asyncio.to_thread(c.execute, "query-status")
        t = time.perf_counter()
        for _ in range(n):
            await asyncio.to_thread(c.execute, "query-status")
        return (time.perf_counter() - t) / n * 1e6
    finally:
        c.close()


async def qmpclient_rt(path, n):
    q = QMPClient("bench")
    await q.connect(path)
    try:
        await q.execute("query-status")
        t = time.perf_counter()
        for _ in range(n):
            await q.execute("query-status")
        return (time.perf_counter() - t) / n * 1e6
    finally:
        await q.disconnect()


async def _inflight(execute, n, window=64):
    """window tasks, each running its share of n commands one after another."""
    async def worker(k):
        for _ in range(k):
            await execute("query-status")
    share = [n // window + (1 if i < n % window else 0) for i in range(window)]
    t = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in share))
    return n / (time.perf_counter() - t)


async def aio_pipe(path, n):
    async with await libqmp.aio.connect_unix(path, timeout=30) as c:
        return await _inflight(c.execute, n)


async def qmpclient_pipe(path, n):
    q = QMPClient("bench")
    await q.connect(path)
    try:
        return await _inflight(q.execute, n)
    finally:
        await q.disconnect()


def sync_flood(path, n):
    with libqmp.Client.connect_unix(path, timeout=30) as c:
        got = 0
        done = False

        def on_event(ev):
            nonlocal got, done
            got += 1
            done = done or ev.name == "BENCH_END"
        c.on_event(None, on_event)
        t = time.perf_counter()
        c.execute("bench-flood", count=n)
        deadline = time.monotonic() + 60
        while not done and time.monotonic() < deadline:
            c.process(timeout=1)
        if not done:
            raise RuntimeError("BENCH_END did not come in 60 s")
        return got / (time.perf_counter() - t)


async def aio_flood(path, n):
    async with await libqmp.aio.connect_unix(path, timeout=30) as c:
        got = 0
        t = time.perf_counter()

        async def count():
            nonlocal got
            async for ev in c.events():
                got += 1
                if ev.name == "BENCH_END":
                    return
        task = asyncio.create_task(count())
        await asyncio.sleep(0)
        await c.execute("bench-flood", count=n)
        await asyncio.wait_for(task, 60)
        return got / (time.perf_counter() - t)


async def qmpclient_flood(path, n):
    from qemu.qmp import EventListener  # type: ignore
    q = QMPClient("bench")
    await q.connect(path)
    try:
        got = 0
        with q.listen(EventListener()) as listener:
            t = time.perf_counter()
            await q.execute("bench-flood", {"count": n})
            async for ev in listener:
                got += 1
                if ev["event"] == "BENCH_END":
                    break
        return got / (time.perf_counter() - t)
    finally:
        await q.disconnect()


# --- running them ------------------------------------------------------------------

def start(cmd, sock, wait_ready):
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE if wait_ready else subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    if wait_ready:
        line = p.stdout.readline().decode().strip()
        if line != "ready":
            p.kill()
            raise RuntimeError("%s did not start (%r)" % (cmd[0], line))
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mock", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--qemu", default=shutil.which("qemu-system-x86_64"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int)
    a = ap.parse_args()
    rt, pipe, flood, qrt, reps = (200, 2000, 5000, 50, 1) if a.quick else (20000, 200000, 200000, 3000, 5)
    if a.reps:
        reps = a.reps

    tmp = tempfile.mkdtemp(prefix="libqmp-pybench-")
    msock = os.path.join(tmp, "mock.sock")
    qsock = os.path.join(tmp, "qmp.sock")
    procs = [start([a.mock, msock, a.schema], msock, True)]
    if a.qemu:
        procs.append(start([a.qemu, "-M", "none", "-nodefaults", "-display", "none",
                            "-qmp", "unix:%s,server=on,wait=off" % qsock], qsock, False))
    nq = QMPClient is not None
    rows = [
        ("Python: round trip vs mock (query-status)", "libqmp.Client.execute (sync)", "us",
         lambda: sync_rt(msock, rt)),
        ("", "libqmp.aio AsyncClient.execute", "us", lambda: asyncio.run(aio_rt(msock, rt))),
        ("", "libqmp.Client.execute via asyncio.to_thread", "us", lambda: asyncio.run(thread_rt(msock, rt))),
        ("", "qemu.qmp QMPClient.execute", "us",
         (lambda: asyncio.run(qmpclient_rt(msock, rt))) if nq else QEMU_QMP_WHY),
        ("Python: throughput vs mock, 64 in flight", "libqmp.aio AsyncClient.execute", "calls/s",
         lambda: asyncio.run(aio_pipe(msock, pipe))),
        ("", "qemu.qmp QMPClient.execute", "calls/s",
         (lambda: asyncio.run(qmpclient_pipe(msock, pipe))) if nq else QEMU_QMP_WHY),
        ("Python: event flood (mock)", "libqmp.Client on_event handler + process() (sync)", "events/s",
         lambda: sync_flood(msock, flood)),
        ("", "libqmp.aio async for over events()", "events/s", lambda: asyncio.run(aio_flood(msock, flood))),
        ("", "qemu.qmp QMPClient EventListener", "events/s",
         (lambda: asyncio.run(qmpclient_flood(msock, flood))) if nq else QEMU_QMP_WHY),
        ("Python: round trip vs real QEMU 7.2 (-M none)", "libqmp.Client.execute (sync)", "us",
         (lambda: sync_rt(qsock, qrt)) if a.qemu else "skipped: no qemu-system-x86_64"),
        ("", "libqmp.aio AsyncClient.execute", "us",
         (lambda: asyncio.run(aio_rt(qsock, qrt))) if a.qemu else "skipped: no qemu-system-x86_64"),
        ("", "qemu.qmp QMPClient.execute", "us",
         (lambda: asyncio.run(qmpclient_rt(qsock, qrt))) if nq and a.qemu else
         (QEMU_QMP_WHY or "skipped: no qemu-system-x86_64")),
    ]
    failed = 0
    try:
        print("| workload | client | median | unit |")
        print("| --- | --- | ---: | --- |")
        for workload, client, unit, fn in rows:
            if isinstance(fn, str):
                print("| %s | %s | %s | |" % (workload, client, fn))
                continue
            try:
                samples = [fn() for _ in range(reps)]
                print("| %s | %s | %.1f | %s |" % (workload, client, statistics.median(samples), unit))
            except Exception as e:          # a row that fails says why; the run fails at the end
                failed += 1
                print("| %s | %s | FAILED: %s | %s |" % (workload, client, e, unit))
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
