#!/usr/bin/python3
"""qemu.qmp, QEMU's own asyncio library, on qmp-bench's fan-in workload
(bench/scale.c): many QMPClients on one asyncio loop against the
benchmarks' mock.

    scale_qmp.py -socket PATH -workload fanin -clients N -count K -paced P -interval US

Connects N clients at once (the connect storm), measures RSS per idle
client, then arms a flood of K events on every client (bench-flood with
"armed", "stamp"), starts them all at once (bench-start on a connection of
its own) and reads every event's data in one EventListener task per client;
then the same with P paced events each, one per US microseconds.  Prints
"SCALE storm_ms mem_bytes rate flood_p50_ms flood_p99_ms paced_p50_ms
paced_p99_ms" or "FAIL reason" (qmp-bench reads the line).

qemu.qmp is not packaged in Debian: it is looked for on sys.path with
QEMU_QMP_PATH (QEMU's python/ directory, or a site-packages holding
qemu.qmp) first; without it the line says it is not present.
"""

import argparse
import asyncio
import os
import sys
import time

QEMU_QMP_PATH = os.environ.get("QEMU_QMP_PATH")
if QEMU_QMP_PATH:
    sys.path.insert(0, QEMU_QMP_PATH)


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE")


def pct(v, p):
    return v[int(p / 100 * (len(v) - 1) + 0.5)] / 1e6 if v else 0.0


async def start_floods(path):
    r, w = await asyncio.open_unix_connection(path)
    await r.readline()
    for cmd in (b'{"execute":"qmp_capabilities"}\n', b'{"execute":"bench-start"}\n'):
        w.write(cmd)
        await r.readline()
    w.close()


async def fanin(a, QMPClient, EventListener):
    n = a.clients
    clients = [QMPClient("scale%d" % i) for i in range(n)]
    before = rss()
    t = time.perf_counter()
    await asyncio.gather(*(c.connect(a.socket) for c in clients))
    storm = time.perf_counter() - t
    await asyncio.sleep(0.05)
    mem = (rss() - before) / n

    async def phase(count, interval):
        lat = []

        async def drain(c):
            with c.listen(EventListener()) as listener:
                await c.execute("bench-flood", {"count": count, "stamp": True, "armed": True,
                                                "interval-us": interval})
                ready.append(1)
                async for ev in listener:
                    t_sent = ev.get("data", {}).get("t")
                    if t_sent:
                        lat.append(time.clock_gettime_ns(time.CLOCK_MONOTONIC) - t_sent)
                    if ev["event"] == "BENCH_END":
                        return

        ready = []
        tasks = [asyncio.create_task(drain(c)) for c in clients]
        while len(ready) < n:
            await asyncio.sleep(0.001)
        t0 = time.perf_counter()
        await start_floods(a.socket)
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
        el = time.perf_counter() - t0
        if len(lat) != n * count:
            raise RuntimeError("received %d of %d events" % (len(lat), n * count))
        lat.sort()
        return n * count / el, pct(lat, 50), pct(lat, 99)

    rate, fp50, fp99 = await phase(a.count, 0)
    _, pp50, pp99 = await phase(a.paced, a.interval)
    print("SCALE %.3f %.1f %.1f %.3f %.3f %.3f %.3f" % (storm * 1e3, mem, rate, fp50, fp99, pp50, pp99))
    await asyncio.gather(*(c.disconnect() for c in clients))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-socket", required=True)
    ap.add_argument("-workload", default="fanin")
    ap.add_argument("-clients", type=int, default=1000)
    ap.add_argument("-count", type=int, default=300)
    ap.add_argument("-paced", type=int, default=10)
    ap.add_argument("-interval", type=int, default=100000)
    a = ap.parse_args()
    try:
        from qemu.qmp import EventListener, QMPClient  # type: ignore
    except ImportError as e:
        print("FAIL not present: qemu.qmp not found (%s; set QEMU_QMP_PATH to QEMU's python/ dir)" % e)
        return 0
    try:
        asyncio.run(fanin(a, QMPClient, EventListener))
    except Exception as e:  # the row says why
        print("FAIL %s: %s" % (type(e).__name__, str(e).replace("\n", " ")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
