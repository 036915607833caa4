"""Store benchmark: compare-and-set writes, reads, lock cycles and cross-process notification
latency on each backend; prints one JSON object.

    .venv/bin/python bench/store.py

ZooKeeper is started here on a free loopback port, as the tests do. Every
figure is from one client doing one thing at a time; the notification
latency runs from just before a write in another process to the moment this
one, woken by its watch, has read the new value.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from trunkgate.store import Store, StoreSettings, open_store
from trunkgate.store.zkserver import ZooKeeperServer, ZooKeeperUnavailable

# Enough for steady figures, short enough to run in well under a minute.
SECONDS_PER_FIGURE = 2.0
NOTIFICATIONS = 400
# Writes this far apart each wake the watcher on their own.
NOTIFY_GAP_S = 0.005


async def rate(operation: Callable[[], Awaitable[object]]) -> float:
    """Operations per second, one after another, over SECONDS_PER_FIGURE."""
    for _ in range(20):  # warm up: caches, JIT on the server, first connections
        await operation()
    count = 0
    start = time.perf_counter()
    deadline = start + SECONDS_PER_FIGURE
    while True:
        for _ in range(50):
            await operation()
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


async def measure(settings: StoreSettings) -> dict[str, float]:
    async with await open_store(settings) as store:
        await store.create("/bench/counter", 0)
        await store.create("/bench/read", {"state": "ready", "labels": ["debian"]})

        async def cas() -> None:
            record = await store.get("/bench/counter")
            assert record is not None
            assert isinstance(record.value, int)
            await store.set("/bench/counter", record.value + 1, version=record.version)

        async def read() -> None:
            await store.get("/bench/read")

        async def lock() -> None:
            async with store.lock("/bench/lock", identity="bench", timeout=10):
                pass

        figures = {
            "cas_per_s": await rate(cas),
            "reads_per_s": await rate(read),
            "locks_per_s": await rate(lock),
        }
        latencies = await notification_latencies(store, settings)
    figures["notify_p50_ms"] = statistics.median(latencies)
    figures["notify_p99_ms"] = statistics.quantiles(latencies, n=100)[98]
    return {k: round(v, 2) if k.endswith("_ms") else round(v) for k, v in figures.items()}


async def notification_latencies(store: Store, settings: StoreSettings) -> list[float]:
    """Milliseconds from a write in a child process to this process having seen it."""
    await store.create("/bench/notify/stamp", {"t": 0})
    latencies: list[float] = []
    seen = 0
    async with store.watch("/bench/notify") as watch:
        await watch.arm()
        writer = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--writer", settings.model_dump_json(), str(NOTIFICATIONS)
        )
        try:
            async with asyncio.timeout(120):
                async for _ in watch:
                    record = await store.get("/bench/notify/stamp")
                    now = time.monotonic_ns()
                    assert record is not None
                    assert isinstance(record.value, dict)
                    n, stamp = record.value.get("n", 0), record.value["t"]
                    if isinstance(n, int) and isinstance(stamp, int) and n > seen:
                        seen = n
                        latencies.append((now - stamp) / 1e6)
                    if seen >= NOTIFICATIONS:
                        break
        finally:
            await writer.wait()
    return latencies


async def write_stamps(settings: StoreSettings, count: int) -> None:
    """The child process: ``count`` writes, each stamped with the system-wide monotonic clock."""
    async with await open_store(settings) as store:
        for n in range(1, count + 1):
            await asyncio.sleep(NOTIFY_GAP_S)
            await store.set("/bench/notify/stamp", {"n": n, "t": time.monotonic_ns()}, version=None)


async def main() -> None:
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="trunkgate-bench-") as tmp:
        sqlite = StoreSettings(backend="sqlite", path=Path(tmp) / "store.db")
        results["sqlite"] = await measure(sqlite)
        server = ZooKeeperServer(Path(tmp) / "zookeeper")
        try:
            server.start()
        except ZooKeeperUnavailable as exc:
            results["zookeeper"] = {"error": str(exc)}
        else:
            try:
                zookeeper = StoreSettings(backend="zookeeper", hosts=server.hosts, chroot="/bench")
                results["zookeeper"] = await measure(zookeeper)
            finally:
                server.stop()
    print(json.dumps(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writer", nargs=2, metavar=("SETTINGS", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        settings = StoreSettings.model_validate_json(args.writer[0])
        asyncio.run(write_stamps(settings, int(args.writer[1])))
    else:
        asyncio.run(main())
