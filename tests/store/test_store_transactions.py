"""Contract: several writes that happen together or not at all."""

from __future__ import annotations

import pytest

from trunkgate.store import NoRecord, Record, RecordExists, Store, VersionConflict


async def fulfil(store: Store, request_version: int, node_version: int) -> list[object]:
    """A request is fulfilled and its node assigned: both or neither."""
    return await (
        store.transaction()
        .set("/requests/r1", {"state": "fulfilled", "nodes": ["n1"]}, version=request_version)
        .set("/nodes/n1", {"state": "in-use", "request": "r1"}, version=node_version)
        .create("/requests/r1/audit", "fulfilled by launcher-1")
        .commit()
    )


async def test_a_transaction_applies_every_write(store: Store) -> None:
    await store.create("/requests/r1", {"state": "requested"})
    await store.create("/nodes/n1", {"state": "ready"})
    assert await fulfil(store, 0, 0) == [1, 1, "/requests/r1/audit"]
    assert await store.get("/nodes/n1") == Record(
        "/nodes/n1", {"state": "in-use", "request": "r1"}, 1
    )
    assert await store.children("/requests/r1") == ["audit"]


async def test_one_stale_version_fails_it_all_and_names_the_path(store: Store) -> None:
    await store.create("/requests/r1", {"state": "requested"})
    await store.create("/nodes/n1", {"state": "ready"})
    await store.set("/nodes/n1", {"state": "ready", "touched": True}, version=0)
    with pytest.raises(VersionConflict) as raised:
        await fulfil(store, 0, 0)
    assert raised.value.path == "/nodes/n1"
    assert await store.get("/requests/r1") == Record("/requests/r1", {"state": "requested"}, 0)
    assert await store.children("/requests/r1") == []


async def test_check_guards_a_record_that_is_not_written(store: Store) -> None:
    await store.create("/config", {"generation": 1})
    await store.create("/jobs", None)
    await store.set("/config", {"generation": 2}, version=0)
    with pytest.raises(VersionConflict) as raised:
        await store.transaction().check("/config", 0).create("/jobs/j1", 1).commit()
    assert raised.value.path == "/config"
    assert await store.children("/jobs") == []
    assert await store.transaction().check("/config", 1).create("/jobs/j1", 1).commit() == [
        None,
        "/jobs/j1",
    ]


async def test_creates_deletes_and_sequential_names_in_one_transaction(store: Store) -> None:
    await store.create("/queue", None)
    await store.create("/old", 1)
    results = await (
        store.transaction()
        .create("/queue/item-", "a", sequential=True)
        .create("/queue/item-", "b", sequential=True)
        .delete("/old", version=0)
        .commit()
    )
    first, second = str(results[0]), str(results[1])
    assert first < second
    assert first.startswith("/queue/item-")
    assert results[2] is None
    assert await store.get("/old") is None


async def test_a_record_named_by_its_number_alone_lands_in_its_parent(store: Store) -> None:
    # As the scheduler's outbox is written, with the queue's state.
    await store.create("/outbox", None)
    await store.create("/state", 1)
    results = await (
        store.transaction()
        .set("/state", 2, version=0)
        .create("/outbox/", {"report": 1}, sequential=True)
        .create("/outbox/", {"report": 2}, sequential=True)
        .commit()
    )
    names = await store.children("/outbox")
    assert len(names) == 2
    assert [str(r) for r in results[1:]] == [f"/outbox/{n}" for n in sorted(names)]
    assert [r.value for r in await store.read_children("/outbox")] == [{"report": 1}, {"report": 2}]
    assert await store.children("/") == ["outbox", "state"]


async def test_failures_inside_a_transaction_keep_their_kind(store: Store) -> None:
    await store.create("/here", 1)
    with pytest.raises(RecordExists):
        await store.transaction().create("/new", 1).create("/here", 2).commit()
    assert await store.get("/new") is None
    with pytest.raises(NoRecord):
        await store.transaction().create("/new", 1).delete("/absent").commit()
    with pytest.raises(NoRecord):
        await store.transaction().create("/no/parent", 1).commit()
    assert await store.get("/new") is None


async def test_an_empty_transaction_does_nothing(store: Store) -> None:
    assert await store.transaction().commit() == []
