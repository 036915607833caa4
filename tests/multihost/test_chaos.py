"""Thirty changes through the gate of a site spread over four hosts that
share nothing but the network, while components are killed with SIGKILL at
random moments and started again, and one executor host is cut off for
longer than the ZooKeeper session timeout, then joined again.

Host 1: two schedulers (sharing the pipelines), the git component, a web
server. Hosts 2 and 3: an executor and a launcher each, in zones of their
own, with their own nodes. Host 4: a web server. Host 5: ZooKeeper, the
S3 log store (moto's server) and the history's PostgreSQL server.

Afterwards: every change ended merged or reported; none merged twice; the
branch is exactly the merged changes in queue order; no provider ever had
more nodes than its max-servers; once the executor hosts are taken down no
node, lock or build record is left; the two schedulers, both running again,
keep two pipelines each; every build's console is readable from both web
servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.history.pgserver import require
from tests.logstore.motoserver import ACCESS_KEY, SECRET_KEY, MotoServer
from tests.multihost.network import HostNetwork, host_network
from tests.multihost.site import Component, executor_host, history_database, host_config
from tests.test_gate_restart import git
from trunkgate.builds import paths
from trunkgate.config.loader import Config, load_config
from trunkgate.demo.run import gate_outcome
from trunkgate.pool.repository import PoolRecords
from trunkgate.pool.states import USES_CAPACITY
from trunkgate.review.model import ChangeStatus
from trunkgate.scheduler import layout
from trunkgate.site import open_site_review, open_site_store
from trunkgate.store import NoRecord, Store
from trunkgate.store.zkserver import ZooKeeperServer, missing

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))

PROJECT = "acme/app"
CHANGES = 30
MAX_SERVERS = 3
SESSION_TIMEOUT_S = 4.0
CUT_S = 10.0
#: How long the whole gate may take, kills and cut included.
PATIENCE_S = 300.0

SITE = """\
jobs:
  - name: checks
    run:
      - test -f README
projects:
  - name: acme/app
    gate: [checks]
"""


def web_host(address: str) -> str:
    return f"web:\n  listen: {address}\n  port: 9000\n"


@contextlib.contextmanager
def servers(net: HostNetwork, root: Path) -> Iterator[tuple[ZooKeeperServer, MotoServer, str]]:
    """ZooKeeper, the log store and the history's database (its URL), all on host 5."""
    zookeeper = ZooKeeperServer(root / "zk", address=net.address(5))
    moto = MotoServer(host=net.address(5))
    net.in_host(5, zookeeper.start)
    try:
        net.in_host(5, moto.start)
        try:
            net.in_host(5, lambda: make_bucket(moto.endpoint))
            with history_database(net, 5, root) as history:
                yield zookeeper, moto, history
        finally:
            net.in_host(5, moto.stop)
    finally:
        net.in_host(5, zookeeper.stop)


def make_bucket(endpoint: str) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    client.create_bucket(Bucket="site-logs")
    client.close()


def seeded_work(root: Path) -> Path:
    work = root / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "README").write_text("app\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Initial")
    return work


def change_commit(work: Path, index: int) -> str:
    git(work, "checkout", "-q", "--detach", "main")
    (work / f"file-{index}.txt").write_text(f"{index}\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", f"Change {index}")
    commit = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "main")
    return commit


