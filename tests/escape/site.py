"""A whole site for the escape suite: `trunkgate serve` (scheduler, executor,
launchers) on sandboxed namespace nodes, a project whose `check` job runs
the `ci.sh` of the change under test, and one change per attack or per job
that must still work. Every change is proposed at once, as attackers'
changes would be; the site runs until each has its report, then stops and
leaves nothing behind. What each build printed is kept for the tests.
"""

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
from dataclasses import dataclass, field
from pathlib import Path

from tests.merger.gitrepo import git
from trunkgate.config.loader import Config, load_config
from trunkgate.pool.providers import make_driver
from trunkgate.review.model import Change
from trunkgate.scheduler.outbox import REPORTER
from trunkgate.site import STORE_FILE, open_site_review, open_site_store

PROJECTS = ("acme/app", "acme/pair")

CONFIG = """\
state:
  data-dir: ./data
  lease: 2s
pool:
  max-held-nodes: 0
labels:
  - name: default
    min-ready: 2
providers:
  - name: jail
    driver: namespace
    max-servers: 10
    limits: {memory: 384M, pids: 200, disk: 128M, shm: 16M}
    labels: [{name: default, image: host}]
nodesets:
  - name: pair
    nodes: [{name: primary, label: default}, {name: peer, label: default}]
jobs:
  - name: ci
    timeout: 120s
    run: [bash ci.sh]
  - name: pair
    timeout: 120s
    nodeset: pair
    run:
      - shell: bash serve.sh
        node: peer
      - bash fetch.sh
projects:
  - name: acme/app
    check: [ci]
  - name: acme/pair
    check: [pair]
"""

#: A secret only the host knows, in files a node must never read.
SECRET = "host-secret-7f3a9c"


@dataclass(frozen=True)
class Proposal:
    """One change: its name, its project and the files it adds."""

    name: str
    files: dict[str, str | bytes]
    project: str = "acme/app"


@dataclass
class Outcome:
    """What the site reported about one change."""

    change: int
    result: str = ""
    console: str = ""
    report: str = ""


@dataclass
class EscapeSite:
    directory: Path
    config: Config
    canary: subprocess.Popen[bytes]
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    serve_survived: bool = False

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    def host_paths(self) -> dict[str, str]:
        """Host paths an attacker is told about (as if they had guessed them)."""
        return {
            "CONFIG": str(self.directory / "trunkgate.yaml"),
            "CONFIG_SECRET": str(self.directory / "secret.txt"),
            "DATA_DIR": str(self.data_dir),
            "DATA_SECRET": str(self.data_dir / "secret.txt"),
            "STORE": str(self.data_dir / STORE_FILE),
            "KEYS": str(self.data_dir / "keys"),
            "MARKER": str(self.directory / "escaped"),
            "CANARY_PID": str(self.canary.pid),
        }


def _commit(work: Path, files: dict[str, str | bytes], message: str) -> str:
    git(work, "checkout", "-q", "--detach", "main")
    for name, content in files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    commit = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "main")
    return commit


def _reported(change: Change) -> str | None:
    for comment in reversed(change.comments):
        if comment.author == REPORTER and "(check pipeline)" in comment.text:
            return comment.text
    return None


def open_site(directory: Path) -> EscapeSite:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "trunkgate.yaml").write_text(textwrap.dedent(CONFIG))
    (directory / "secret.txt").write_text(f"{SECRET} in the config directory\n")
    config = load_config(directory / "trunkgate.yaml")
    config.data_dir.mkdir(parents=True, exist_ok=True)
    (config.data_dir / "secret.txt").write_text(f"{SECRET} in the data directory\n")
    canary = subprocess.Popen(["sleep", "600"], start_new_session=True)
    return EscapeSite(directory, config, canary)


def run_site(site: EscapeSite, proposals: list[Proposal], patience: float = 300.0) -> None:
    """Propose every change, serve until each is reported, stop, clean up."""
    asyncio.run(_run(site, proposals, patience))


async def _run(site: EscapeSite, proposals: list[Proposal], patience: float) -> None:
    store = await open_site_store(site.config)
    serve: asyncio.subprocess.Process | None = None
    serve_log = (site.directory / "serve.log").open("wb")
    try:
        review = open_site_review(site.config, store)
        works: dict[str, Path] = {}
        for project in PROJECTS:
            work = site.directory / "work" / project
            work.mkdir(parents=True)
            git(work, "init", "-q", "-b", "main")
            (work / "README").write_text(f"{project}\n")
            git(work, "add", "-A")
            git(work, "commit", "-q", "-m", "Initial")
            await review.create_project(project, "main", seed=work)
            works[project] = work
        serve = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "trunkgate.cli.main", "-c",
            str(site.directory / "trunkgate.yaml"), "serve",
            "--components", "scheduler,executor,launcher",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=serve_log,
        )  # fmt: skip
        for proposal in proposals:
            work = works[proposal.project]
            commit = _commit(work, proposal.files, proposal.name)
            proposed = await review.propose(proposal.project, "main", work, commit)
            site.outcomes[proposal.name] = Outcome(proposed.change.number)
        deadline = time.monotonic() + patience
        waiting = dict(site.outcomes)
        while waiting:
            for name, outcome in list(waiting.items()):
                report = _reported(await review.get(outcome.change))
                if report is not None:
                    outcome.report = report
                    del waiting[name]
            assert serve.returncode is None, "trunkgate serve died"
            assert time.monotonic() < deadline, f"never reported: {sorted(waiting)}"
            await asyncio.sleep(0.2)
        site.serve_survived = serve.returncode is None
    finally:
        if serve is not None and serve.returncode is None:
            serve.send_signal(signal.SIGTERM)
            await serve.wait()
        serve_log.close()
        await store.close()
        await _delete_every_node(site.config)
    _read_builds(site)


async def _delete_every_node(config: Config) -> None:
    for provider in config.providers.values():
        driver = make_driver(provider, config)
        for instance in await driver.list_instances():
            with contextlib.suppress(Exception):
                await driver.delete(instance.external_id)


def _read_builds(site: EscapeSite) -> None:
    listing = subprocess.run(
        [
            sys.executable, "-m", "trunkgate.cli.main",
            "-c", str(site.directory / "trunkgate.yaml"),
            "builds", "--format", "json", "--limit", "1000",
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    by_change = {outcome.change: outcome for outcome in site.outcomes.values()}
    for build in json.loads(listing.stdout):
        outcome = by_change.get(build["change"])
        if outcome is None:
            continue
        outcome.result = build["result"]
        with contextlib.suppress(OSError, TypeError):
            outcome.console = Path(build["log_path"]).read_text(errors="replace")


def canary_alive(site: EscapeSite) -> bool:
    return site.canary.poll() is None and os.path.exists(f"/proc/{site.canary.pid}")


def stop_canary(site: EscapeSite) -> None:
    site.canary.kill()
    site.canary.wait()
