"""An executor with a data directory of its own builds changes of the local
source fetched over git's protocol from the `git` component, on the
scheduler's side: nothing of the scheduler's directory is read. Its builds'
logs go to an S3 log store (moto's server), from which a web server on the
scheduler's side shows them. The sides share only the store and the
history, as hosts of one site do."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.logstore.motoserver import ACCESS_KEY, SECRET_KEY, MotoServer
from tests.test_gate_restart import git, side_commit
from trunkgate.config.loader import Config, load_config
from trunkgate.demo.run import gate_outcome
from trunkgate.pool.providers import make_driver
from trunkgate.review.code_urls import CodeUrls
from trunkgate.review.model import ChangeStatus
from trunkgate.site import open_site_review, open_site_store

PROJECT = "acme/app"
SHARED = """\
  path: {root}/shared/state.db
  lease: 2s
history:
  url: sqlite:///{root}/shared/history.db
web:
  port: {web_port}
logs:
  backend: s3
  bucket: site-logs
  endpoint-url: {endpoint}
  access-key-file: {root}/access
  secret-key-file: {root}/secret
sources:
  - name: local
    driver: local
    git-url: git://127.0.0.1:{port}
    git-listen: 127.0.0.1
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
      - cat proposed.txt
  - name: talks
    run:
      - echo live-begins
      - sleep 6
      - echo live-ends
projects:
  - name: acme/app
    gate: [reads]
  - name: acme/live
    gate: [talks]
"""
EXECUTOR = """executor:
  console-port: 0
  console-listen: 127.0.0.1
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def write_config(root: Path, name: str, port: int, endpoint: str) -> Path:
    path = root / f"{name}.yaml"
    shared = SHARED.format(root=root, port=port, endpoint=endpoint, web_port=free_port())
    body = f"state:\n  data-dir: {root}/{name}-data\n" + shared
    if name == "executor":
        body += EXECUTOR
    path.write_text(textwrap.dedent(body))
    return path


class Serve:
    def __init__(self, config: Path, components: str) -> None:
        self.config = config
        self.components = components
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "trunkgate.cli.main",
            "-c",
            str(self.config),
            "serve",
            "--components",
            self.components,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )

    async def stop(self) -> str:
        if self.process is None:
            return ""
        if self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGTERM)
        _, err = await self.process.communicate()
        return err.decode(errors="replace")


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    server = MotoServer()
    server.start()
    try:
        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
        client.create_bucket(Bucket="site-logs")
        client.close()
        yield server
    finally:
        server.stop()


@pytest.fixture
async def two_sides(tmp_path: Path, moto: MotoServer) -> AsyncIterator[tuple[Config, Config, Path]]:
    port = free_port()
    for name, key in (("access", ACCESS_KEY), ("secret", SECRET_KEY)):
        (tmp_path / name).write_text(key)
        (tmp_path / name).chmod(0o600)
    scheduler = load_config(write_config(tmp_path, "scheduler", port, moto.endpoint))
    executor = load_config(write_config(tmp_path, "executor", port, moto.endpoint))
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "README").write_text("app\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Initial")
    yield scheduler, executor, work
    for config in (scheduler, executor):
        for provider in config.providers.values():
            driver = make_driver(provider, config)
            for instance in await driver.list_instances():
                with contextlib.suppress(Exception):
                    await driver.delete(instance.external_id)


async def test_an_executor_elsewhere_builds_from_the_git_component(
    two_sides: tuple[Config, Config, Path],
) -> None:
    scheduler, executor, work = two_sides
    store = await open_site_store(scheduler)
    sides = [
        Serve(Path(scheduler.files[0]), "scheduler,git"),
        Serve(Path(executor.files[0]), "executor,launcher"),
    ]
    try:
        review = open_site_review(scheduler, store)
        await review.create_project(PROJECT, "main", seed=work)
        git(work, "checkout", "-q", "--detach", "main")
        (work / "proposed.txt").write_text("the proposed change's own file\n")
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", "Propose")
        commit = git(work, "rev-parse", "HEAD")
        git(work, "checkout", "-q", "main")
        proposed = await review.propose(PROJECT, "main", work, commit)
        number = proposed.change.number
        # A second change, tested on top of the first in the same queue.
        second = await review.propose(PROJECT, "main", work, side_commit(work, "two.txt"))
        for side in sides:
            await side.start()
        await review.approve(number)
        await review.approve(second.change.number)
        deadline = time.monotonic() + 120
        numbers = (number, second.change.number)
        while not all([gate_outcome(await review.get(n)) for n in numbers]):
            assert time.monotonic() < deadline, "not every change was reported"
            await asyncio.sleep(0.2)
        changes = [await review.get(n) for n in numbers]
        assert [gate_outcome(c) for c in changes] == ["SUCCESS", "SUCCESS"]
        assert [c.status for c in changes] == [ChangeStatus.MERGED] * 2
        # The executor's side holds clones of the project made from the
        # daemon, and nothing names the scheduler's data directory.
        assert (executor.data_dir / "executor").is_dir()
        scheduler_dir = str(scheduler.data_dir).encode()
        for path in executor.data_dir.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert scheduler_dir not in path.read_bytes(), path
        # A web server on the scheduler's side shows the builds' consoles,
        # which it has only from the log store.
        web = Serve(Path(scheduler.files[0]), "web")
        sides.append(web)
        await web.start()
        base = f"http://127.0.0.1:{scheduler.web.port}"
        builds = await asyncio.to_thread(get_json, f"{base}/api/builds?pipeline=gate", 30)
        first = next(b for b in builds["builds"] if b["change"] == number)
        console = await asyncio.to_thread(get_text, f"{base}/builds/{first['id']}/console.log")
        assert "the proposed change's own file" in console
        page = await asyncio.to_thread(get_json, f"{base}/api/builds/{first['id']}/console")
        assert any("$ cat proposed.txt" in line for line in page["lines"])
        assert any((scheduler.data_dir / "logs").rglob("console.log"))
        # So does `trunkgate console` there, from the log store (the
        # executor's side, another host, is out of its reach).
        shutil.rmtree(executor.data_dir / "logs")
        command = [sys.executable, "-m", "trunkgate.cli.main", "-c", scheduler.files[0]]
        shown = await asyncio.to_thread(
            subprocess.run,
            [*command, "console", first["id"]],
            capture_output=True,
            text=True,
            check=False,
        )
        assert shown.returncode == 0, shown.stderr
        assert "the proposed change's own file" in shown.stdout
    finally:
        errors = [await side.stop() for side in sides]
        await store.close()
    assert all("Traceback" not in e for e in errors), errors


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as answer:
        text: str = answer.read().decode()
        return text


