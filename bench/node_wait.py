"""How long a job waits for a node. A pool of two namespace providers with
min-ready nodes, served by `trunkgate serve --components launcher` in its own
process as in a real site; 200 single-node requests from this process, each
made while a ready node is waiting, timed from the request to its nodes being
handed over; each node is given back at once (and so deleted and replaced).
Also the time from a node's record being made to it answering SSH and its
ready command, over every node the launchers made. Prints one JSON object.
Needs root.

    .venv/bin/python bench/node_wait.py [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' pool scaffolding

from tests.pool.site import PoolSite

from trunkgate.pool.holding import FinishedBuild, HoldPolicy
from trunkgate.pool.records import Node
from trunkgate.pool.states import NodeState

CONFIG = """\
labels:
  - name: small
    min-ready: 6
providers:
  - name: east
    driver: namespace
    max-servers: 8
    labels: [{name: small}]
  - name: west
    driver: namespace
    max-servers: 8
    labels: [{name: small}]
"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def ms(value: float) -> float:
    return round(value * 1000, 1)


async def measure(directory: Path, count: int) -> dict[str, dict[str, float]]:
    site = PoolSite(directory, CONFIG)
    await site.open()
    launch_ready: dict[str, float] = {}

    def note_ready(nodes: list[Node]) -> None:
        for node in nodes:
            if node.state == NodeState.READY and node.id not in launch_ready:
                launch_ready[node.id] = node.state_time - node.created

    def warm(nodes: list[Node]) -> bool:
        note_ready(nodes)
        return any(n.state == NodeState.READY and n.request is None for n in nodes)

    serve = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trunkgate.cli.main",
        "-c",
        str(site.path),
        "serve",
        "--components",
        "launcher",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await site.wait_for(
            lambda nodes: warm(nodes) and sum(n.state == NodeState.READY for n in nodes) >= 6,
            within=60,
        )
        waits: list[float] = []
        for index in range(count):
            await site.wait_for(warm, within=60)
            started = time.perf_counter()
            grant = await site.client.request_nodes(
                ["small"], requestor="bench", build=f"bench-{index}"
            )
            waits.append(time.perf_counter() - started)
            done = FinishedBuild(f"bench-{index}", "bench", "bench", None, failed=False)
            await site.client.return_nodes(grant.nodes, done, HoldPolicy(0, 0))
        note_ready(await site.nodes())
    finally:
        serve.terminate()
        await serve.wait()
        await site.close()
    launches = list(launch_ready.values())
    return {
        "warm": {
            "p50_ms": ms(percentile(waits, 0.50)),
            "p95_ms": ms(percentile(waits, 0.95)),
            "p99_ms": ms(percentile(waits, 0.99)),
            "requests": count,
        },
        "launch_ready": {
            "p50_ms": ms(statistics.median(launches)),
            "p95_ms": ms(percentile(launches, 0.95)),
            "nodes": len(launches),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trunkgate-bench-") as tmp:
        result = asyncio.run(measure(Path(tmp), args.requests))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
