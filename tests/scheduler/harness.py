"""A site for scheduler tests: a config, the SQLite store, the local review
source with one real project repository, the scheduler running in a task, and
an executor double that answers build records through the store the way the
executor does, with results the test chooses."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from trunkgate.builds import paths
from trunkgate.builds.records import BuildAnswer, BuildRequest
from trunkgate.config.loader import Config, load_config
from trunkgate.history.records import BuildsetRecord
from trunkgate.history.site import open_site_history
from trunkgate.review.model import Change
from trunkgate.review.source import LocalReview
from trunkgate.review.sources import ReviewSources
from trunkgate.scheduler.core import Scheduler
from trunkgate.scheduler.stored import settled
from trunkgate.site import open_site_review, open_site_store
from trunkgate.store import RecordExists, Store

PROJECT = "acme/app"

CONFIG = """\
state:
  data-dir: ./data
  lease: 2s
labels:
  - name: default
jobs:
  - name: unit
    run: [make test]
  - name: lint
    run: [make lint]
projects:
  - name: acme/app
    check: [unit]
    gate: [unit, lint]
"""

Decide = Callable[[BuildRequest], str]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=Dev", "-c", "user.email=dev@example.org", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


class SchedulerSite:
    def __init__(self, directory: Path, config: str = CONFIG) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "trunkgate.yaml").write_text(textwrap.dedent(config))
        self.now = time.time()
        self.config: Config = load_config(directory / "trunkgate.yaml")
        self.work = directory / "work"
        self.store: Store | None = None
        self.review: LocalReview | None = None
        self.scheduler: Scheduler | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.requests: list[BuildRequest] = []
        self.decide: Decide = lambda request: "SUCCESS"
        self.hold = asyncio.Event()
        self.hold.set()

    async def open(self) -> None:
        self.store = await open_site_store(self.config)
        self.review = open_site_review(self.config, self.store)
        self.work.mkdir()
        git(self.work, "init", "-q", "-b", "main")
        for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
            (self.work / name).write_text(f"{name} line 1\n")
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", "Initial")
        await self.review.create_project(PROJECT, "main", seed=self.work)

    def start_scheduler(self) -> Scheduler:
        assert self.store is not None
        assert self.review is not None
        self._stop = asyncio.Event()
        self.scheduler = Scheduler(
            self.config, self.store, ReviewSources(self.review), clock=lambda: self.now
        )
        self._tasks.append(asyncio.ensure_future(self.scheduler.run(self._stop)))
        return self.scheduler

    async def stop_scheduler(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        self._tasks.clear()

    def start_executor(self) -> None:
        self._tasks.append(asyncio.ensure_future(self._execute()))

    async def _execute(self) -> None:
        assert self.store is not None
        answered: set[str] = set()
        async with self.store.watch(paths.BUILD_REQUESTS) as watch:
            while not self._stop.is_set():
                await self.hold.wait()
                for name in await self.store.children(paths.BUILD_REQUESTS):
                    record = await self.store.get_model(
                        f"{paths.BUILD_REQUESTS}/{name}", BuildRequest
                    )
                    if record is None or name in answered:
                        continue
                    request = record.value
                    answered.add(name)
                    self.requests.append(request)
                    result = "CANCELED" if request.cancel else self.decide(request)
                    now = time.time()
                    outcome = BuildAnswer(id=request.id, result=result, started=now, ended=now)
                    with contextlib.suppress(RecordExists):
                        await self.store.create(paths.build_result(request.id), outcome)
                await watch.changed(0.5)

    async def propose(self, name: str, text: str, subject: str) -> int:
        """A change editing `name` (from the branch tip), approved for the gate."""
        assert self.review is not None
        git(self.work, "checkout", "-q", "--detach", "main")
        (self.work / name).write_text(text)
        git(self.work, "commit", "-q", "-am", subject)
        commit = git(self.work, "rev-parse", "HEAD")
        git(self.work, "checkout", "-q", "main")
        proposed = await self.review.propose(PROJECT, "main", self.work, commit)
        return proposed.change.number

    async def pending(self) -> list[BuildRequest]:
        """Build records not answered yet."""
        assert self.store is not None
        found = []
        for name in await self.store.children(paths.BUILD_REQUESTS):
            record = await self.store.get_model(f"{paths.BUILD_REQUESTS}/{name}", BuildRequest)
            if record is not None:
                found.append(record.value)
        return found

    async def wait_pending(self, check: Callable[[list[BuildRequest]], bool]) -> None:
        """Wait until `check` holds for the builds asked for so far, answered or not."""
        deadline = time.monotonic() + 30
        while not check([*self.requests, *await self.pending()]):
            assert time.monotonic() < deadline, "the builds never showed up"
            await asyncio.sleep(0.02)

    async def change(self, number: int) -> Change:
        assert self.review is not None
        return await self.review.get(number)

    async def settled(self, within: float = 30.0) -> None:
        """Wait (bounded) until the scheduler has nothing left to do, as the
        store tells: every event, command and build answered, every report sent."""
        assert self.store is not None
        deadline = time.monotonic() + within
        while not await settled(self.store):
            assert time.monotonic() < deadline, "the scheduler did not settle"
            await asyncio.sleep(0.02)

    async def buildsets(self, pipeline: str) -> list[BuildsetRecord]:
        """The pipeline's buildsets in the history, the oldest first."""
        history = await open_site_history(self.config)
        try:
            return list(reversed(await history.buildsets(pipeline=pipeline)))
        finally:
            await history.close()

    async def results(self, pipeline: str) -> dict[int | None, str | None]:
        """How each change's last buildset in the pipeline ended, from the history."""
        return {b.change: b.result for b in await self.buildsets(pipeline)}

    async def settle(self, done: Callable[[], bool], within: float = 30.0) -> None:
        """Wait (bounded) until `done()` holds."""
        deadline = time.monotonic() + within
        while not done():
            assert time.monotonic() < deadline, "the scheduler did not settle"
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.store is not None:
            await self.store.close()
