"""Contract under faults: killed processes, racing writers, and ephemeral records' lifetime."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest

from trunkgate.store import Store, StoreError, VersionConflict

from .conftest import ChildCommand, OpenStore

PATIENCE = 30.0


async def test_ephemeral_records_go_with_their_session(store: Store, open_store: OpenStore) -> None:
    owner = await open_store()
    await owner.create("/launchers/l1", {"provider": "p1"}, ephemeral=True)
    await owner.create("/launchers/l2", {"provider": "p2"})
    assert await store.children("/launchers") == ["l1", "l2"]
    await owner.close()
    assert await store.children("/launchers") == ["l2"]


async def test_an_ephemeral_record_cannot_have_children(store: Store) -> None:
    await store.create("/e", 1, ephemeral=True)
    with pytest.raises(StoreError, match="ephemeral"):
        await store.create("/e/child", 1)


async def test_a_killed_process_loses_its_lock_and_ephemerals_after_the_lease(
    store: Store, child_command: ChildCommand
) -> None:
    child = await asyncio.create_subprocess_exec(
        *child_command("hold", "/nodes/n1/lock", "3"), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        async with asyncio.timeout(PATIENCE):
            assert (await child.stdout.readline()).strip() == b"ready"
        assert await store.children("/held") == ["r0", "r1", "r2"]
        owner = await store.lock_owner("/nodes/n1/lock")
        assert owner == f"child-{child.pid}"
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()

    # The dead process cannot release anything: only its lease running out can.
    async with store.lock("/nodes/n1/lock", identity="survivor", timeout=PATIENCE) as held:
        assert held.identity == "survivor"
        assert await store.lock_owner("/nodes/n1/lock") == "survivor"
        assert await store.children("/held") == []


async def cas_increment(store: Store, path: str, times: int) -> int:
    """Add one ``times`` times by read and compare-and-set; return how many conflicts it met."""
    conflicts = 0
    for _ in range(times):
        while True:
            record = await store.get(path)
            assert record is not None
            assert isinstance(record.value, int)
            await asyncio.sleep(0)  # a component does other things meanwhile
            try:
                await store.set(path, record.value + 1, version=record.version)
                break
            except VersionConflict:
                conflicts += 1
    return conflicts


async def test_racing_writers_in_many_sessions_lose_no_update(
    store: Store, open_store: OpenStore
) -> None:
    await store.create("/counter", 0)
    sessions = [store, *[await open_store() for _ in range(3)]]
    # Two tasks per session, so writers race inside a process and across.
    conflicts = await asyncio.gather(
        *(cas_increment(s, "/counter", 40) for s in sessions for _ in range(2))
    )
    record = await store.get("/counter")
    assert record is not None
    assert record.value == 8 * 40
    assert record.version == 8 * 40
    assert sum(conflicts) > 0


async def test_racing_writer_processes_lose_no_update(
    store: Store, child_command: ChildCommand
) -> None:
    await store.create("/counter", 0)
    children = [
        await asyncio.create_subprocess_exec(
            *child_command("increment", "/counter", "150"), stdout=asyncio.subprocess.PIPE
        )
        for _ in range(4)
    ]
    async with asyncio.timeout(PATIENCE):
        for child in children:
            assert child.stdout is not None
            assert (await child.stdout.readline()).strip() == b"ready"
    await store.create("/go")
    # This process races them too.
    ours = await cas_increment(store, "/counter", 150)
    reports = []
    async with asyncio.timeout(PATIENCE * 2):
        for child in children:
            out, _ = await child.communicate()
            assert child.returncode == 0
            reports.append(json.loads(out))
    record = await store.get("/counter")
    assert record is not None
    assert record.value == 5 * 150
    assert ours + sum(r["conflicts"] for r in reports) > 0
