"""The receiving area a node's files land in: as root, a tmpfs of its own,
gone afterwards however the collection ends."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from trunkgate.executor.receiving import receiving_area

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def collect_mounts() -> list[str]:
    with open("/proc/self/mounts", encoding="utf-8") as table:
        return [line.split()[1] for line in table if line.startswith("trunkgate-collect ")]


async def test_a_collection_cancelled_while_its_area_is_mounted_leaves_no_mount(
    tmp_path: Path,
) -> None:
    entered = 0

    async def collect(dest: Path) -> None:
        nonlocal entered
        async with receiving_area(dest, 1 << 20, 100) as area:
            entered += 1
            (area / "file").write_text("sent back\n")
            await asyncio.sleep(10)

    # Cancelled at every moment from before the mount to after it: the
    # executor stopping mid-collection does exactly this.
    for step in range(40):
        task = asyncio.ensure_future(collect(tmp_path / f"node-{step}"))
        for _ in range(step):
            await asyncio.sleep(0)
        await asyncio.sleep(step * 0.0005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert collect_mounts() == [], f"cancelled after {step} steps"
        assert not [p for p in os.listdir(tmp_path) if ".receiving" in p]
    assert entered > 0


async def test_a_collection_cancelled_again_while_it_cleans_up_leaves_no_mount(
    tmp_path: Path,
) -> None:
    mounted = asyncio.Event()

    async def collect(dest: Path) -> None:
        async with receiving_area(dest, 1 << 20, 100):
            mounted.set()
            await asyncio.sleep(10)

    # The scheduler asks again and again until the build answers: a second
    # cancel lands while the first one's clean-up runs.
    for step in range(20):
        mounted.clear()
        task = asyncio.ensure_future(collect(tmp_path / f"node-{step}"))
        await mounted.wait()
        task.cancel()
        for _ in range(step % 5):
            await asyncio.sleep(0)
        await asyncio.sleep((step // 5) * 0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert collect_mounts() == [], f"cancelled again after {step} steps"
        assert not [p for p in os.listdir(tmp_path) if ".receiving" in p]
