"""Where a job's steps run and what they find beside the project: a whole site
in this process (scheduler, executor, launchers of real namespace nodes), a
project `acme/app` whose jobs require `acme/lib`, and builds that print their
working directory and the library's version file. The library's default
branch is `trunk`; both projects have a `stable` branch; only the app has
`main`."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import textwrap
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from trunkgate.builds import paths
from trunkgate.builds.records import BuildRequest
from trunkgate.components import run_executor
from trunkgate.config.loader import Config, load_config
from trunkgate.history.records import BuildRecord
from trunkgate.history.site import open_site_history
from trunkgate.local_site import LocalSite
from trunkgate.review.model import ChangeStatus
from trunkgate.review.source import LocalReview
from trunkgate.site import open_site_review
from trunkgate.store import Store

CONFIG = """\
state:
  data-dir: ./data
  lease: 2s
labels:
  - name: default
    min-ready: 2
providers:
  - name: here
    driver: namespace
    max-servers: 6
    labels: [{name: default, image: host}]
jobs:
  - name: with-lib
    timeout: 60s
    required-projects: [acme/lib]
    run:
      - echo "PWD=$(pwd)"
      - echo "LIB=$(cat ~/src/acme/lib/version.txt)"
      - |
        python3 -c '
        import json, os
        lib = json.load(open(os.environ["TRUNKGATE_INVENTORY"]))["projects"]["acme/lib"]
        print("INVENTORY", lib["src"], lib["branch"], lib["commit"])'
  - name: with-lib-stable
    timeout: 60s
    required-projects:
      - {name: acme/lib, override-checkout: stable}
    run:
      - echo "LIB=$(cat ~/src/acme/lib/version.txt)"
  - name: lib-waits
    timeout: 120s
    run: [sleep 100]
projects:
  - name: acme/app
    queue: shared
    check: [with-lib, with-lib-stable]
    gate: [with-lib]
  - name: acme/lib
    default-branch: trunk
    queue: shared
    gate: [lib-waits]
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=Dev", "-c", "user.email=dev@example.org", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def commit_on(work: Path, branch: str, files: dict[str, str], message: str) -> str:
    """A commit on top of `branch`, left off every branch."""
    git(work, "checkout", "-q", "--detach", branch)
    for name, text in files.items():
        (work / name).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD")


@dataclass
class Site:
    config: Config
    store: Store
    review: LocalReview
    works: dict[str, Path]
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    executor: asyncio.Task[None] | None = None

    def start_executor(self) -> None:
        self.executor = asyncio.ensure_future(run_executor(self.config, self.store, self.stop))

    async def stop_executor(self) -> None:
        self.stop.set()
        if self.executor is not None:
            await self.executor

    async def propose(self, project: str, branch: str, files: dict[str, str]) -> int:
        work = self.works[project]
        commit = commit_on(work, branch, files, f"Change {files}")
        proposed = await self.review.propose(project, branch, work, commit)
        return proposed.change.number

    async def wait_for_build_request(self, change: int, job: str) -> None:
        deadline = time.monotonic() + 60
        await self.store.ensure_path(paths.BUILD_REQUESTS)
        while True:
            for name in await self.store.children(paths.BUILD_REQUESTS):
                record = await self.store.get_model(paths.build_request(name), BuildRequest)
                if record is not None and (record.value.change, record.value.job) == (change, job):
                    return
            assert time.monotonic() < deadline, f"no build of {job} for change {change}"
            await asyncio.sleep(0.05)

    async def build(self, change: int, pipeline: str, job: str) -> BuildRecord:
        """The finished build of `job` for `change`, once there is one."""
        history = await open_site_history(self.config)
        try:
            deadline = time.monotonic() + 120
            while True:
                builds = await history.builds(change=change, pipeline=pipeline, job=job)
                done = [b for b in builds if b.result is not None]
                if done:
                    return done[0]
                assert time.monotonic() < deadline, f"no {pipeline} build of {job} for {change}"
                await asyncio.sleep(0.2)
        finally:
            await history.close()


def make_work(work: Path, branches: dict[str, str]) -> None:
    """A working repository with one commit per branch, the first being the
    default branch; each branch's `version.txt` holds the text given."""
    work.mkdir(parents=True)
    first, *others = branches
    git(work, "init", "-q", "-b", first)
    (work / "version.txt").write_text(f"{branches[first]}\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Initial")
    for branch in others:
        git(work, "checkout", "-q", "-b", branch, first)
        (work / "version.txt").write_text(f"{branches[branch]}\n")
        git(work, "commit", "-q", "--allow-empty", "-am", f"Start {branch}")
    git(work, "checkout", "-q", first)


async def seed(review: LocalReview, work: Path, project: str, branches: dict[str, str]) -> None:
    """The project's repository, from a working repository with those branches."""
    await asyncio.to_thread(make_work, work, branches)
    first, *others = branches
    bare = await review.create_project(project, first, seed=work)
    for branch in others:
        git(work, "push", "-q", str(bare), f"{branch}:refs/heads/{branch}")


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    """The site with its scheduler and launchers running; the test starts the executor."""
    (tmp_path / "trunkgate.yaml").write_text(textwrap.dedent(CONFIG))
    config = load_config(tmp_path / "trunkgate.yaml")
    local = LocalSite(config)
    store = await local.start(("scheduler", "launcher"))
    site = None
    try:
        review = open_site_review(config, store)
        works = {p: tmp_path / "work" / p for p in ("acme/app", "acme/lib")}
        await seed(review, works["acme/app"], "acme/app", {"main": "app", "stable": "app"})
        await seed(review, works["acme/lib"], "acme/lib", {"trunk": "trunk", "stable": "stable"})
        site = Site(config, store, review, works)
        yield site
    finally:
        if site is not None:
            await site.stop_executor()
        await local.stop()


