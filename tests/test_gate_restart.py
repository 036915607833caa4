"""The whole site in a `trunkgate serve` process, killed with SIGKILL (or
stopped with SIGTERM) while the gate is busy and started again: the queue
resumes from the store, every change is reported, none merges twice, and
each build's end is recorded once, by the run that ended it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from trunkgate.config.loader import Config, load_config
from trunkgate.demo.run import gate_outcome
from trunkgate.pool.providers import make_driver
from trunkgate.pool.repository import PoolRecords
from trunkgate.pool.states import NodeState
from trunkgate.review.model import ChangeStatus
from trunkgate.site import open_site_review, open_site_store

PROJECT = "acme/app"
CONFIG = """\
state:
  data-dir: ./data
  lease: 2s
labels:
  - name: default
    min-ready: 2
providers:
  - name: solo
    driver: namespace
    max-servers: 8
    labels: [{name: default, image: host}]
jobs:
  - name: slow
    run:
      - sleep 2
projects:
  - name: acme/app
    gate: [slow]
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=Dev", "-c", "user.email=dev@example.org", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def make_site(directory: Path) -> tuple[Config, Path]:
    (directory / "trunkgate.yaml").write_text(textwrap.dedent(CONFIG))
    work = directory / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "README").write_text("app\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Initial")
    return load_config(directory / "trunkgate.yaml"), work


def side_commit(work: Path, name: str) -> str:
    git(work, "checkout", "-q", "--detach", "main")
    (work / name).write_text(f"{name}\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", f"Add {name}")
    commit = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "main")
    return commit


def gate_builds(config_path: Path) -> list[dict[str, str]]:
    """The successful gate builds `trunkgate builds` lists, each with its console log."""
    listing = subprocess.run(
        [
            sys.executable,
            "-m",
            "trunkgate.cli.main",
            "-c",
            str(config_path),
            "builds",
            "--pipeline",
            "gate",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    builds = [b for b in json.loads(listing.stdout) if b["result"] == "SUCCESS"]
    for build in builds:
        build["console"] = Path(build["log_path"]).read_text()
    return builds


class Serve:
    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "trunkgate.cli.main",
            "-c",
            str(self.config_path),
            "serve",
            "--components",
            "scheduler,executor,launcher",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

    async def kill(self, how: int) -> None:
        if self.process is not None and self.process.returncode is None:
            os.kill(self.process.pid, how)
            await self.process.wait()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[Config, Path, Serve]]:
    config, work = make_site(tmp_path)
    serve = Serve(tmp_path / "trunkgate.yaml")
    yield config, work, serve
    await serve.kill(signal.SIGTERM)
    for provider in config.providers.values():
        driver = make_driver(provider, config)
        for instance in await driver.list_instances():
            with contextlib.suppress(Exception):
                await driver.delete(instance.external_id)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
async def test_the_gate_resumes_after_a_stop(
    site: tuple[Config, Path, Serve], how: signal.Signals
) -> None:
    config, work, serve = site
    store = await open_site_store(config)
    try:
        review = open_site_review(config, store)
        await review.create_project(PROJECT, "main", seed=work)
        names = ("one.txt", "two.txt", "three.txt")
        numbers = []
        for name in names:
            proposed = await review.propose(PROJECT, "main", work, side_commit(work, name))
            numbers.append(proposed.change.number)
        await serve.start()
        for number in numbers:
            await review.approve(number)
        # Stop it once a build runs on its node for the gate.
        deadline = time.monotonic() + 60
        records = PoolRecords(store)
        while not any(n.state == NodeState.IN_USE for n in await records.nodes()):
            assert time.monotonic() < deadline, "the gate never started a build"
            await asyncio.sleep(0.05)
        await serve.kill(how)
        await serve.start()
        deadline = time.monotonic() + 90
        while not all([gate_outcome(await review.get(n)) for n in numbers]):
            assert time.monotonic() < deadline, "not every change was reported"
            await asyncio.sleep(0.2)
        changes = [await review.get(n) for n in numbers]
        assert [gate_outcome(c) for c in changes] == ["SUCCESS"] * 3
        assert [c.status for c in changes] == [ChangeStatus.MERGED] * 3
        bare = config.data_dir / "git" / f"{PROJECT}.git"
        subjects = git(bare, "log", "--format=%s", "main").splitlines()
        for name in names:
            assert subjects.count(f"Add {name}") == 1
        # Every gate build is in the history, with its node provider and console log.
        finished = await asyncio.to_thread(gate_builds, serve.config_path)
        assert {b["change"] for b in finished} == set(numbers)
        assert all(b["node_provider"] == "solo" for b in finished)
        assert all("NODE_PROVIDER=solo" in b["console"] for b in finished)
    finally:
        await store.close()
