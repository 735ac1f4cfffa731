#!/usr/bin/env python3
"""asyncio and libqmp: query QEMU, pause and resume it while an iterator
prints the events, and run commands side by side.

    python3 aio_status.py /path/to/qmp.sock
"""

import asyncio
import sys

import libqmp
import libqmp.aio


async def main(path: str) -> None:
    async with await libqmp.aio.connect_unix(path, timeout=5, default_timeout=10) as c:
        print("status:", (await c.execute("query-status"))["status"])

        async def show_events() -> None:
            async for ev in c.events():
                print("event:", ev.name)
                if ev.name == "RESUME":
                    return
        watcher = asyncio.create_task(show_events())
        await asyncio.sleep(0)                   # the iterator is listening

        seq = c.event_seq
        await c.execute("stop")
        await c.wait_event("STOP", after=seq)
        await c.execute("cont")
        await watcher

        version, name = await asyncio.gather(c.execute("query-version"), c.execute("query-name"))
        q = version["qemu"]
        print("qemu %d.%d.%d, name %r" % (q["major"], q["minor"], q["micro"], name.get("name")))
        try:
            await c.execute("no-such-command")
        except libqmp.CommandError as e:
            print("refused:", e.error_class)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: aio_status.py QMP_SOCKET")
    asyncio.run(main(sys.argv[1]))
