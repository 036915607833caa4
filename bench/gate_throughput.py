"""Speculative gating, measured: 20 changes approved at once, each with one
job that sleeps T = 5 s on a namespace node, against a pool warm enough for
all of them; wall time from the first approval to the last report, and the
speculative efficiency 20*T/wall. Then the same with change 10 failing.
The scheduler and executor run in this process, the launchers in a `trunkgate
serve` process of their own, as a site would run them. Prints one JSON
object. Needs root.

    .venv/bin/python bench/gate_throughput.py
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from gitwork import git
from trunkgate.config.loader import load_config
from trunkgate.demo.run import gate_outcome
from trunkgate.local_site import LocalSite
from trunkgate.pool.repository import PoolRecords
from trunkgate.pool.states import NodeState
from trunkgate.review.stored import CHANGES
from trunkgate.site import open_site_review

CHANGE_COUNT = 20
JOB_SECONDS = 5
FAILING = 10
PROJECT = "bench/app"

CONFIG = f"""\
state:
  data-dir: ./data
labels:
  - name: default
    min-ready: 22
providers:
  - name: east
    driver: namespace
    max-servers: 18
    labels: [{{name: default, image: host}}]
  - name: west
    driver: namespace
    max-servers: 18
    labels: [{{name: default, image: host}}]
jobs:
  - name: sleep
    run:
      - cd ~/src/{{project}} && sleep {JOB_SECONDS} && test ! -e FAIL
projects:
  - name: {PROJECT}
    gate: [sleep]
"""


def write_site(directory: Path) -> Path:
    """The site's config and a working repository; returns the repository."""
    directory.mkdir(parents=True)
    (directory / "trunkgate.yaml").write_text(textwrap.dedent(CONFIG))
    work = directory / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "README").write_text("bench\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Initial")
    return work


def write_change(work: Path, index: int, failing: int | None) -> str:
    git(work, "checkout", "-q", "--detach", "main")
    (work / f"file-{index}").write_text(f"{index}\n")
    if index == failing:
        (work / "FAIL").write_text("this change breaks the job\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", f"Change {index}")
    commit = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "main")
    return commit


async def one_run(directory: Path, failing: int | None) -> dict[str, float]:
    work = write_site(directory)
    config = load_config(directory / "trunkgate.yaml")
    site = LocalSite(config)
    store = await site.start(("scheduler", "executor"))
    launchers = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trunkgate.cli.main",
        "-c",
        str(directory / "trunkgate.yaml"),
        "serve",
        "--components",
        "launcher",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        review = open_site_review(config, store)
        await review.create_project(PROJECT, "main", seed=work)
        numbers = []
        for index in range(1, CHANGE_COUNT + 1):
            commit = write_change(work, index, failing)
            numbers.append((await review.propose(PROJECT, "main", work, commit)).change.number)
        records = PoolRecords(store)
        async with store.watch("/pool/nodes") as watch:
            while sum(n.state == NodeState.READY for n in await records.nodes()) < 22:
                await watch.changed(1.0)
        start = time.monotonic()
        for number in numbers:
            await review.approve(number)
        # Read on every change of a change record (a decided one is not read
        # again), so that the figure is the gate's and not a poll's, and the
        # reading takes no time from the gate meanwhile.
        outcomes: list[str | None] = [None] * len(numbers)
        async with store.watch(CHANGES) as changes:
            await changes.arm()
            while True:
                for index, number in enumerate(numbers):
                    if outcomes[index] is None:
                        outcomes[index] = gate_outcome(await review.get(number))
                if all(outcomes):
                    break
                if site.failed():
                    raise RuntimeError(site.failed())
                await changes.changed(1.0)
        wall = time.monotonic() - start
        expected = ["FAILURE" if n == failing else "SUCCESS" for n in numbers]
        if outcomes != expected:
            raise RuntimeError(f"unexpected outcomes: {outcomes}")
    finally:
        launchers.terminate()
        await launchers.wait()
        await site.stop()
    return {"wall_s": round(wall, 2), "efficiency": round(CHANGE_COUNT * JOB_SECONDS / wall, 1)}


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="trunkgate-bench-") as tmp:
        all_pass = await one_run(Path(tmp) / "all-pass", None)
        one_failure = await one_run(Path(tmp) / "one-failure", FAILING)
    print(json.dumps({"all_pass": all_pass, "one_failure": one_failure}))


if __name__ == "__main__":
    asyncio.run(main())
