"""Contract: a component is woken by changes at or directly under a path, in any session."""

from __future__ import annotations

import asyncio

from trunkgate.store import Store, Watch

from .conftest import OpenStore

# Long enough never to be reached when things work; only a broken store waits it out.
PATIENCE = 10.0


async def woken(watch: Watch) -> bool:
    return await watch.changed(PATIENCE)


async def test_a_watch_wakes_on_create_set_and_delete_from_another_session(
    store: Store, open_store: OpenStore
) -> None:
    writer = await open_store()
    await store.create("/requests", None)
    async with store.watch("/requests") as watch:
        await watch.arm()
        await writer.create("/requests/r1", {"state": "requested"})
        assert await woken(watch)
        await writer.set("/requests/r1", {"state": "fulfilled"}, version=0)
        assert await woken(watch)
        await writer.delete("/requests/r1")
        assert await woken(watch)
        await writer.set("/requests", {"paused": True}, version=0)
        assert await woken(watch)


async def test_a_watch_on_a_missing_path_wakes_when_it_appears(
    store: Store, open_store: OpenStore
) -> None:
    writer = await open_store()
    async with store.watch("/later") as watch:
        await watch.arm()
        await writer.create("/later", 1)
        assert await woken(watch)
        await writer.create("/later/child", 1)
        assert await woken(watch)


async def test_the_root_can_be_watched(store: Store, open_store: OpenStore) -> None:
    writer = await open_store()
    async with store.watch("/") as watch:
        await watch.arm()
        await writer.create("/top", 1)
        assert await woken(watch)


async def test_the_loop_runs_at_once_then_once_per_change(
    store: Store, open_store: OpenStore
) -> None:
    """The scheduler's pattern: read everything, then again whenever something moved."""
    writer = await open_store()
    await store.create("/queue", None)
    seen: list[list[str]] = []

    async def component() -> None:
        async for _ in store.watch("/queue"):
            seen.append(await store.children("/queue"))
            if len(seen[-1]) == 3:
                return

    task = asyncio.create_task(component())
    for n in range(3):
        await writer.create(f"/queue/item{n}", n)
    async with asyncio.timeout(PATIENCE):
        await task
    assert seen[0] in ([], ["item0"], ["item0", "item1"], ["item0", "item1", "item2"])
    assert seen[-1] == ["item0", "item1", "item2"]


async def test_changes_made_while_the_body_runs_are_not_lost(store: Store) -> None:
    await store.create("/work", 0)
    turns = 0
    async for _ in store.watch("/work"):
        turns += 1
        record = await store.get("/work")
        assert record is not None
        if record.value == 3:
            break
        # Our own write, made between two turns, must bring another turn.
        await store.set("/work", record.value + 1, version=record.version)  # type: ignore[operator]
    assert turns == 4


async def test_wait_for_change_answers_false_when_nothing_moved(store: Store) -> None:
    await store.create("/quiet", 1)
    assert await store.wait_for_change("/quiet", 0.05) is False


async def test_a_watch_wakes_when_an_ephemeral_record_vanishes_with_its_session(
    store: Store, open_store: OpenStore
) -> None:
    owner = await open_store()
    await owner.create("/launchers/l1", {"pid": 1}, ephemeral=True)
    async with store.watch("/launchers") as watch:
        await watch.arm()
        await owner.close()
        assert await woken(watch)
    assert await store.children("/launchers") == []


async def test_wait_for_change_wakes_on_a_write(store: Store, open_store: OpenStore) -> None:
    writer = await open_store()
    await writer.create("/flag", 0)
    waiter = asyncio.create_task(store.wait_for_change("/flag", PATIENCE))
    # wait_for_change registers when it starts; keep writing until it has.
    n = 0
    while not waiter.done():
        n += 1
        await writer.set("/flag", n, version=None)
        await asyncio.sleep(0.01)
    assert waiter.result() is True


async def test_closing_the_store_ends_the_iteration(open_store: OpenStore) -> None:
    store = await open_store()
    turns = 0
    running = asyncio.Event()

    async def component() -> None:
        nonlocal turns
        async for _ in store.watch("/x"):
            turns += 1
            running.set()

    task = asyncio.create_task(component())
    await running.wait()
    await store.close()
    async with asyncio.timeout(PATIENCE):
        await task
    assert turns == 1
