"""Builds per minute with 1, 2 and 3 executor hosts of equal node capacity,
on the tests' hosts made of network namespaces (tests/multihost): the
scheduler and the git component on host 1, an executor and a launcher with
their own zone's nodes on each executor host, ZooKeeper and the history's
PostgreSQL server on host 5.

A steady stream of 10-second jobs: enough changes are proposed at once for
the `check` pipeline that every executor host stays busy for the whole
window; the window opens when the first build ends and builds that ended
inside it are counted from the history. The jobs sleep: what is measured is
trunkgate's handing out of work, not the CPU of a 2-core machine, and the
CPU's busy share over each window is printed beside it to show that it was
not the limit.

Prints one JSON object: {"builds_per_min": {"1": ..., "2": ..., "3": ...},
"efficiency_3": rate(3) / (3 x rate(1)), "cpu_busy": {...}}. Needs root.

    .venv/bin/python bench/scaleout.py [--window 90] [--nodes 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' harness

from tests.multihost.network import host_network
from tests.multihost.site import Component, executor_host, history_database, host_config
from tests.test_gate_restart import git

from trunkgate.config.loader import Config, load_config
from trunkgate.history.site import open_site_history
from trunkgate.pool.providers import make_driver
from trunkgate.site import open_site_review, open_site_store
from trunkgate.store.zkserver import ZooKeeperServer

PROJECT = "acme/app"
JOB_S = 10
SITE = f"""\
jobs:
  - name: ten-seconds
    run:
      - sleep {JOB_S}
projects:
  - name: {PROJECT}
    check: [ten-seconds]
"""


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of every CPU since boot."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


async def propose(config: Config, work: Path, count: int) -> None:
    store = await open_site_store(config)
    try:
        review = open_site_review(config, store)
        await review.create_project(PROJECT, "main", seed=work)
        for index in range(count):
            git(work, "checkout", "-q", "--detach", "main")
            (work / f"file-{index}.txt").write_text(f"{index}\n")
            git(work, "add", "-A")
            git(work, "commit", "-q", "-m", f"Change {index}")
            commit = git(work, "rev-parse", "HEAD")
            git(work, "checkout", "-q", "main")
            await review.propose(PROJECT, "main", work, commit)
    finally:
        await store.close()


async def ended_times(config: Config) -> list[float]:
    history = await open_site_history(config)
    try:
        builds = await history.builds(limit=10_000)
        return sorted(
            b.ended.replace(tzinfo=b.ended.tzinfo or UTC).timestamp()
            for b in builds
            if b.ended is not None and b.result == "SUCCESS"
        )
    finally:
        await history.close()


async def delete_nodes(config: Config) -> None:
    for provider in config.providers.values():
        driver = make_driver(provider, config)
        for instance in await driver.list_instances():
            await driver.delete(instance.external_id)


def measure(executor_hosts: int, window: float, nodes: int) -> tuple[float, float]:
    """Builds per minute and the CPU's busy share, with this many executor hosts."""
    with (
        tempfile.TemporaryDirectory() as directory,
        host_network(5) as net,
        history_database(net, 5, Path(directory)) as history,
    ):
        root = Path(directory)
        work = root / "work"
        work.mkdir()
        git(work, "init", "-q", "-b", "main")
        (work / "README").write_text("app\n")
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", "Initial")
        zookeeper = ZooKeeperServer(root / "zk", address=net.address(5))
        net.in_host(5, zookeeper.start)
        components: list[Component] = []
        executors = range(2, 2 + executor_hosts)
        try:
            paths = {1: host_config(root, net, 1, zookeeper.hosts, SITE, history=history)}
            for host in executors:
                own = SITE + executor_host(f"z{host}", nodes)
                paths[host] = host_config(
                    root, net, host, zookeeper.hosts, own, history=history, min_ready=nodes
                )
            configs = {host: load_config(path) for host, path in paths.items()}
            components = [Component(net, 1, paths[1], "scheduler,git")]
            components += [Component(net, h, paths[h], "executor,launcher") for h in executors]
            for component in components:
                component.start()
            # Enough for the window and then some: no host waits for work.
            per_minute = executor_hosts * nodes * 60 / JOB_S
            count = int(per_minute * (window + 60) / 60) + 2 * executor_hosts * nodes
            net.in_host(1, lambda: asyncio.run(propose(configs[1], work, count)))
            first = None
            while first is None:
                time.sleep(1)
                ended = net.in_host(1, lambda: asyncio.run(ended_times(configs[1])))
                first = ended[0] if ended else None
            busy_0, total_0 = cpu_times()
            time.sleep(max(0.0, first + window - time.time()) + 2)
            busy_1, total_1 = cpu_times()
            ended = net.in_host(1, lambda: asyncio.run(ended_times(configs[1])))
            inside = [t for t in ended if first < t <= first + window]
            rate = len(inside) * 60 / window
            return rate, (busy_1 - busy_0) / max(1, total_1 - total_0)
        finally:
            for component in components:
                component.stop()
            for host in executors:
                net.in_host(host, lambda h=host: asyncio.run(delete_nodes(configs[h])))
            net.in_host(5, zookeeper.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", type=float, default=90.0, help="seconds counted (90)")
    parser.add_argument("--nodes", type=int, default=3, help="nodes per executor host (3)")
    args = parser.parse_args()
    rates: dict[str, float] = {}
    busy: dict[str, float] = {}
    for hosts in (1, 2, 3):
        rate, cpu = measure(hosts, args.window, args.nodes)
        rates[str(hosts)] = round(rate, 2)
        busy[str(hosts)] = round(cpu, 2)
        print(
            f"{hosts} executor host(s): {rate:.1f} builds/min, CPU {cpu:.0%} busy",
            file=sys.stderr,
            flush=True,
        )
    result = {
        "builds_per_min": rates,
        "efficiency_3": round(rates["3"] / (3 * rates["1"]), 3) if rates["1"] else None,
        "cpu_busy": busy,
        "job_s": JOB_S,
        "nodes_per_host": args.nodes,
        "window_s": args.window,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
