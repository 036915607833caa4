"""An executor takes no more builds than it has room for (by default, as
many as its zone's providers have nodes), the oldest first: the rest stay
unclaimed for an executor with room, and it takes them once a build ends."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.executor.test_service_cancel import post_build, project_pool
from tests.pool.site import PoolSite
from trunkgate.builds import paths
from trunkgate.builds.records import BuildAnswer
from trunkgate.executor.decisions import build_capacity
from trunkgate.executor.service import ExecutorService

SITE = """\
labels:
  - name: default
providers:
  - name: east
    driver: namespace
    max-servers: 1
    labels: [{name: default}]
jobs:
  - name: slow
    timeout: 60s
    run:
      - echo STEP-STARTED; sleep 2
projects:
  - name: acme/app
    post: [slow]
"""


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[PoolSite]:
    async with project_pool(tmp_path, SITE) as pool:
        yield pool


def test_the_room_is_the_node_capacity_of_the_executors_zone() -> None:
    providers = [("a", 3), ("a", 2), ("b", 4), (None, 5)]
    assert build_capacity(providers, "a") == 5
    assert build_capacity(providers, None) == 5
    assert build_capacity(providers, "c") == 1  # none of its own: one at a time


async def test_an_executor_with_room_for_one_build_leaves_the_newer_one_waiting(
    pool: PoolSite,
) -> None:
    assert pool.store is not None
    store = pool.store
    # The newer build's name sorts first: the executor goes by age, not name.
    older = post_build("zz-older", "post#1")
    newer = dataclasses.replace(post_build("aa-newer", "post#2"), created=older.created + 1)
    stop = asyncio.Event()
    executor = asyncio.ensure_future(ExecutorService(pool.config, store).run(stop))
    try:
        for request in (older, newer):
            await store.create(paths.build_request(request.id), request)
        logs = pool.config.data_dir / "logs"
        deadline = time.monotonic() + 60
        while not any("STEP-STARTED" in p.read_text() for p in logs.rglob("console.log")):
            assert time.monotonic() < deadline, "no build started its step"
            await asyncio.sleep(0.05)
        # One node, one build at a time: the older runs, the newer is free
        # for any executor to take.
        assert await store.lock_owner(paths.build_lock(older.id)) is not None
        assert await store.lock_owner(paths.build_lock(newer.id)) is None
        async with asyncio.timeout(60), store.watch(paths.BUILD_RESULTS) as results:
            await results.arm()
            while await store.get(paths.build_result(newer.id)) is None:
                await results.changed(1.0)
        answers = []
        for request in (older, newer):
            record = await store.get_model(paths.build_result(request.id), BuildAnswer)
            assert record is not None
            answers.append(record.value)
        assert [a.result for a in answers] == ["SUCCESS", "SUCCESS"]
        assert answers[0].ended <= answers[1].started
    finally:
        stop.set()
        await executor