def get_json(url: str, within: float = 0.0) -> Any:
    """The JSON at `url`, asked again for up to `within` seconds while the
    server is starting."""
    deadline = time.monotonic() + within
    while True:
        try:
            return json.loads(get_text(url))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_git_url_that_is_not_the_git_protocol_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "trunkgate.yaml"
    path.write_text("sources:\n  - name: local\n    driver: local\n    git-url: https://h/x\n")
    result = subprocess.run(
        [sys.executable, "-m", "trunkgate.cli.main", "-c", str(path), "config", "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "trunkgate.yaml:4" in result.stderr
    assert "git://HOST[:PORT]" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_web_server_elsewhere_shows_a_running_build_as_it_is_written(
    two_sides: tuple[Config, Config, Path],
) -> None:
    scheduler, executor, work = two_sides
    store = await open_site_store(scheduler)
    sides = [
        Serve(Path(scheduler.files[0]), "scheduler,git,web"),
        Serve(Path(executor.files[0]), "executor,launcher"),
    ]
    try:
        review = open_site_review(scheduler, store)
        await review.create_project("acme/live", "main", seed=work)
        proposed = await review.propose("acme/live", "main", work, side_commit(work, "x.txt"))
        for side in sides:
            await side.start()
        await review.approve(proposed.change.number)
        base = f"http://127.0.0.1:{scheduler.web.port}"
        deadline = time.monotonic() + 60
        while not (listed := await asyncio.to_thread(get_json, f"{base}/api/builds", 30))["builds"]:
            assert time.monotonic() < deadline, "no build started"
            await asyncio.sleep(0.2)
        build = listed["builds"][0]["id"]
        url = f"{base}/api/builds/{build}/console/events"
        seen, ended_then = await asyncio.to_thread(read_live, url, f"{base}/api/builds/{build}")
        assert "live-begins" in seen
        assert "live-ends" in seen
        # The first line came while the build still ran on the other side.
        assert ended_then is None
    finally:
        errors = [await side.stop() for side in sides]
        await store.close()
    assert all("Traceback" not in e for e in errors), errors


def read_live(url: str, build_url: str) -> tuple[str, object]:
    """The text of the stream's lines, and the build's result as the
    history gave it when the first line came."""
    seen = ""
    ended_then: object = "not asked"
    with urllib.request.urlopen(url, timeout=60) as stream:
        event = ""
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: ") and event == "lines":
                text = json.loads(line[len("data: ") :])["text"]
                if "live-begins" in text and ended_then == "not asked":
                    ended_then = get_json(build_url)["result"]
                seen += text
            elif line.startswith("data: ") and event == "end":
                return seen, ended_then
    return seen, ended_then


async def test_a_killed_git_component_leaves_no_daemon_behind(
    two_sides: tuple[Config, Config, Path],
) -> None:
    scheduler, _, work = two_sides
    store = await open_site_store(scheduler)
    try:
        review = open_site_review(scheduler, store)
        await review.create_project(PROJECT, "main", seed=work)
    finally:
        await store.close()
    url = f"{CodeUrls.of(scheduler).url(PROJECT)}"
    git_side = Serve(Path(scheduler.files[0]), "git")
    for _ in range(2):
        await git_side.start()
        assert await asyncio.to_thread(lists_main, url, 30)
        assert git_side.process is not None
        git_side.process.kill()
        await git_side.process.wait()
        # Nothing answers once the component is gone.
        assert not await asyncio.to_thread(lists_main, url, 0)
    await git_side.stop()


def lists_main(url: str, within: float) -> bool:
    """Whether `git ls-remote` lists the branch, asked for up to `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = subprocess.run(
            ["git", "ls-remote", url, "refs/heads/main"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0 and "refs/heads/main" in result.stdout:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
