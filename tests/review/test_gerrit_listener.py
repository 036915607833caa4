"""Gerrit's events followed over real SSH, against a server that speaks
`gerrit stream-events` and `gerrit query` as Gerrit documents: events of
the source's projects handed on as they come; when the stream drops, it is
opened again, and what happened meanwhile is found by a query, each event
handed on once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from tests.review.fakes.gerrit_ssh import Changes, FakeGerritSsh
from trunkgate.config.sections import GerritSource
from trunkgate.review.events import EventList, ReviewEvent
from trunkgate.review.gerrit.listener import (
    Cursor,
    GerritListener,
    MemoryCursor,
    Position,
    StoredCursor,
)
from trunkgate.store import StoreSettings, open_store

CHANGE = {
    "project": "acme/app",
    "branch": "main",
    "number": 7,
    "url": "https://review.example.org/c/acme/app/+/7",
}


def patchset(number: int, created: float) -> dict[str, object]:
    return {
        "number": number,
        "revision": f"{number}" * 40,
        "ref": f"refs/changes/07/7/{number}",
        "createdOn": int(created),
        "uploader": {"username": "dev"},
    }


@pytest.fixture
async def gerrit(tmp_path: Path) -> AsyncIterator[tuple[FakeGerritSsh, Path]]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp_path / "gerrit-key"
    key.write_private_key(key_file)
    fake = FakeGerritSsh(client_key=key)
    await fake.start()
    try:
        yield fake, key_file
    finally:
        await fake.stop()


class Events(EventList):
    """The events handed on, and a wake-up for whoever waits on them."""

    def __init__(self, changes: Changes) -> None:
        super().__init__()
        self.changes = changes

    async def emit(self, event: ReviewEvent) -> None:
        await super().emit(event)
        self.changes.notify()


def listener_for(fake: FakeGerritSsh, key: Path, sink: EventList, cursor: Cursor) -> GerritListener:
    source = GerritSource(
        name="review",
        driver="gerrit",
        server="127.0.0.1",
        port=fake.port,
        user="trunkgate",
        ssh_key=str(key),
        web_url="http://127.0.0.1:9",
        password_file=str(key),
    )
    return GerritListener(
        source, key, sink, cursor, ["acme/app"], known_hosts=fake.known_hosts(), first_delay=0.05
    )


async def test_events_come_and_a_dropped_stream_is_caught_up_once(
    gerrit: tuple[FakeGerritSsh, Path],
) -> None:
    fake, key = gerrit
    sink = Events(fake.changes)
    listener = listener_for(fake, key, sink, MemoryCursor())
    stop = asyncio.Event()
    running = asyncio.ensure_future(listener.run(stop))
    try:
        await fake.changes.until(lambda: fake.streaming() == 1)
        now = time.time()
        fake.publish(
            {
                "type": "patchset-created",
                "eventCreatedOn": int(now),
                "change": CHANGE,
                "patchSet": patchset(1, now),
                "uploader": {"username": "dev"},
            }
        )
        fake.publish(
            {
                "type": "patchset-created",
                "eventCreatedOn": int(now),
                "change": {**CHANGE, "project": "not/ours"},
                "patchSet": patchset(1, now),
            }
        )
        fake.publish({"type": "reviewer-added", "change": CHANGE})
        await fake.changes.until(lambda: len(sink.events) == 1)
        assert sink.kinds() == ["patchset-created"]

        # Gerrit goes away; a vote is cast while it is gone.
        fake.drop()
        voted = now + 5
        fake.rows[("acme/app", 7)] = {
            **CHANGE,
            "status": "NEW",
            "createdOn": int(now),
            "lastUpdated": int(voted),
            "owner": {"username": "dev"},
            "patchSets": [
                {
                    **patchset(1, now),
                    "approvals": [
                        {
                            "type": "Code-Review",
                            "value": "2",
                            "by": {"username": "core"},
                            "grantedOn": int(voted),
                        },
                        {
                            "type": "Workflow",
                            "value": "1",
                            "by": {"username": "core"},
                            "grantedOn": int(voted),
                        },
                    ],
                }
            ],
        }
        await fake.changes.until(lambda: len(sink.events) == 2)
        vote = sink.events[1]
        assert vote.kind == "comment-added"
        assert vote.approvals == (("Code-Review", 2), ("Workflow", 1))
        assert listener.drops == 1
        assert fake.queries  # found by a query

        # The stream, open again, carries what comes next; what it carries
        # that the catch-up already handed on is not handed on again.
        await fake.changes.until(lambda: fake.streaming() == 1)
        fake.publish(
            {
                "type": "comment-added",
                "eventCreatedOn": int(voted),
                "change": CHANGE,
                "patchSet": patchset(1, now),
                "author": {"username": "core"},
                "approvals": [
                    {"type": "Code-Review", "value": "2"},
                    {"type": "Workflow", "value": "1"},
                ],
                "comment": "Patch Set 1: Code-Review+2 Workflow+1",
            }
        )
        fake.publish(
            {
                "type": "change-merged",
                "eventCreatedOn": int(voted) + 1,
                "change": CHANGE,
                "patchSet": patchset(1, now),
                "submitter": {"username": "core"},
            }
        )
        await fake.changes.until(lambda: len(sink.events) == 3)
        assert sink.kinds() == ["patchset-created", "comment-added", "change-merged"]
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)


async def test_a_server_that_refuses_the_key_is_tried_again_with_back_off(
    gerrit: tuple[FakeGerritSsh, Path], tmp_path: Path
) -> None:
    fake, _ = gerrit
    stranger = tmp_path / "stranger"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(stranger)
    listener = listener_for(fake, stranger, EventList(), MemoryCursor())
    stop = asyncio.Event()
    running = asyncio.ensure_future(listener.run(stop))
    await fake.changes.until(lambda: fake.attempts >= 4)
    stop.set()
    await asyncio.wait_for(running, 10)
    assert fake.streaming() == 0
    # Each refusal waits twice as long as the one before.
    assert list(listener.waits)[:3] == [0.05, 0.1, 0.2]


async def test_where_the_listener_stands_outlives_a_restart(tmp_path: Path) -> None:
    store = await open_store(StoreSettings(backend="sqlite", path=tmp_path / "store.db"))
    try:
        cursor = StoredCursor(store, "review")
        assert (await cursor.load()).at is None
        position = Position(at=1000.0)
        position.recent.append(("comment-added|acme/app|7|1", 999.0))
        await cursor.save(position)
        position.at = 1001.0
        await cursor.save(position)
        again = await StoredCursor(store, "review").load()
        assert again.at == 1001.0
        assert list(again.recent) == [("comment-added|acme/app|7|1", 999.0)]
    finally:
        await store.close()


async def test_a_new_site_takes_no_event_from_before_it_started(
    gerrit: tuple[FakeGerritSsh, Path],
) -> None:
    fake, key = gerrit
    before = time.time() - 30
    fake.rows[("acme/app", 7)] = {
        **CHANGE,
        "status": "NEW",
        "createdOn": int(before),
        "lastUpdated": int(before),
        "patchSets": [
            {
                **patchset(1, before),
                "approvals": [
                    {
                        "type": "Workflow",
                        "value": "1",
                        "by": {"username": "core"},
                        "grantedOn": int(before),
                    }
                ],
            }
        ],
    }
    sink = Events(fake.changes)
    listener = listener_for(fake, key, sink, MemoryCursor())
    stop = asyncio.Event()
    running = asyncio.ensure_future(listener.run(stop))
    try:
        await fake.changes.until(lambda: fake.streaming() == 1)
        now = time.time()
        fake.publish(
            {
                "type": "patchset-created",
                "eventCreatedOn": int(now),
                "change": CHANGE,
                "patchSet": patchset(2, now),
                "uploader": {"username": "dev"},
            }
        )
        await fake.changes.until(lambda: len(sink.events) == 1)
        assert [(e.kind, e.patchset) for e in sink.events] == [("patchset-created", 2)]
        assert fake.queries == []  # nothing to catch up on a first start
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)


async def test_a_stop_ends_a_catch_up_that_gerrit_does_not_answer(
    gerrit: tuple[FakeGerritSsh, Path],
) -> None:
    fake, key = gerrit
    fake.stall_queries = True
    cursor = MemoryCursor()
    cursor.position = Position(at=time.time() - 600)  # a site that ran before
    listener = listener_for(fake, key, EventList(), cursor)
    stop = asyncio.Event()
    running = asyncio.ensure_future(listener.run(stop))
    await fake.changes.until(lambda: len(fake.queries) == 1)
    stop.set()
    await asyncio.wait_for(running, 5)  # not the query's 30 s timeout
