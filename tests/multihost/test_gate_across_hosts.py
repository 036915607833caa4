"""A gate spread over hosts that share nothing but the network: the
scheduler and the git component on one, an executor with its launcher and
nodes on another, ZooKeeper and the history's PostgreSQL server on a third.
Each host has its own data directory; changes reach the executor over git's
protocol."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from tests.history.pgserver import require
from tests.multihost.network import host_network
from tests.multihost.site import Component, history_database, host_config
from tests.test_gate_restart import git, side_commit
from trunkgate.config.loader import Config, load_config
from trunkgate.demo.run import gate_outcome
from trunkgate.pool.providers import make_driver
from trunkgate.review.model import ChangeStatus
from trunkgate.site import open_site_review, open_site_store
from trunkgate.store.zkserver import ZooKeeperServer, missing

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))

PROJECT = "acme/app"
SITE = """\
jobs:
  - name: reads
    run:
      - test -f one.txt
projects:
  - name: acme/app
    gate: [reads]
"""
EXECUTOR = """\
providers:
  - name: solo
    driver: namespace
    max-servers: 4
    labels: [{name: default, image: host}]
"""


async def gate_two_changes(config: Config, work: Path) -> None:
    store = await open_site_store(config)
    try:
        review = open_site_review(config, store)
        await review.create_project(PROJECT, "main", seed=work)
        first = await review.propose(PROJECT, "main", work, side_commit(work, "one.txt"))
        git(work, "checkout", "-q", "--detach", first.change.commit)
        (work / "two.txt").write_text("two\n")
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", "Add two.txt on one.txt")
        second = await review.propose(PROJECT, "main", work, git(work, "rev-parse", "HEAD"))
        git(work, "checkout", "-q", "main")
        numbers = (first.change.number, second.change.number)
        for number in numbers:
            await review.approve(number)
        deadline = time.monotonic() + 120
        while not all([gate_outcome(await review.get(n)) for n in numbers]):
            assert time.monotonic() < deadline, "not every change was reported"
            await asyncio.sleep(0.2)
        changes = [await review.get(n) for n in numbers]
        assert [gate_outcome(c) for c in changes] == ["SUCCESS", "SUCCESS"]
        assert [c.status for c in changes] == [ChangeStatus.MERGED] * 2
    finally:
        await store.close()


async def delete_nodes(config: Config) -> None:
    for provider in config.providers.values():
        driver = make_driver(provider, config)
        for instance in await driver.list_instances():
            with contextlib.suppress(Exception):
                await driver.delete(instance.external_id)


def test_a_change_gates_on_an_executor_host_that_shares_no_disk(tmp_path: Path) -> None:
    require()
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "README").write_text("app\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Initial")
    with host_network(3) as net, history_database(net, 3, tmp_path) as history:
        server = ZooKeeperServer(tmp_path / "zk", address=net.address(3))
        net.in_host(3, server.start)
        try:
            paths = {
                1: host_config(tmp_path, net, 1, server.hosts, SITE, history=history),
                2: host_config(tmp_path, net, 2, server.hosts, SITE + EXECUTOR, history=history),
            }
            configs = {h: load_config(p) for h, p in paths.items()}
            sides = [
                Component(net, 1, paths[1], "scheduler,git"),
                Component(net, 2, paths[2], "executor,launcher"),
            ]
            try:
                for side in sides:
                    side.start()
                net.in_host(1, lambda: asyncio.run(gate_two_changes(configs[1], work)))
            finally:
                for side in sides:
                    side.stop()
                net.in_host(2, lambda: asyncio.run(delete_nodes(configs[2])))
            assert all("Traceback" not in side.said() for side in sides)
            # The executor's host fetched the changes; it holds nothing of host 1's.
            assert not (configs[2].data_dir / "git").exists()
        finally:
            net.in_host(3, server.stop)
