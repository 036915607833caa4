"""A build runs to its end once, whatever happens to the executor running it:
it loses its store session (its claim goes, another run may start), it is
stopped (the build runs again later, and that run's end is the one
recorded), or it stopped between recording the end and answering."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pool.site import PoolSite
from tests.scheduler.harness import SchedulerSite
from trunkgate.builds import paths
from trunkgate.builds.records import BuildRequest, history_buildset, split_bases
from trunkgate.executor.service import ExecutorService
from trunkgate.history.site import open_site_history
from trunkgate.pool.drivers.namespace import host
from trunkgate.pool.records import Node
from trunkgate.pool.states import NodeState
from trunkgate.site import store_settings
from trunkgate.store import Store
from trunkgate.store.sqlite.store import SqliteStore

STATE = "state:\n  data-dir: ./data\n  lease: 2s\n"
SITE = """\
labels:
  - name: default
providers:
  - name: solo
    driver: namespace
    # One build at a time: a build run again gets a node only once the
    # node of the run before it is given back.
    max-servers: 1
    labels: [{{name: default}}]
jobs:
  - name: build
    timeout: 120s
    run: [sleep {seconds}]
projects:
  - name: acme/app
    check: [build]
"""
PATIENCE = 60.0


@dataclass
class Site:
    scheduler: SchedulerSite
    pool: PoolSite
    executors: list[tuple[asyncio.Event, asyncio.Task[None]]]

    @property
    def store(self) -> Store:
        assert self.scheduler.store is not None
        return self.scheduler.store

    def start_executor(self, store: Store | None = None) -> asyncio.Event:
        stop = asyncio.Event()
        service = ExecutorService(self.scheduler.config, store or self.store)
        self.executors.append((stop, asyncio.ensure_future(service.run(stop))))
        return stop

    async def stop_executors(self) -> None:
        for stop, task in self.executors:
            stop.set()
            await task
        self.executors.clear()

    async def verified(self, number: int) -> int | None:
        change = await self.scheduler.change(number)
        return change.votes_on().get("Verified")


MakeSite = Callable[[int], Awaitable[Site]]


@pytest.fixture
async def make_site(tmp_path: Path) -> AsyncIterator[MakeSite]:
    sites: list[Site] = []

    async def make(seconds: int) -> Site:
        body = SITE.format(seconds=seconds)
        pool = PoolSite(tmp_path, body)
        scheduler = SchedulerSite(tmp_path, STATE + body)
        await scheduler.open()
        await pool.open()
        site = Site(scheduler, pool, [])
        sites.append(site)
        return site

    yield make
    for site in sites:
        await site.stop_executors()
        await site.scheduler.close()
        await site.pool.close()


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not await check():
        assert time.monotonic() < deadline, f"{what} did not happen within {PATIENCE:g} s"
        await asyncio.sleep(0.05)


def in_use(nodes: list[Node]) -> bool:
    return any(n.state == NodeState.IN_USE for n in nodes)


async def test_an_executor_that_loses_its_session_stops_its_build(make_site: MakeSite) -> None:
    site = await make_site(90)
    shift = 0.0
    settings = store_settings(site.scheduler.config)
    # Its own session, on a clock the test can move back: the other sessions
    # then find its lease run out and end it, as when it stalls.
    executor_store = await SqliteStore.open(
        settings.path, lease_s=settings.lease_s, clock=lambda: time.time() + shift
    )
    try:
        site.pool.start("solo")
        site.start_executor(executor_store)
        site.scheduler.start_scheduler()
        await site.scheduler.propose("a.txt", "new\n", "Change a")
        (node,) = await site.pool.wait_for(in_use, within=PATIENCE)
        assert node.build is not None
        lost = executor_store.session_lost
        shift = -1000.0
        async with asyncio.timeout(PATIENCE):
            await lost.wait()
        shift = 0.0
        # Stopped, not finished: its node is given back long before the job's
        # sleep could end, and the build is not answered by the stopped run.
        await site.pool.wait_for(
            lambda nodes: all(n.state != NodeState.IN_USE for n in nodes if n.id == node.id),
            within=PATIENCE,
        )
        assert await site.store.get(paths.build_result(node.build)) is None
    finally:
        await site.stop_executors()
        await executor_store.close()


async def test_a_stopped_build_runs_again_and_its_end_is_recorded_once(
    make_site: MakeSite,
) -> None:
    site = await make_site(3)
    site.pool.start("solo")
    site.start_executor()
    site.scheduler.start_scheduler()
    number = await site.scheduler.propose("a.txt", "new\n", "Change a")
    (node,) = await site.pool.wait_for(in_use, within=PATIENCE)
    assert node.build is not None
    await site.stop_executors()
    history = await open_site_history(site.scheduler.config)
    try:
        stopped = await history.build(node.build)
        assert stopped is not None
        assert stopped.result is None

        site.start_executor()
        await until(lambda: _is(site.verified(number), 1), "the check report")
        done = await history.build(node.build)
        assert done is not None
        assert done.result == "SUCCESS"
    finally:
        await history.close()


async def test_a_build_run_again_after_a_kill_gives_back_the_node_of_the_killed_run(
    make_site: MakeSite,
) -> None:
    site = await make_site(3)
    site.pool.start("solo")
    site.scheduler.start_scheduler()
    number = await site.scheduler.propose("a.txt", "new\n", "Change a")
    killed = await site.pool.serve("executor")
    try:
        (node,) = await site.pool.wait_for(in_use, within=PATIENCE)
    finally:
        killed.send_signal(signal.SIGKILL)
        await killed.wait()
    # No reaper runs, and the provider has room for one node only: the
    # build, run again, gets one once it has given back the killed run's.
    site.start_executor()
    await until(lambda: _is(site.verified(number), 1), "the check report")
    await site.pool.wait_for(lambda nodes: node.id not in {n.id for n in nodes})


async def test_a_build_whose_end_is_in_the_history_is_not_run_again(
    make_site: MakeSite,
) -> None:
    site = await make_site(3)
    site.scheduler.start_scheduler()
    number = await site.scheduler.propose("a.txt", "new\n", "Change a")
    await site.scheduler.wait_pending(lambda requests: len(requests) == 1)
    (request,) = await site.scheduler.pending()
    # What an executor stopped between recording the end and answering leaves.
    await record_finished(site, request)
    # No launcher runs: a build run again would wait for a node for ever.
    site.start_executor()
    await until(lambda: _is(site.verified(number), 1), "the check report")
    assert await site.pool.nodes() == []


async def record_finished(site: Site, request: BuildRequest) -> None:
    history = await open_site_history(site.scheduler.config)
    try:
        buildset = history_buildset(request.site, request.buildset)
        await history.add_buildset(
            uuid=buildset,
            pipeline=request.pipeline,
            project=request.project,
            change=request.change,
            patchset=request.patchset,
            site=request.site,
        )
        await history.add_build(
            id=request.id,
            buildset=buildset,
            job=request.job,
            tree=split_bases(request.commits)[0],
        )
        await history.finish_build(request.id, result="SUCCESS")
    finally:
        await history.close()


async def _is(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def test_an_executor_killed_while_collecting_leaves_no_mount_after_the_next_start(
    make_site: MakeSite,
) -> None:
    site = await make_site(1)
    logs = site.scheduler.config.data_dir / "logs" / "check-1-0123abcd" / "build"
    # What a killed executor's receiving area looks like: a tmpfs named by
    # its pid, a pid no process has now.
    dead = await asyncio.create_subprocess_exec("true")
    await dead.wait()
    area = logs / f".primary.receiving-{dead.pid}"
    area.mkdir(parents=True)
    mount = await asyncio.create_subprocess_exec(
        "mount", "-t", "tmpfs", "-o", "size=1m", "trunkgate-collect", str(area)
    )
    assert await mount.wait() == 0
    # One of a live executor's stays.
    live = logs / f".other.receiving-{os.getpid()}"
    live.mkdir()

    stop = site.start_executor()
    await until(lambda: asyncio.to_thread(_gone, area), "the dead executor's area")
    stop.set()
    await site.stop_executors()
    assert live.exists()
    assert not [m for m in host.mounts() if m.source == "trunkgate-collect"]


def _gone(area: Path) -> bool:
    return not area.exists() and not any(m.target == str(area) for m in host.mounts())
