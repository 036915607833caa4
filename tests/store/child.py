"""Another process using the store, for the tests: ``child.py SETTINGS_JSON MODE ARGS...``.

hold LOCK N        take LOCK, create N ephemeral records under /held, say "ready", wait
increment PATH N   say "ready", wait for /go, then add one to the counter at PATH N times
                   by compare-and-set; print how many conflicts it met
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from trunkgate.store import StoreSettings, VersionConflict, open_store


async def hold(settings: StoreSettings, lock: str, count: int) -> None:
    store = await open_store(settings)
    await store.lock(lock, identity=f"child-{os.getpid()}", timeout=30).acquire()
    for n in range(count):
        await store.create(f"/held/r{n}", {"pid": os.getpid()}, ephemeral=True)
    print("ready", flush=True)
    await asyncio.Event().wait()  # until killed


async def increment(settings: StoreSettings, path: str, count: int) -> None:
    async with await open_store(settings) as store:
        # Start together with the others, when /go appears, so that they race.
        said_ready = False
        async for _ in store.watch("/go"):
            if await store.get("/go") is not None:
                break
            if not said_ready:
                print("ready", flush=True)
                said_ready = True
        conflicts = 0
        for _ in range(count):
            while True:
                record = await store.get(path)
                assert record is not None
                assert isinstance(record.value, int)
                try:
                    await store.set(path, record.value + 1, version=record.version)
                    break
                except VersionConflict:
                    conflicts += 1
        print(json.dumps({"conflicts": conflicts}), flush=True)


def main() -> None:
    settings = StoreSettings.model_validate_json(sys.argv[1])
    mode, path, count = sys.argv[2], sys.argv[3], int(sys.argv[4])
    if mode == "hold":
        asyncio.run(hold(settings, path, count))
    elif mode == "increment":
        asyncio.run(increment(settings, path, count))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
