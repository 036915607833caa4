"""The scheduler's reading of its input records: a record it cannot read is
dropped, with a log line, and never stops the others from being read."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from trunkgate.builds.records import BuildAnswer
from trunkgate.scheduler.stored import read_records
from trunkgate.store.sqlite import SqliteStore


async def test_a_record_that_is_not_json_is_dropped_and_the_rest_are_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    async with await SqliteStore.open(path) as store:
        for name in ("a", "b", "c"):
            await store.create(f"/results/{name}", BuildAnswer(name, "SUCCESS", 1.0, 2.0))
        await store.create("/results/d", {"not": "an outcome"})
        with sqlite3.connect(path) as db:
            db.execute("UPDATE records SET data = 'not json {' WHERE path = '/results/b'")

        found = await read_records(store, "/results", BuildAnswer)

        assert [p for p, _ in found] == ["/results/a", "/results/c"]
        assert [o.id for _, o in found] == ["a", "c"]
        assert await store.children("/results") == ["a", "c"]
        dropped = [r.getMessage() for r in caplog.records if "dropping it" in r.getMessage()]
        assert dropped == [
            "scheduler: unreadable record /results/b; dropping it",
            "scheduler: unreadable record /results/d; dropping it",
        ]
