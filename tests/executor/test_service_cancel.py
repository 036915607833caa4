"""The executor component cancelling a running build: however often the
cancel is asked for (the scheduler sends it again after a kill), the build's
history record is closed with its result, end and node provider."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.pool.site import PoolSite
from tests.scheduler.harness import git
from trunkgate.builds import paths
from trunkgate.builds.records import BuildRequest, TreeChange
from trunkgate.config.loader import Config
from trunkgate.executor import service
from trunkgate.executor.service import ExecutorService
from trunkgate.history import BuildRecord, History
from trunkgate.history.site import history_url, open_site_history
from trunkgate.site import open_site_review
from trunkgate.store import Store

PROJECT = "acme/app"
SITE = """\
labels:
  - name: default
providers:
  - name: east
    driver: namespace
    max-servers: 2
    labels: [{name: default}]
jobs:
  - name: slow
    timeout: 60s
    run:
      - echo STEP-STARTED; sleep 30; echo STEP-DONE
projects:
  - name: acme/app
    post: [slow]
"""


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[PoolSite]:
    async with project_pool(tmp_path, SITE) as pool:
        yield pool


@contextlib.asynccontextmanager
async def project_pool(tmp_path: Path, site: str) -> AsyncIterator[PoolSite]:
    """The site's pool, its launcher of provider `east` running, and the
    project on the local source with one commit."""
    pool = PoolSite(tmp_path / "site", site)
    store = await pool.open()
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "README").write_text("app\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Initial")
    await open_site_review(pool.config, store).create_project(PROJECT, "main", seed=work)
    try:
        pool.start("east")
        yield pool
    finally:
        await pool.close()


def post_build(build: str, buildset: str) -> BuildRequest:
    """The request for a `slow` build of the project's branch tip in post."""
    return BuildRequest(
        id=build,
        buildset=buildset,
        pipeline="post",
        queue=PROJECT,
        project=PROJECT,
        change=0,
        patchset=0,
        branch="main",
        job="slow",
        voting=True,
        tree=[TreeChange(PROJECT, 0, 0, "main")],
        commits={},
        created=time.time(),
        site="site-1",
    )


async def recorded(pool: PoolSite, build: str) -> BuildRecord:
    """The build as the site's history has it."""
    history = await open_site_history(pool.config)
    try:
        record = await history.build(build)
    finally:
        await history.close()
    assert record is not None, f"build {build} is not in the history"
    return record


async def send_cancel(store: Store, build: str) -> None:
    """What the scheduler's outbox does to cancel a build."""
    path = paths.build_request(build)
    record = await store.get_model(path, BuildRequest)
    assert record is not None
    record.value.cancel = True
    await store.set(path, record.value, version=record.version)


async def test_a_build_cancelled_again_and_again_is_closed_in_the_history(
    pool: PoolSite, tmp_path: Path
) -> None:
    assert pool.store is not None
    store = pool.store
    request = post_build("b0c1", "post#1")
    stop = asyncio.Event()
    executor = asyncio.ensure_future(ExecutorService(pool.config, store).run(stop))
    try:
        await store.create(paths.build_request(request.id), request)
        logs = pool.config.data_dir / "logs"
        deadline = time.monotonic() + 60
        while not any("STEP-STARTED" in p.read_text() for p in logs.rglob("console.log")):
            assert time.monotonic() < deadline, "the build never started its step"
            await asyncio.sleep(0.05)
        # Asked for again while the build is being cancelled, until it answers.
        while await store.get(paths.build_result(request.id)) is None:
            assert time.monotonic() < deadline, "the build was never answered"
            await send_cancel(store, request.id)
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await executor
    build = await recorded(pool, request.id)
    assert (build.result, build.node_provider) == ("CANCELED", "east")
    assert build.ended is not None


class SlowStart(History):
    """A history whose start records wait until let through."""

    asked: asyncio.Event
    let_through: asyncio.Event

    async def start_build(self, *args: Any, **kwargs: Any) -> bool:
        self.asked.set()
        await self.let_through.wait()
        return await super().start_build(*args, **kwargs)


async def test_a_build_cancelled_while_its_start_is_recorded_is_in_the_history(
    pool: PoolSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert pool.store is not None
    store = pool.store
    SlowStart.asked, SlowStart.let_through = asyncio.Event(), asyncio.Event()

    async def slow_history(config: Config) -> History:
        return await SlowStart.open(history_url(config))

    monkeypatch.setattr(service, "open_site_history", slow_history)
    request = post_build("b0c2", "post#2")
    stop = asyncio.Event()
    executor = asyncio.ensure_future(ExecutorService(pool.config, store).run(stop))
    try:
        await store.create(paths.build_request(request.id), request)
        async with asyncio.timeout(60):
            await SlowStart.asked.wait()
            await send_cancel(store, request.id)
            # The executor sees the cancel within milliseconds; then the start goes through.
            await asyncio.sleep(0.5)
            SlowStart.let_through.set()
            async with store.watch(paths.BUILD_RESULTS) as answers:
                await answers.arm()
                while await store.get(paths.build_result(request.id)) is None:
                    await answers.changed(1.0)
    finally:
        SlowStart.let_through.set()
        stop.set()
        await executor
    build = await recorded(pool, request.id)
    assert build.result == "CANCELED"
    assert build.ended is not None