@pytest.fixture(autouse=True)
def _no_metadata_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_thirty_changes_gate_through_kills_and_a_cut(tmp_path: Path) -> None:
    require()
    seed = int(os.environ.get("TRUNKGATE_CHAOS_SEED", random.randrange(1 << 30)))
    print(f"chaos seed {seed} (TRUNKGATE_CHAOS_SEED to run it again)")
    chance = random.Random(seed)
    for name, key in (("access", ACCESS_KEY), ("secret", SECRET_KEY)):
        (tmp_path / name).write_text(key)
        (tmp_path / name).chmod(0o600)
    work = seeded_work(tmp_path)
    with host_network(5) as net, servers(net, tmp_path) as (zookeeper, moto, history):

        def config(host: int, own: str) -> Path:
            return host_config(
                tmp_path,
                net,
                host,
                zookeeper.hosts,
                SITE + own,
                history=history,
                logs_endpoint=moto.endpoint,
            )

        paths_ = {
            1: config(1, web_host(net.address(1))),
            2: config(2, executor_host("a", MAX_SERVERS, console_listen=net.address(2))),
            3: config(3, executor_host("b", MAX_SERVERS, console_listen=net.address(3))),
            4: config(4, web_host(net.address(4))),
        }
        configs = {host: load_config(path) for host, path in paths_.items()}
        scheduler_a = Component(net, 1, paths_[1], "scheduler")
        scheduler_b = Component(net, 1, paths_[1], "scheduler")
        scheduler_b.log = tmp_path / "h1-scheduler-b.log"
        git_daemon = Component(net, 1, paths_[1], "git")
        web_1 = Component(net, 1, paths_[1], "web")
        executors = [Component(net, h, paths_[h], "executor") for h in (2, 3)]
        launchers = [Component(net, h, paths_[h], "launcher") for h in (2, 3)]
        web_4 = Component(net, 4, paths_[4], "web")
        everything = [scheduler_a, scheduler_b, git_daemon, web_1, *executors, *launchers, web_4]
        killable = [scheduler_a, scheduler_b, git_daemon, *executors, *launchers]
        try:
            for component in everything:
                component.start()
            outcome = net.in_host(
                1,
                lambda: asyncio.run(
                    run_the_gate(
                        configs[1],
                        work,
                        net=net,
                        chance=chance,
                        killable=killable,
                        configs=configs,
                    )
                ),
            )
        finally:
            for component in everything:
                component.stop()
            # Whatever happened, the executor hosts' nodes go.
            downs = [net.in_host(host, lambda h=host: down(paths_[h])) for host in (2, 3)]
        numbers, order, most_nodes = outcome
        # Nothing of a build is left once the executor hosts are taken down.
        assert downs == [None, None], downs
        left = net.in_host(1, lambda: asyncio.run(leftovers(configs[1])))
        assert left == [], left
        said = "\n".join(c.said() for c in everything)
        assert "Traceback" not in said, said[-5000:]
        for provider, most in most_nodes.items():
            assert most <= MAX_SERVERS, f"{provider} had {most} nodes"
        bare = configs[1].data_dir / "git" / f"{PROJECT}.git"
        # Along the branch's first parents: each change once, as its own
        # commit (a fast-forward) or the merge of it, in queue order.
        index_of = {number: index for index, number in enumerate(numbers)}
        landed = []
        for subject in git(
            bare, "log", "--first-parent", "--reverse", "--format=%s", "main"
        ).splitlines()[1:]:
            if merge := re.fullmatch(rf"Merge change {PROJECT}~(\d+),\d+", subject):
                landed.append(index_of[int(merge.group(1))])
            else:
                landed.append(int(subject.removeprefix("Change ")))
        assert landed == order
        no_merges = git(bare, "log", "--no-merges", "--format=%s", "main").splitlines()
        assert sorted(no_merges) == sorted([*(f"Change {i}" for i in order), "Initial"])
        print(f"{len(order)} of {len(numbers)} changes merged")


async def run_the_gate(
    config: Config,
    work: Path,
    *,
    net: HostNetwork,
    chance: random.Random,
    killable: list[Component],
    configs: dict[int, Config],
) -> tuple[list[int], list[int], dict[str, int]]:
    """Proposes and approves the changes, kills and cuts while they gate;
    the change numbers, the indexes of those merged in the order they
    were approved, and the most nodes each provider had at once."""
    store = await open_site_store(config)
    try:
        review = open_site_review(config, store)
        await review.create_project(PROJECT, "main", seed=work)
        numbers = []
        for index in range(CHANGES):
            proposed = await review.propose(PROJECT, "main", work, change_commit(work, index))
            numbers.append(proposed.change.number)
        for number in numbers:
            await review.approve(number)
        most_nodes: dict[str, int] = {}
        cut_done = False
        started = time.monotonic()
        next_kill = started + chance.uniform(2, 5)
        while True:
            changes = [await review.get(n) for n in numbers]
            if all(gate_outcome(c) is not None for c in changes):
                break
            now = time.monotonic()
            if now - started >= PATIENCE_S:
                # What the records said, for whoever reads why it stalled.
                dump = work.parent / "store-at-stall.json"
                dump.write_text(json.dumps(await everything_in(store), indent=1))
                stalled = [c.number for c in changes if gate_outcome(c) is None]
                raise AssertionError(f"changes {stalled} never ended; the store is in {dump}")
            await count_nodes(store, most_nodes)
            if now >= next_kill:
                victim = chance.choice(killable)
                victim.kill()
                await asyncio.sleep(chance.uniform(0.2, 2.0))
                victim.start()
                next_kill = time.monotonic() + chance.uniform(3, 8)
            if not cut_done and now - started > 8:
                cut_done = True
                await cut_off(net, 3, store, most_nodes)
            await asyncio.sleep(0.2)
        assert cut_done, "the gate ended before the cut"
        # Build records and locks go while the components run (a lock that
        # an executor killed meanwhile still held goes once its session has).
        deadline = time.monotonic() + 3 * SESSION_TIMEOUT_S + 10
        while left := await build_leftovers(store):
            assert time.monotonic() < deadline, left
            await asyncio.sleep(0.5)
        # Both schedulers up again: the pipelines spread over them evenly.
        while (kept := await keepers(store, config)) and (
            len(kept) != 2 or max(kept.values()) - min(kept.values()) > 1
        ):
            assert time.monotonic() < deadline, kept
            await asyncio.sleep(0.5)
        order = [i for i, c in enumerate(changes) if c.status is ChangeStatus.MERGED]
        # Every change ended reported, merged or not.
        assert all(gate_outcome(c) in ("SUCCESS", "FAILURE") for c in changes)
        await check_logs(store, configs, numbers)
        return numbers, order, most_nodes
    finally:
        await store.close()


