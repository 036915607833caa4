"""Change records: how votes add up, which status moves are allowed, and
how a change survives a trip through a file store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from trunkgate.review import (
    APPROVED,
    SCHEMA_VERSION,
    TRANSITIONS,
    VERIFIED,
    Change,
    ChangeStatus,
    ChangeStore,
    Comment,
    InvalidTransition,
    JsonChangeStore,
    JsonlEventSink,
    MemoryChangeStore,
    Patchset,
    ReviewError,
    ReviewEvent,
    Vote,
    change_from_dict,
    change_ref,
    change_to_dict,
)


def a_change(number: int = 7) -> Change:
    patchsets = tuple(
        Patchset(n, f"{n:040x}", change_ref(number, n), "Ada <a@x>", "ada", f"v{n}", f"v{n}\n", n)
        for n in (1, 2)
    )
    return Change(number, "example/calc", "main", "ada", ChangeStatus.NEW, patchsets)


def test_change_refs_are_sharded_as_gerrit_shards_them() -> None:
    assert change_ref(1, 1) == "refs/changes/01/1/1"
    assert change_ref(1234, 5) == "refs/changes/34/1234/5"
    assert change_ref(100, 2) == "refs/changes/00/100/2"


def test_votes_count_on_their_patchset_and_the_latest_per_voter() -> None:
    change = a_change()
    for label, value, by, patchset in [
        (VERIFIED, -1, "ci", 1),
        (VERIFIED, 1, "ci", 2),
        (VERIFIED, 2, "gate", 2),
        (APPROVED, 1, "core", 2),
        (APPROVED, 0, "core", 2),
    ]:
        change = change.with_vote(Vote(label, value, by, patchset, 0.0))

    assert change.votes_on(1) == {VERIFIED: -1}
    assert change.votes_on() == {VERIFIED: 2}
    assert not change.approved, "a vote of 0 withdraws the approval"


def test_status_moves_only_through_the_table() -> None:
    change = a_change()
    merged = change.move_to(ChangeStatus.MERGED, 5.0)
    assert (merged.status, merged.updated) == (ChangeStatus.MERGED, 5.0)
    assert TRANSITIONS[ChangeStatus.MERGED] == frozenset()
    with pytest.raises(InvalidTransition, match="change 7 is MERGED; it cannot become NEW"):
        merged.move_to(ChangeStatus.NEW, 6.0)


def test_patchsets_are_numbered_without_gaps() -> None:
    change = a_change()
    extra = Patchset(4, "f" * 40, change_ref(7, 4), "Ada <a@x>", "ada", "v4", "v4\n", 4)
    with pytest.raises(ReviewError, match="the next is 3, not 4"):
        change.with_patchset(extra)


async def test_file_store_keeps_changes_and_numbers(tmp_path: Path) -> None:
    change = a_change(3).with_comment(Comment("ada", "recheck", 2, 9.0))
    store = JsonChangeStore(tmp_path)

    await store.save_change(change)
    reopened = JsonChangeStore(tmp_path)

    assert await reopened.get_change(3) == change
    assert await reopened.get_change(4) is None
    assert await reopened.next_change_number() == 4, "numbers continue after the saved ones"
    assert [c.number for c in await reopened.list_changes()] == [3]


def test_stored_shape_carries_its_schema_version() -> None:
    data = change_to_dict(a_change())
    assert data["schema"] == SCHEMA_VERSION
    assert change_from_dict(data) == a_change()
    with pytest.raises(ValueError, match="schema 0"):
        change_from_dict({**data, "schema": 0})


async def test_event_file_keeps_events_in_order(tmp_path: Path) -> None:
    sink = JsonlEventSink(tmp_path)
    first = ReviewEvent("change-created", "local", "p", "main", 1.0, change=1, patchset=1)
    second = ReviewEvent("comment-added", "local", "p", "main", 2.0, change=1, comment="recheck")

    await sink.emit(first)
    await sink.emit(second)

    assert sink.read() == [first, second]


@pytest.mark.parametrize("kind", ["memory", "file"])
async def test_updates_apply_whole_or_not_at_all(kind: str, tmp_path: Path) -> None:
    store: ChangeStore = MemoryChangeStore() if kind == "memory" else JsonChangeStore(tmp_path)
    await store.save_change(a_change(3))

    def refuse(change: Change) -> Change:
        raise InvalidTransition("no")

    with pytest.raises(InvalidTransition):
        await store.update_change(3, refuse)
    abandoned = await store.update_change(3, lambda c: c.move_to(ChangeStatus.ABANDONED, 1.0))

    assert await store.get_change(3) == abandoned
    assert abandoned is not None
    assert abandoned.status == ChangeStatus.ABANDONED
    assert await store.update_change(4, lambda c: c) is None


async def test_concurrent_actions_on_one_change_all_land(tmp_path: Path) -> None:
    store = JsonChangeStore(tmp_path)
    await store.save_change(a_change(3))

    await asyncio.gather(
        *(
            store.update_change(3, lambda c, i=i: c.with_comment(Comment("ada", str(i), 2, 0.0)))
            for i in range(8)
        )
    )

    stored = await store.get_change(3)
    assert stored is not None
    assert sorted(c.text for c in stored.comments) == [str(i) for i in range(8)]
