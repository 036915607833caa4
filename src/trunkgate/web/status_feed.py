"""The status of every pipeline, kept ready for the web: rebuilt when the
scheduler stores a pipeline (a store watch, not a timer), and handed to every
request and every live page as the same encoded bytes. Each running job
gets its start from the history and an estimate: the median length of that
project's job in its latest successful builds."""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from trunkgate.config.loader import Config
from trunkgate.gate.codec import state_from_dict
from trunkgate.gate.state import PipelineState
from trunkgate.history import HistoryError
from trunkgate.history.database import History
from trunkgate.listings import iso_time, pipeline_status
from trunkgate.scheduler import layout
from trunkgate.store import Store, StoreError

log = logging.getLogger("trunkgate.web")

#: Successful builds the estimates are taken from, newest first.
ESTIMATE_SAMPLE = 2000
#: Latest successful runs of one job whose median is its estimate.
ESTIMATE_RUNS = 10
#: How long estimates are kept before the history is asked again.
ESTIMATE_TTL = 300.0
#: Start times remembered (builds are many; only running ones are asked for).
MOST_STARTS = 20_000
#: How soon a status whose running builds lack their start is made again,
#: and how many times a build's start is asked for before it is left out.
START_RETRY_S = 1.0
MOST_ASKS = 10
#: The least time between two statuses: one is made per burst of writes.
LEAST_GAP_S = 0.2
_ENDED = object()


def estimates(samples: Iterable[tuple[str, str, float]]) -> dict[tuple[str, str], float]:
    """The median of the first ESTIMATE_RUNS lengths of each (project, job),
    from (project, job, seconds) given newest first."""
    runs: dict[tuple[str, str], list[float]] = defaultdict(list)
    for project, job, seconds in samples:
        found = runs[(project, job)]
        if len(found) < ESTIMATE_RUNS:
            found.append(seconds)
    return {key: statistics.median(values) for key, values in runs.items()}


class StatusFeed:
    """The encoded status and its version; `changed` wakes on each new one."""

    def __init__(
        self,
        config: Config,
        store: Store,
        history: History,
        site: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._store = store
        self._history = history
        self._site = site
        self._clock = clock
        self.version = 0
        self.body = b"[]"
        self._rows: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._starts: dict[str, float] = {}
        self._estimates: dict[tuple[str, str], float] = {}
        self._estimated_at: float | None = None
        self._starts_missing = False
        self._by_pipeline: dict[str, tuple[int, dict[str, Any]]] = {}
        self._asked: defaultdict[str, int] = defaultdict(int)

    def rows(self) -> list[dict[str, Any]]:
        """The status as last published (not to be changed)."""
        return self._rows

    async def wait_newer(self, version: int) -> int:
        """Waits until the status is newer than `version`; returns the new version."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.version > version)
            return self.version

    async def run(self, stop: asyncio.Event) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        try:
            async with self._store.watch(layout.PIPELINES) as watch:
                turns = aiter(watch)
                while not stop.is_set():
                    turn = asyncio.ensure_future(anext(turns, _ENDED))
                    # A running build whose start the history does not have
                    # yet (the executor writes it just after) is asked for
                    # again soon, even if the pipeline does not change.
                    await asyncio.wait(
                        {turn, stopping},
                        timeout=START_RETRY_S if self._starts_missing else None,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if stop.is_set():
                        turn.cancel()
                        break
                    if turn.done() and turn.result() is _ENDED:
                        return  # the store closed
                    if not turn.done():
                        turn.cancel()
                        await asyncio.wait({turn})
                    # A busy scheduler writes many times a second: what it
                    # writes meanwhile is folded into the next turn.
                    await asyncio.sleep(LEAST_GAP_S)
                    await self.refresh()
        finally:
            stopping.cancel()

    async def refresh(self) -> None:
        """Reads every pipeline and publishes their status."""
        try:
            rows = await self._read_rows()
            await self._add_times(rows)
        except (StoreError, HistoryError) as exc:
            log.warning("web: cannot read the status: %s", exc)
            return
        body = json.dumps(rows, separators=(",", ":")).encode()
        if body == self.body:
            return
        async with self._changed:
            self._rows = rows
            self.body = body
            self.version += 1
            self._changed.notify_all()

    async def _read_rows(self) -> list[dict[str, Any]]:
        """Each pipeline's status; a pipeline whose record has not moved
        since the last time is not decoded again."""
        rows = []
        for name in self._config.pipelines:
            record = await self._store.get(layout.pipeline(name))
            version = record.version if record is not None else -1
            known = self._by_pipeline.get(name)
            if known is None or known[0] != version:
                if record is not None and isinstance(record.value, dict):
                    state = state_from_dict(record.value)
                else:
                    state = PipelineState(pipeline=name)
                known = (version, pipeline_status(state))
                self._by_pipeline[name] = known
            # Shared with the last status: only the times change, and
            # `_add_times` sets them afresh on every turn.
            rows.append(known[1])
        return rows

    async def _add_times(self, rows: list[dict[str, Any]]) -> None:
        """Each job gets `started` (seconds since the epoch, from the
        history) once it runs, and `estimate` (seconds) when past runs tell."""
        jobs = [
            (item["project"], job)
            for row in rows
            for queue in row["queues"]
            for item in queue["items"]
            for job in item["jobs"]
        ]
        unknown = {
            job["build"]
            for _, job in jobs
            if job["build"]
            and job["state"] != "REQUESTED"
            and job["build"] not in self._starts
            and self._asked[job["build"]] < MOST_ASKS
        }
        if unknown:
            if len(self._starts) > MOST_STARTS:
                self._starts.clear()
                self._asked.clear()
            for build in unknown:
                self._asked[build] += 1
            for record in await self._history.builds_with_ids(unknown):
                self._starts[record.id] = record.started.timestamp()
        self._starts_missing = any(
            job["state"] == "RUNNING"
            and job["build"] not in self._starts
            and self._asked[job["build"]] < MOST_ASKS
            for _, job in jobs
        )
        now = self._clock()
        if self._estimated_at is None or now - self._estimated_at > ESTIMATE_TTL:
            self._estimated_at = now
            recent = await self._history.builds(
                site=self._site, result="SUCCESS", limit=ESTIMATE_SAMPLE
            )
            self._estimates = estimates(
                (b.project, b.job, (b.ended - b.started).total_seconds())
                for b in recent
                if b.ended is not None
            )
        for project, job in jobs:
            job["started"] = iso_time(self._starts.get(job["build"])) if job["build"] else None
            job["estimate"] = self._estimates.get((project, job["job"]))
