"""Contract: exclusive locks with a readable owner, timeouts, and release by session end."""

from __future__ import annotations

import asyncio

import pytest

from trunkgate.store import LockTimeout, Store

from .conftest import OpenStore, until_children

PATIENCE = 10.0


async def test_a_lock_is_exclusive_and_names_its_owner(store: Store, open_store: OpenStore) -> None:
    other = await open_store()
    assert await store.lock_owner("/nodes/n1/lock") is None
    async with store.lock("/nodes/n1/lock", identity="executor-1", timeout=PATIENCE) as held:
        assert held.identity == "executor-1"
        assert held.session_id == store.session_id
        assert not held.lost.is_set()
        assert await other.lock_owner("/nodes/n1/lock") == "executor-1"
        with pytest.raises(LockTimeout) as raised:
            async with other.lock("/nodes/n1/lock", identity="executor-2", timeout=0.1):
                pytest.fail("a held lock was taken a second time")
        assert raised.value.owner == "executor-1"
        assert "/nodes/n1/lock" in str(raised.value)
    assert await other.lock_owner("/nodes/n1/lock") is None
    async with other.lock("/nodes/n1/lock", identity="executor-2", timeout=PATIENCE):
        assert await store.lock_owner("/nodes/n1/lock") == "executor-2"


async def test_a_waiter_gets_the_lock_when_it_is_released(
    store: Store, open_store: OpenStore
) -> None:
    other = await open_store()
    order: list[str] = []
    first = store.lock("/l", identity="first", timeout=PATIENCE)
    await first.acquire()

    async def second() -> None:
        async with other.lock("/l", identity="second", timeout=PATIENCE):
            order.append("second")

    waiter = asyncio.create_task(second())
    # The waiter queues behind the holder; the holder keeps it until released.
    await until_children(store, "/l", 2)
    order.append("first")
    await first.release()
    async with asyncio.timeout(PATIENCE):
        await waiter
    assert order == ["first", "second"]


async def test_waiters_in_one_store_take_turns(store: Store) -> None:
    inside = 0
    most = 0

    async def worker(n: int) -> None:
        nonlocal inside, most
        async with store.lock("/turns", identity=f"w{n}", timeout=PATIENCE):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.001)
            inside -= 1

    await asyncio.gather(*(worker(n) for n in range(8)))
    assert most == 1
    assert await store.children("/turns") == []


async def test_closing_the_holder_releases_its_locks(store: Store, open_store: OpenStore) -> None:
    holder = await open_store()
    await holder.lock("/l", identity="holder", timeout=PATIENCE).acquire()
    waiter = asyncio.create_task(store.lock("/l", identity="waiter", timeout=PATIENCE).acquire())
    await until_children(store, "/l", 2)
    await holder.close()
    held = await waiter
    assert held.identity == "waiter"
    assert await store.lock_owner("/l") == "waiter"


async def test_a_timed_out_or_cancelled_waiter_leaves_no_trace(
    store: Store, open_store: OpenStore
) -> None:
    other = await open_store()
    async with store.lock("/l", identity="holder", timeout=PATIENCE):
        with pytest.raises(LockTimeout):
            await other.lock("/l", identity="late", timeout=0.05).acquire()
        waiter = asyncio.create_task(other.lock("/l", identity="gone", timeout=None).acquire())
        await until_children(store, "/l", 2)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert len(await store.children("/l")) == 1
    assert await store.children("/l") == []