async def everything_in(store: Store, path: str = "/") -> dict[str, Any]:
    """Every record of the store under `path`, by path."""
    found: dict[str, Any] = {}
    with contextlib.suppress(NoRecord):
        record = await store.get(path) if path != "/" else None
        if record is not None:
            found[path] = record.value
        for child in await store.children(path):
            found.update(await everything_in(store, f"{path.rstrip('/')}/{child}"))
    return found


async def keepers(store: Store, config: Config) -> Counter[str | None]:
    """How many pipelines each scheduler keeps (None: not kept)."""
    return Counter([await store.lock_owner(layout.keeper(name)) for name in config.pipelines])


async def cut_off(net: HostNetwork, host: int, store: Store, most: dict[str, int]) -> None:
    """The host off the network for longer than a session lasts."""
    net.cut(host)
    ends = time.monotonic() + CUT_S
    while time.monotonic() < ends:
        await count_nodes(store, most)
        await asyncio.sleep(0.2)
    net.join(host)


async def count_nodes(store: Store, most: dict[str, int]) -> None:
    counts: dict[str, int] = {}
    for node in await PoolRecords(store).nodes():
        if node.state in USES_CAPACITY:
            counts[node.provider] = counts.get(node.provider, 0) + 1
    for provider, count in counts.items():
        most[provider] = max(most.get(provider, 0), count)


async def check_logs(store: Store, configs: dict[int, Config], numbers: list[int]) -> None:
    """Every build of the changes has its console on both web servers."""
    for host in (1, 4):
        base = f"http://{configs[host].web.listen}:9000"
        builds = await asyncio.to_thread(get_json, f"{base}/api/builds?limit=500")
        ended = [b for b in builds["builds"] if b["result"] is not None]
        assert {b["change"] for b in ended} >= set(numbers) - {None}
        for build in ended:
            console = await asyncio.to_thread(get_text, f"{base}/builds/{build['id']}/console.log")
            assert f"Build {build['id']}" in console


def get_text(url: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as answer:
                text: str = answer.read().decode()
                return text
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def get_json(url: str) -> Any:
    return json.loads(get_text(url))


def down(config: Path) -> str | None:
    """`trunkgate down` on the host; what it said when it failed."""
    result = subprocess.run(
        [sys.executable, "-m", "trunkgate.cli.main", "-c", str(config), "down"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stderr if result.returncode else None


async def leftovers(config: Config) -> list[str]:
    store = await open_site_store(config)
    try:
        left = await build_leftovers(store)
        left += [f"node {n.id} ({n.state})" for n in await PoolRecords(store).nodes()]
        return left
    finally:
        await store.close()


async def build_leftovers(store: Store) -> list[str]:
    left = []
    for parent in (
        paths.BUILD_REQUESTS,
        paths.BUILD_RESULTS,
        paths.BUILD_LOCKS,
        paths.BUILD_CONSOLES,
    ):
        with contextlib.suppress(NoRecord):
            left += [f"{parent}/{n}" for n in await store.children(parent)]
    return left