def console(build: BuildRecord) -> str:
    assert build.log_path is not None
    return Path(build.log_path).read_text()


async def test_steps_run_in_the_project_and_find_the_required_project(site: Site) -> None:
    site.start_executor()
    on_main = await site.propose("acme/app", "main", {"app.txt": "on main\n"})
    on_stable = await site.propose("acme/app", "stable", {"app.txt": "on stable\n"})

    # The library has no `main`: its default branch, `trunk`, is checked out.
    build = await site.build(on_main, "check", "with-lib")
    assert build.result == "SUCCESS", console(build)
    text = console(build)
    assert "| primary | PWD=/root/src/acme/app\n" in text
    assert "| primary | LIB=trunk\n" in text
    lib_trunk = git(site.config.data_dir / "git" / "acme/lib.git", "rev-parse", "trunk")
    assert f"| primary | INVENTORY /root/src/acme/lib trunk {lib_trunk}" in text

    # The change's own branch, when the library has it.
    build = await site.build(on_stable, "check", "with-lib")
    assert build.result == "SUCCESS", console(build)
    assert "| primary | LIB=stable\n" in console(build)

    # override-checkout wins over the change's branch.
    build = await site.build(on_main, "check", "with-lib-stable")
    assert build.result == "SUCCESS", console(build)
    assert "| primary | LIB=stable\n" in console(build)


async def test_a_required_project_ahead_in_the_queue_is_its_speculative_tree(
    site: Site,
) -> None:
    site.start_executor()
    lib_change = await site.propose("acme/lib", "trunk", {"version.txt": "trunk, changed\n"})
    await site.review.approve(lib_change)
    app_change = await site.propose("acme/app", "main", {"app.txt": "uses the new lib\n"})
    await site.review.approve(app_change)

    # The library's change is still being tested ahead of the app's (its job
    # sleeps): the app's gate build sees the library with that change merged.
    build = await site.build(app_change, "gate", "with-lib")
    text = console(build)
    assert build.result == "SUCCESS", text
    assert "| primary | LIB=trunk, changed\n" in text
    # No merge is made twice: the executor sends the node the scheduler's
    # merge commits from its cache, the required project's pin with them,
    # and merges and clones nothing.
    scheduler_cache = site.config.data_dir / "merger" / "cache"
    assert f"$ git -C {scheduler_cache}/acme/app.git log -1 " in text
    assert f"$ git -C {scheduler_cache}/acme/lib.git log -1 " in text
    assert "merge-tree" not in text
    assert "git clone" not in text
    lib = await site.review.get(lib_change)
    assert lib.status == ChangeStatus.NEW

    # Its check build, alone, sees the library's branch as it is.
    build = await site.build(app_change, "check", "with-lib")
    assert "| primary | LIB=trunk\n" in console(build)


async def test_a_required_project_is_pinned_when_the_tree_is_prepared(site: Site) -> None:
    app_change = await site.propose("acme/app", "main", {"app.txt": "on main\n"})
    await site.wait_for_build_request(app_change, "with-lib")
    # The library's branch moves after the scheduler prepared the tree, before
    # any executor took the build: the build still tests the tree prepared.
    work = site.works["acme/lib"]
    moved = commit_on(work, "trunk", {"version.txt": "trunk, moved\n"}, "Move trunk")
    git(work, "push", "-q", str(site.config.data_dir / "git" / "acme/lib.git"), f"{moved}:trunk")
    site.start_executor()

    build = await site.build(app_change, "check", "with-lib")
    assert build.result == "SUCCESS", console(build)
    assert "| primary | LIB=trunk\n" in console(build)


async def test_an_executor_that_cannot_reach_the_schedulers_tree_merges_it_again(
    site: Site, tmp_path: Path
) -> None:
    app_change = await site.propose("acme/app", "main", {"app.txt": "on main\n"})
    await site.wait_for_build_request(app_change, "with-lib")
    # The executor runs where the scheduler's merger is out of its reach
    # (another host, say): the build request names a directory it lacks.
    for name in await site.store.children(paths.BUILD_REQUESTS):
        record = await site.store.get_model(paths.build_request(name), BuildRequest)
        assert record is not None
        moved = dataclasses.replace(record.value, tree_source=str(tmp_path / "elsewhere"))
        await site.store.set(record.path, moved, version=record.version)
    site.start_executor()

    build = await site.build(app_change, "check", "with-lib")
    text = console(build)
    assert build.result == "SUCCESS", text
    # Made in the executor's own cache (by this build or, remembered there,
    # by the other build of the same tree).
    own_cache = site.config.data_dir / "executor" / "cache"
    assert f"git clone --quiet --no-checkout {own_cache}/acme/app.git" in text
    assert "| primary | LIB=trunk\n" in text
