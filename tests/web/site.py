"""A site for the web tests, made as a user makes one (`trunkgate init`), with
what the dashboard shows written where the components would write it: a
change with a hostile subject, finished builds in the history with their
console logs and artifacts (a link out of the log root among them), a long
gate queue in the store; and `trunkgate serve --components web` on a free
port of the loopback, read over real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from trunkgate.builds.results import BuildResult
from trunkgate.config.loader import load_config
from trunkgate.gate.changes import ChangeRef, JobSpec
from trunkgate.gate.codec import state_to_dict
from trunkgate.gate.state import Build, BuildState, ChangeQueue, Item, Phase, PipelineState
from trunkgate.history.records import RecordedNode
from trunkgate.history.site import open_site_history
from trunkgate.scheduler import layout
from trunkgate.site import LOGS_DIR, open_site_store, site_id

ADMIN_TOKEN = "admin-token-for-the-web-tests-0123456789"
HOSTILE_SUBJECT = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> & "quotes"'
QUEUE_LENGTH = 500
# The failing line of the failed build's console, and where it is.
FAILING_LINE = "AssertionError: expected 5, got -1"
CONSOLE_LINES = 2600


T = TypeVar("T")
TRUNKGATE = (sys.executable, "-m", "trunkgate.cli.main")


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRUNKGATE, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def commit(repo: Path, name: str, text: str, message: str) -> None:
    (repo / name).write_text(text)
    git = ["git", "-C", str(repo), "-c", "user.name=Dev", "-c", "user.email=dev@example.org"]
    subprocess.run([*git, "add", name], check=True, capture_output=True)
    subprocess.run([*git, "commit", "-q", "-m", message], check=True, capture_output=True)


@dataclass
class WebSite:
    config: Path
    root: Path
    url: str = ""
    process: subprocess.Popen[str] | None = None
    builds: dict[str, str] = field(default_factory=dict)  # name -> build id
    outside: Path | None = None  # a file beside the log root, never to be served

    def get(self, path: str, token: str | None = None) -> tuple[int, Any, dict[str, str]]:
        """Status, body (JSON decoded when it is JSON) and headers of a GET."""
        return self.call("GET", path, token=token)

    def post(
        self, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        return self.call("POST", path, body=body, token=token)

    def call(
        self, method: str, path: str, *, body: Any = None, token: str | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, raw, headers = answer.status, answer.read(), dict(answer.headers)
        except urllib.error.HTTPError as error:
            with error:
                status, raw, headers = error.code, error.read(), dict(error.headers)
        kind = headers.get("content-type", "")
        return status, json.loads(raw) if kind.startswith("application/json") else raw, headers

    def start(self, components: str = "web") -> None:
        self.process = subprocess.Popen(
            [*TRUNKGATE, "-c", str(self.config), "serve", "--components", components],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        for line in self.process.stderr:
            found = re.search(r"web port (127\.0\.0\.1:\d+)", line)
            if found:
                self.url = f"http://{found.group(1)}"
                return
        raise AssertionError(f"serve did not start: {self.stop()}")

    def stop(self) -> str:
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=30)
        return err


def make_site(root: Path, *, history: bool = True) -> WebSite:
    """A site from `trunkgate init` with a change of a hostile subject; with
    `history`, builds and a long gate queue written as if they had run (for
    a site whose scheduler never runs: it would act on that queue)."""
    made = cli("init", str(root))
    assert made.returncode == 0, made.stderr
    config = root / "trunkgate.yaml"
    token = root / "admin.token"
    token.write_text(ADMIN_TOKEN + "\n")
    token.chmod(0o600)
    with config.open("a") as file:
        file.write("\nweb:\n  port: 0\n  admin-token-file: admin.token\n")
    repo = root / "src" / "example" / "calc"
    commit(repo, "calc/fast.py", "FAST = True\n", HOSTILE_SUBJECT)
    proposed = cli("-c", str(config), "change", "propose", "--project", "example/calc", cwd=repo)
    assert proposed.returncode == 0, proposed.stderr
    site = WebSite(config, root)
    if history:
        asyncio.run(_fill(site))
    return site


async def _fill(site: WebSite) -> None:
    config = load_config(site.config)
    store = await open_site_store(config)
    history = await open_site_history(config)
    try:
        site_name = await site_id(store)
        await store.create(layout.pipeline("gate"), state_to_dict(long_queue()))
        await _builds(site, config.data_dir / LOGS_DIR, history, site_name)
    finally:
        await history.close()
        await store.close()


def write_gate(site: WebSite, failing: int, merged: int = 0) -> None:
    """The gate's state as the scheduler would store it, with change
    `failing` (1000 + its position) failing and the first `merged` items gone."""

    async def write() -> None:
        store = await open_site_store(load_config(site.config))
        try:
            state = state_to_dict(long_queue(failing - 1000, merged))
            await store.set(layout.pipeline("gate"), state, version=None)
        finally:
            await store.close()

    in_thread(write())


def in_thread(work: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(work)` in a thread of its own: a browser test's thread
    has Playwright's event loop."""
    done: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(asyncio.run(work))
        except BaseException as exc:
            failed.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=60)
    if failed:
        raise failed[0]
    return done[0]


