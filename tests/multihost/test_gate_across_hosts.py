"""Not yet collected: its gate merges both changes, but their reports are
not seen within the wait (to be found next).

A gate spread over hosts that share nothing but the network: the
scheduler and the git component on one, an executor with its launcher and
nodes on another, ZooKeeper on a third. Each host has its own data
directory; changes reach the executor over git's protocol."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.multihost.network import HostNetwork, host_network
from tests.test_gate_restart import git, side_commit
from trunkgate.config.loader import Config, load_config
from trunkgate.demo.run import gate_outcome
from trunkgate.pool.providers import make_driver
from trunkgate.review.model import ChangeStatus
from trunkgate.site import open_site_review, open_site_store
from trunkgate.store.zkserver import ZooKeeperServer, missing

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))

PROJECT = "acme/app"
CONFIG = """\
state:
  backend: zookeeper
  hosts: {zookeeper}
  chroot: /site
  session-timeout: 4s
  data-dir: {data}
history:
  url: sqlite:///{root}/history.db
sources:
  - name: local
    driver: local
    git-url: git://{git_host}
    git-listen: {git_host}
labels:
  - name: default
    min-ready: 1
providers:
  - name: solo
    driver: namespace
    max-servers: 4
    labels: [{{name: default, image: host}}]
jobs:
  - name: reads
    run:
      - test -f one.txt
projects:
  - name: acme/app
    gate: [reads]
"""


def write_config(root: Path, host: int, net: HostNetwork, zookeeper: str) -> Path:
    path = root / f"h{host}.yaml"
    text = CONFIG.format(
        zookeeper=zookeeper, data=root / f"h{host}-data", root=root, git_host=net.address(1)
    )
    path.write_text(textwrap.dedent(text))
    return path


@contextlib.contextmanager
def serving(net: HostNetwork, host: int, config: Path, components: str) -> Iterator[None]:
    """`trunkgate serve` on the host, its log beside its config."""
    command = [sys.executable, "-m", "trunkgate.cli.main", "-c", str(config), "serve"]
    log = config.with_suffix(".log")
    with log.open("wb") as output:
        process = net.in_host(
            host,
            lambda: subprocess.Popen(
                [*command, "--components", components],
                stdout=subprocess.DEVNULL,
                stderr=output,
            ),
        )
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        said = log.read_text(errors="replace")
        assert "Traceback" not in said, said


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
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "README").write_text("app\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Initial")
    with host_network(3) as net:
        server = ZooKeeperServer(tmp_path / "zk", address=net.address(3))
        net.in_host(3, server.start)
        try:
            paths = {h: write_config(tmp_path, h, net, server.hosts) for h in (1, 2)}
            configs = {h: load_config(p) for h, p in paths.items()}
            try:
                with (
                    serving(net, 1, paths[1], "scheduler,git"),
                    serving(net, 2, paths[2], "executor,launcher"),
                ):
                    net.in_host(1, lambda: asyncio.run(gate_two_changes(configs[1], work)))
            finally:
                net.in_host(2, lambda: asyncio.run(delete_nodes(configs[2])))
            # The executor's host fetched the changes; it holds nothing of host 1's.
            assert not (configs[2].data_dir / "git").exists()
        finally:
            net.in_host(3, server.stop)