def long_queue(failing: int = 137, merged: int = 0) -> PipelineState:
    """QUEUE_LENGTH items of three projects in the gate, but for the first
    `merged`; item `failing` fails."""
    queue = ChangeQueue(name="integrated", window=None)
    jobs = (JobSpec("style"), JobSpec("unit-3.11"), JobSpec("docs", voting=False))
    for number in range(merged + 1, QUEUE_LENGTH + 1):
        project = ("example/calc", "acme/app", "acme/lib")[number % 3]
        change = ChangeRef(project, 1000 + number, 1)
        builds = {
            "style": Build("style", True, BuildState.DONE, BuildResult.SUCCESS, f"s{number}"),
            "unit-3.11": Build("unit-3.11", True, BuildState.RUNNING, None, f"u{number}"),
        }
        if number == failing:
            builds["unit-3.11"] = Build(
                "unit-3.11", True, BuildState.DONE, BuildResult.FAILURE, f"u{number}"
            )
        item = Item(change=change, jobs=jobs, phase=Phase.TESTING, builds=builds)
        item.tree = item.prepared_tree = (change,)
        item.buildset = f"gate#{number}"
        queue.items.append(item)
    return PipelineState(pipeline="gate", queues={"integrated": queue})


async def _builds(site: WebSite, logs: Path, history: Any, site_name: str) -> None:
    """A failed and a passed build of change 1, and 60 more to page through."""
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    buildset = await history.add_buildset(
        pipeline="check",
        project="example/calc",
        change=1,
        patchset=1,
        site=site_name,
        started=start,
    )
    failed_dir = logs / "check-1-abcdef01" / "unit-3.11"
    failed_dir.mkdir(parents=True)
    lines = [f"Build of job unit-3.11 line {n}" for n in range(1, 11)]
    lines += [
        f"2026-12-01 08:00:{n % 60:02d}.000000 | primary | \x1b[32mok\x1b[0m test {n}"
        for n in range(11, CONSOLE_LINES)
    ]
    lines.append(f"2026-12-01 08:01:00.000000 | primary | \x1b[31m{FAILING_LINE}\x1b[0m")
    lines.append("2026-12-01 08:01:00.000000 | executor | Build finished: FAILURE")
    console = failed_dir / "console.log"
    console.write_text("\n".join(lines) + "\n")
    (failed_dir / "primary" / "logs").mkdir(parents=True)
    (failed_dir / "primary" / "logs" / "syslog.txt").write_text("kernel: booted\n<b>bold</b>\n")
    (failed_dir / "primary" / "logs" / "core.bin").write_bytes(bytes(range(256)) * 4)
    (failed_dir / "primary" / "logs" / "page.html").write_text("<script>window.pwned=3</script>")
    site.outside = logs.parent / "secret.txt"
    site.outside.write_text("not for the web\n")
    os.symlink("/etc/passwd", failed_dir / "primary" / "logs" / "passwd")
    os.symlink(site.outside, failed_dir / "primary" / "secret-link")
    tree = {"example/calc": _head(site.root)}
    node = RecordedNode("primary", "default", "0000000007", "example", "0000000003")
    failed = await history.add_build(
        buildset=buildset.uuid,
        job="unit-3.11",
        node_provider="local-a",
        nodes=[node],
        tree=tree,
        log_path=str(console),
        started=start,
    )
    await history.finish_build(
        failed.id,
        result="FAILURE",
        ended=start + timedelta(seconds=75),
        error="run step 1/1 on primary exited 1",
    )
    site.builds["failed"] = failed.id
    passed = await history.add_build(
        buildset=buildset.uuid,
        job="style",
        node_provider="local-b",
        tree=tree,
        started=start,
    )
    await history.finish_build(passed.id, result="SUCCESS", ended=start + timedelta(seconds=12))
    site.builds["passed"] = passed.id
    await _odd_builds(site, logs, history, buildset=buildset.uuid, start=start)
    for number in range(60):
        when = start - timedelta(hours=number + 1)
        other = await history.add_buildset(
            pipeline="gate",
            project="acme/app",
            change=100 + number,
            patchset=1,
            site=site_name,
            started=when,
        )
        build = await history.add_build(
            buildset=other.uuid, job="unit", node_provider="local-b", started=when
        )
        result = "NODE_FAILURE" if number % 4 == 0 else "SUCCESS"
        await history.finish_build(build.id, result=result, ended=when + timedelta(seconds=30))


LONG_LINE = "x" * 100_000
WIDE_LINE = "é" * 40_000  # 80,000 bytes: cut in parts, never inside a character


async def _odd_builds(
    site: WebSite, logs: Path, history: Any, *, buildset: str, start: datetime
) -> None:
    """A build whose console has lines longer than a page shows or an event
    carries, a build directory with a named pipe and a deep tree, and a
    build of another site sharing the history."""
    long_dir = logs / "check-1-abcdef01" / "style"
    long_dir.mkdir(parents=True)
    console = long_dir / "console.log"
    console.write_text(f"short 1\n{LONG_LINE}\n{WIDE_LINE}\nshort 2\n")
    os.mkfifo(long_dir / "pipe")
    deep = long_dir / "deep"
    for _ in range(200):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("far down\n")
    long = await history.add_build(
        buildset=buildset, job="style", log_path=str(console), started=start
    )
    await history.finish_build(long.id, result="SUCCESS", ended=start + timedelta(seconds=5))
    site.builds["long"] = long.id
    other = await history.add_buildset(
        pipeline="check",
        project="other/project",
        change=1,
        patchset=1,
        site="another-site",
        started=start,
    )
    foreign = await history.add_build(buildset=other.uuid, job="unit", started=start)
    await history.finish_build(foreign.id, result="FAILURE", ended=start)
    site.builds["foreign"] = foreign.id


def _head(root: Path) -> str:
    repo = root / "data" / "git" / "example" / "calc.git"
    return subprocess.run(
        ["git", f"--git-dir={repo}", "rev-parse", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
