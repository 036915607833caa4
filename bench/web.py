"""The web component, measured over HTTP on the loopback, as a browser or a
script sees it:

1. GET /api/status while the gate holds 500 items (25 project queues of 20,
   every item TESTING with 2-3 jobs, some running, some done): p50 and p95
   of sequential requests on one kept-alive connection.
2. GET /api/builds over a history of 20,000 finished builds (SQLite), with a
   mix of the searches people make (filters, paging, a time window): p95.
3. Console latency: from a line written to a build's console to its arrival
   at a client of GET /api/builds/{id}/console/events. As root, end to end:
   a real build on a namespace node prints `date +%s.%N` lines and each
   arrival is compared with the time the node printed (one kernel clock).
   Always also the web's own share: lines the bench appends to the console
   file of an unfinished build, compared with the time each was written.

Parts 1, 2 and the web's share run against `trunkgate serve --components
web` in a process of its own; the end-to-end run is a whole site in this
process (scheduler, executor, launcher and web), as `trunkgate demo` runs
one. Progress goes to stderr; the last line of stdout is one JSON object.

    .venv/bin/python bench/web.py [--status-requests 300] [--search-rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gitwork import git
from trunkgate.builds.records import build_id, history_buildset
from trunkgate.builds.results import BuildResult
from trunkgate.config.loader import load_config
from trunkgate.gate.changes import ChangeRef, JobSpec
from trunkgate.gate.codec import state_from_dict, state_to_dict
from trunkgate.gate.state import Build, BuildState, ChangeQueue, Item, Phase, PipelineState
from trunkgate.history import connect, tables
from trunkgate.history.site import history_url, open_site_history
from trunkgate.local_site import LocalSite
from trunkgate.scheduler import layout
from trunkgate.site import LOGS_DIR, open_site_review, open_site_store, site_id

# The targets the figures are read against (printed beside them, never asserted).
STATUS_P95_TARGET_MS = 50.0
SEARCH_P95_TARGET_MS = 100.0
CONSOLE_TARGET_MS = 250.0

QUEUES = 25
ITEMS_PER_QUEUE = 20
FINISHED_BUILDS = 20_000
HISTORY_DAYS = 30
PROJECTS = [f"org/project-{n:02d}" for n in range(40)]
JOBS = [
    "unit-py311",
    "unit-py312",
    "unit-py313",
    "lint",
    "docs",
    "coverage",
    "functional",
    "integration",
    "build-wheel",
    "build-sdist",
    "security-scan",
    "e2e-browser",
]
NODE_PROVIDERS = ["east", "west", "north", "south"]
# Roughly what a busy site's history looks like.
RESULT_WEIGHTS = {
    "SUCCESS": 80,
    "FAILURE": 12,
    "TIMED_OUT": 2,
    "NODE_FAILURE": 2,
    "ERROR": 1,
    "CANCELED": 2,
    "MERGE_CONFLICT": 1,
}
PIPELINE_WEIGHTS = {"check": 60, "gate": 35, "post": 3, "periodic": 2}

CONSOLE_LINES = 40
CONSOLE_GAP_S = 0.15
TICKER_PROJECT = "bench/ticker"
# The client gives up on a console stream after this long without a byte
# (the web sends a keepalive every 15 s).
STREAM_TIMEOUT_S = 40.0

SITE_CONFIG = """\
state:
  data-dir: ./data
web:
  listen: 127.0.0.1
  port: 0
labels:
  - name: default
jobs:
{jobs}
projects:
{projects}
"""

TICKER_CONFIG = f"""\
state:
  data-dir: ./data
web:
  listen: 127.0.0.1
  port: 0
labels:
  - name: default
    min-ready: 1
providers:
  - name: local
    driver: namespace
    max-servers: 2
    labels: [{{name: default, image: host}}]
jobs:
  - name: ticker
    run:
      - sleep 2; for i in $(seq {CONSOLE_LINES}); do date +%s.%N; sleep {CONSOLE_GAP_S}; done
projects:
  - name: {TICKER_PROJECT}
    check: [ticker]
"""


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def verdict(value: float, target: float) -> str:
    return f"target < {target:g} ms: {'met' if value < target else 'MISSED'}"


# -- the site: its config, its gate and its history ----------------------------


@dataclass
class Site:
    """What the bench made, for the measures to ask about."""

    config_path: Path
    site: str
    console_build: str
    console_path: Path
    searches: list[tuple[str, dict[str, str]]] = field(default_factory=list)


def jobs_of(project: str) -> list[str]:
    """The jobs a project runs: a few of JOBS, the same each time."""
    rng = random.Random(project)
    return rng.sample(JOBS, rng.randint(3, 6))


def write_config(directory: Path) -> Path:
    directory.mkdir(parents=True)
    jobs = "\n".join(f"  - name: {job}\n    run:\n      - 'true'" for job in JOBS)
    projects = "\n".join(
        f"  - name: {project}\n    check: [{', '.join(jobs_of(project))}]\n"
        f"    gate: [{', '.join(jobs_of(project))}]"
        for project in PROJECTS
    )
    path = directory / "trunkgate.yaml"
    path.write_text(SITE_CONFIG.format(jobs=jobs, projects=projects))
    return path


@dataclass
class Rows:
    """History rows for a bulk insert."""

    buildsets: list[dict[str, Any]] = field(default_factory=list)
    builds: list[dict[str, Any]] = field(default_factory=list)

    def buildset(
        self,
        *,
        uuid: str,
        site: str,
        pipeline: str,
        project: str,
        change: int | None,
        patchset: int | None,
        started: datetime,
        result: str | None,
        ended: datetime | None,
    ) -> None:
        self.buildsets.append(
            {
                "uuid": uuid,
                "site": site,
                "pipeline": pipeline,
                "project": project,
                "change": change,
                "patchset": patchset,
                "ref": f"refs/changes/{change}/{patchset}" if change else "refs/heads/main",
                "branch": "main",
                "result": result,
                "message": None if result is None else f"Build {result.lower()}",
                "started": started,
                "ended": ended,
            }
        )

    def build(
        self,
        rng: random.Random,
        *,
        id: str,
        buildset: str,
        project: str,
        job: str,
        started: datetime,
        result: str | None,
        log_path: str,
    ) -> None:
        provider = rng.choice(NODE_PROVIDERS)
        ended = None if result is None else started + timedelta(seconds=rng.uniform(30, 1800))
        self.builds.append(
            {
                "id": id,
                "buildset_uuid": buildset,
                "job": job,
                "result": result,
                "voting": rng.random() > 0.05,
                "node_provider": provider,
                "nodes": [
                    {
                        "name": "primary",
                        "label": "default",
                        "node_id": f"{rng.randrange(10**10):010d}",
                        "image": "host",
                    }
                ],
                "log_path": log_path,
                "started": started,
                "ended": ended,
                "retries": 1 if result == "NODE_FAILURE" else 0,
                "tree": {project: f"{rng.getrandbits(160):040x}"},
                "error": "the node went away" if result == "NODE_FAILURE" else None,
            }
        )

    @property
    def finished(self) -> int:
        return sum(row["result"] is not None for row in self.builds)


def gate_state(
    site: str, rows: Rows, rng: random.Random, now: datetime, logs: Path
) -> dict[str, Any]:
    """The gate with QUEUES x ITEMS_PER_QUEUE items, every one TESTING; its
    running and finished builds are put in the history too, as an executor
    would have recorded them."""
    state = PipelineState(pipeline="gate")
    number = 50_000
    for project in PROJECTS[:QUEUES]:
        queue = ChangeQueue(name=project, window=ITEMS_PER_QUEUE)
        for _ in range(ITEMS_PER_QUEUE):
            number += 1
            change = ChangeRef(project, number, rng.randint(1, 4))
            jobs = tuple(JobSpec(job) for job in rng.sample(jobs_of(project), rng.randint(2, 3)))
            tree = (*(item.change for item in queue.items), change)
            buildset = f"gate#{state.next_id}"
            state.next_id += 1
            item = Item(
                change=change,
                jobs=jobs,
                phase=Phase.TESTING,
                tree=tree,
                prepared_tree=tree,
                buildset=buildset,
                commits={project: f"{rng.getrandbits(160):040x}"},
            )
            recorded = history_buildset(site, buildset)
            started = now - timedelta(seconds=rng.uniform(60, 1200))
            rows.buildset(
                uuid=recorded,
                site=site,
                pipeline="gate",
                project=project,
                change=number,
                patchset=change.patchset,
                started=started,
                result=None,
                ended=None,
            )
            for job in jobs:
                kind = rng.choices(["requested", "running", "done"], [1, 4, 5])[0]
                if kind == "requested":
                    item.builds[job.name] = Build(job.name, job.voting)
                    continue
                ident = build_id(site, buildset, job.name)
                result = None
                if kind == "done":
                    result = BuildResult.SUCCESS if rng.random() < 0.85 else BuildResult.FAILURE
                item.builds[job.name] = Build(
                    job.name,
                    job.voting,
                    state=BuildState.DONE if result else BuildState.RUNNING,
                    result=result,
                    build_id=ident,
                    url=f"/build/{ident}",
                )
                rows.build(
                    rng,
                    id=ident,
                    buildset=recorded,
                    project=project,
                    job=job.name,
                    started=started + timedelta(seconds=5),
                    result=None if result is None else str(result),
                    log_path=str(logs / f"{buildset}-{recorded[:8]}" / job.name / "console.log"),
                )
            queue.items.append(item)
        state.queues[project] = queue
    return state_to_dict(state)


def past_builds(site: str, rows: Rows, rng: random.Random, now: datetime, logs: Path) -> None:
    """Finished buildsets of the last HISTORY_DAYS until the history holds
    FINISHED_BUILDS finished builds."""
    finished = rows.finished
    while finished < FINISHED_BUILDS:
        project = rng.choice(PROJECTS)
        pipeline = rng.choices(list(PIPELINE_WEIGHTS), list(PIPELINE_WEIGHTS.values()))[0]
        change = rng.randint(1, 9000) if pipeline in ("check", "gate") else None
        patchset = rng.randint(1, 5) if change else None
        started = now - timedelta(seconds=rng.uniform(1800, HISTORY_DAYS * 86400))
        uuid = f"{rng.getrandbits(128):032x}"
        results = []
        for job in jobs_of(project)[: FINISHED_BUILDS - finished]:
            result = rng.choices(list(RESULT_WEIGHTS), list(RESULT_WEIGHTS.values()))[0]
            results.append(result)
            rows.build(
                rng,
                id=f"{rng.getrandbits(128):032x}",
                buildset=uuid,
                project=project,
                job=job,
                started=started + timedelta(seconds=rng.uniform(1, 60)),
                result=result,
                log_path=str(logs / f"{pipeline}#{rng.randrange(10**6)}-{uuid[:8]}" / job),
            )
            finished += 1
        overall = "SUCCESS" if all(r == "SUCCESS" for r in results) else "FAILURE"
        rows.buildset(
            uuid=uuid,
            site=site,
            pipeline=pipeline,
            project=project,
            change=change,
            patchset=patchset,
            started=started,
            result=overall,
            ended=started + timedelta(hours=1),
        )


def console_build(site: str, rows: Rows, now: datetime, logs: Path) -> tuple[str, Path]:
    """An unfinished build whose console file the bench writes to."""
    uuid = "c0" * 16
    ident = "c1" * 16
    path = logs / f"check#1-{uuid[:8]}" / "unit-py312" / "console.log"
    rows.buildset(
        uuid=uuid,
        site=site,
        pipeline="check",
        project=PROJECTS[0],
        change=9999,
        patchset=1,
        started=now,
        result=None,
        ended=None,
    )
    rows.build(
        random.Random(0),
        id=ident,
        buildset=uuid,
        project=PROJECTS[0],
        job="unit-py312",
        started=now,
        result=None,
        log_path=str(path),
    )
    path.parent.mkdir(parents=True)
    path.write_text(f"Build {ident} of job unit-py312 started\n")
    return ident, path


def insert(engine: Engine, rows: Rows) -> None:
    with engine.begin() as connection:
        connection.execute(tables.buildset.insert(), rows.buildsets)
        for start in range(0, len(rows.builds), 5000):
            connection.execute(tables.build.insert(), rows.builds[start : start + 5000])


def searches(rows: Rows, now: datetime) -> list[tuple[str, dict[str, str]]]:
    """The searches people make, with values the history holds."""
    rng = random.Random(3)
    finished = [b for b in rows.builds if b["result"] is not None]
    changes = [s["change"] for s in rows.buildsets if s["change"] and s["result"]]
    failing = rng.choice(PROJECTS)
    day = now - timedelta(days=12)
    return [
        ("everything", {}),
        ("project", {"project": rng.choice(PROJECTS)}),
        ("job", {"job": rng.choice(JOBS)}),
        ("result=FAILURE", {"result": "FAILURE"}),
        ("node_provider", {"node_provider": rng.choice(NODE_PROVIDERS)}),
        ("change", {"change": str(rng.choice(changes))}),
        ("project+result", {"project": failing, "result": "FAILURE"}),
        ("job+node_provider", {"job": finished[0]["job"], "node_provider": "west"}),
        ("offset=1000", {"offset": "1000"}),
        (
            "since+until (a day)",
            {"since": day.isoformat(), "until": (day + timedelta(1)).isoformat()},
        ),
        ("pipeline=gate, 200 a page", {"pipeline": "gate", "limit": "200"}),
    ]


async def make_site(directory: Path) -> Site:
    config_path = write_config(directory)
    config = load_config(config_path)
    store = await open_site_store(config)
    try:
        site = await site_id(store)
        history = await open_site_history(config)  # makes the schema
        await history.close()
        rng = random.Random(7)
        now = datetime.now(UTC)
        logs = config.data_dir / LOGS_DIR
        rows = Rows()
        state = gate_state(site, rows, rng, now, logs)
        ident, path = console_build(site, rows, now, logs)
        past_builds(site, rows, rng, now, logs)
        started = time.perf_counter()
        engine = connect.create(history_url(config))
        try:
            insert(engine, rows)
        finally:
            engine.dispose()
        say(
            f"history: {len(rows.builds)} builds ({rows.finished} finished) in "
            f"{len(rows.buildsets)} buildsets, inserted in {time.perf_counter() - started:.1f}s"
        )
        state_from_dict(state)  # what the web will read must read
        await store.create(layout.pipeline("gate"), state)
        size = len(json.dumps(state)) / 1e6
        say(f"gate: {QUEUES * ITEMS_PER_QUEUE} items in {QUEUES} queues, {size:.1f} MB stored")
    finally:
        await store.close()
    return Site(config_path, site, ident, path, searches(rows, now))


# -- the web component in a process of its own ---------------------------------


class WebServer:
    """`trunkgate serve --components web` on a port of its choosing, read
    from its log; stopped with SIGTERM as an operator stops it."""

    def __init__(self, config_path: Path) -> None:
        self.log_path = config_path.parent / "serve.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trunkgate.cli.main",
                "-c",
                str(config_path),
                "serve",
                "--components",
                "web",
                "--log-level",
                "info",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        self.port = self._wait_for_port()

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = re.search(r"web port [\d.]+:(\d+)", self.log_path.read_text())
            if found:
                return int(found.group(1))
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"trunkgate serve did not start:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        for line in self.log_path.read_text().splitlines():
            if " WARNING " in line or " ERROR " in line:
                say(f"  serve said: {line}")


def get(connection: http.client.HTTPConnection, path: str) -> bytes:
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
    return body


def gate_items(status: list[dict[str, Any]]) -> int:
    return sum(
        len(queue["items"])
        for row in status
        if row["pipeline"] == "gate"
        for queue in row["queues"]
    )


def measure_status(port: int, requests: int) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        deadline = time.monotonic() + 30
        while True:  # the feed reads the store once it starts
            status = json.loads(get(connection, "/api/status"))
            if gate_items(status) == QUEUES * ITEMS_PER_QUEUE:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the status shows {gate_items(status)} gate items, not 500")
            time.sleep(0.1)
        jobs = [
            job
            for row in status
            for queue in row["queues"]
            for item in queue["items"]
            for job in item["jobs"]
        ]
        timed = sum(job["started"] is not None for job in jobs)
        body = get(connection, "/api/status")
        say(
            f"status: {len(body) / 1e3:.0f} kB, {len(jobs)} jobs, {timed} with their start "
            "from the history"
        )
        for _ in range(20):
            get(connection, "/api/status")
        samples = []
        for _ in range(requests):
            started = time.perf_counter()
            get(connection, "/api/status")
            samples.append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    return samples


def measure_search(
    port: int, searches: list[tuple[str, dict[str, str]]], rounds: int
) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    by_search: dict[str, list[float]] = {name: [] for name, _ in searches}
    try:
        for name, query in searches:  # warm up, and check that each finds builds
            found = json.loads(get(connection, f"/api/builds?{urllib.parse.urlencode(query)}"))
            if not found["builds"]:
                raise RuntimeError(f"the search {name} ({query}) finds no build")
        for _ in range(rounds):
            for name, query in searches:
                path = f"/api/builds?{urllib.parse.urlencode(query)}"
                started = time.perf_counter()
                get(connection, path)
                by_search[name].append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    for name, samples in by_search.items():
        say(
            f"  {name:28} p50 {statistics.median(samples):6.1f} ms  "
            f"p95 {percentile(samples, 0.95):6.1f} ms"
        )
    return [sample for samples in by_search.values() for sample in samples]


# -- console latency -----------------------------------------------------------


def printed_time(line: str) -> float | None:
    """The time a ticker line carries (`... | source | 1760000000.123456789`)."""
    text = line.rsplit(" | ", 1)[-1].strip()
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 1e9 else None


def sse_events(response: http.client.HTTPResponse) -> Iterator[tuple[str, str]]:
    """(event, data) of a server-sent event stream, as each arrives."""
    name = "message"
    data: list[str] = []
    for raw in response:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


@dataclass
class ConsoleFollower:
    """Follows a build's console stream in a thread of its own, noting for
    each stamped line how long after its stamp it arrived."""

    port: int
    build: str
    lines: int
    latencies: list[float] = field(default_factory=list)
    result: str | None = None
    connected: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None

    def run(self) -> None:
        try:
            self._follow()
        except Exception as exc:  # handed to the caller's thread
            self.error = exc
            self.connected.set()

    def _follow(self) -> None:
        path = f"/api/builds/{self.build}/console/events"
        deadline = time.monotonic() + 60
        while True:  # the build's record may not be in the history yet
            connection = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=STREAM_TIMEOUT_S
            )
            connection.request("GET", path)
            response = connection.getresponse()
            if response.status == 200:
                break
            response.read()
            connection.close()
            if response.status != 404 or time.monotonic() > deadline:
                raise RuntimeError(f"GET {path}: {response.status}")
            time.sleep(0.05)
        connected_at = time.time()
        self.connected.set()
        try:
            for name, data in sse_events(response):
                arrived = time.time()
                if name == "end":
                    self.result = json.loads(data)["result"]
                    return
                if name != "lines":
                    continue
                for line in json.loads(data)["text"].splitlines():
                    stamp = printed_time(line)
                    # Lines written before the client was there are history, not latency.
                    if stamp is not None and stamp >= connected_at:
                        self.latencies.append((arrived - stamp) * 1000)
                if len(self.latencies) >= self.lines:
                    return
        finally:
            connection.close()


def measure_console_file(port: int, site: Site, lines: int) -> list[float]:
    """The web's share: lines appended to an unfinished build's console file
    (as the executor appends them, one flushed write each), stamped with
    the time of the write."""
    follower = ConsoleFollower(port, site.console_build, lines)
    thread = threading.Thread(target=follower.run, daemon=True)
    thread.start()
    follower.connected.wait(60)
    time.sleep(0.5)  # the web has read the file once: every line is a live one
    with site.console_path.open("a") as console:
        for _ in range(lines):
            moment = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            console.write(f"{moment} | primary | {time.time():.9f}\n")
            console.flush()
            time.sleep(CONSOLE_GAP_S)
    thread.join(STREAM_TIMEOUT_S)
    if follower.error is not None:
        raise follower.error
    if len(follower.latencies) < lines:
        raise RuntimeError(f"{len(follower.latencies)} of {lines} console lines arrived")
    return follower.latencies


async def running_build(site: LocalSite, pipeline: str) -> str:
    """The id of the first build that runs in `pipeline`."""
    assert site.store is not None
    deadline = time.monotonic() + 120
    async with site.store.watch(layout.PIPELINES) as watch:
        await watch.arm()
        while time.monotonic() < deadline:
            record = await site.store.get(layout.pipeline(pipeline))
            if record is not None and isinstance(record.value, dict):
                for queue in state_from_dict(record.value).queues.values():
                    for item in queue.items:
                        for build in item.builds.values():
                            if build.state is BuildState.RUNNING and build.build_id:
                                return build.build_id
            if site.failed():
                raise RuntimeError(site.failed())
            await watch.changed(1.0)
    raise RuntimeError(f"no build ran in {pipeline} within 120 s")


def write_ticker_site(directory: Path) -> tuple[Path, Path, str]:
    """The ticker site's config, its project's first commit and the change
    to propose (a commit beside `main`); returns the config, the working
    repository and the change's commit."""
    directory.mkdir(parents=True)
    config = directory / "trunkgate.yaml"
    config.write_text(TICKER_CONFIG)
    work = directory / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "README").write_text("ticker\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Initial")
    git(work, "checkout", "-q", "-b", "tick")
    (work / "change").write_text("tick\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Tick")
    commit = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "main")
    return config, work, commit


async def measure_console_end_to_end(config_path: Path, work: Path, commit: str) -> list[float]:
    """A real build on a namespace node prints `date +%s.%N` lines; each
    comes over SSH from the node's network namespace, through the executor
    into the console file, and out of the web to this client."""
    config = load_config(config_path)
    site = LocalSite(config)
    started = time.monotonic()
    try:
        store = await site.start(("scheduler", "executor", "launcher", "web"))
        review = open_site_review(config, store)
        await review.create_project(TICKER_PROJECT, "main", seed=work)
        await review.propose(TICKER_PROJECT, "main", work, commit)
        build = await running_build(site, "check")
        say(f"console: build {build} runs, {time.monotonic() - started:.1f}s after the start")
        follower = ConsoleFollower(config.web.port, build, CONSOLE_LINES)
        await asyncio.to_thread(follower.run)
        if follower.error is not None:
            raise follower.error
        if len(follower.latencies) < CONSOLE_LINES // 2:
            raise RuntimeError(
                f"{len(follower.latencies)} of {CONSOLE_LINES} console lines arrived "
                f"(the build ended {follower.result})"
            )
    finally:
        await site.stop()
    return follower.latencies


# -- the whole bench -----------------------------------------------------------


def report(name: str, value: float, target: float | None = None) -> None:
    say(f"{name}: {value:.1f} ms" + (f"  ({verdict(value, target)})" if target else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--status-requests", type=int, default=300)
    parser.add_argument("--search-rounds", type=int, default=30)
    args = parser.parse_args()
    root = os.geteuid() == 0
    with tempfile.TemporaryDirectory(prefix="trunkgate-bench-web-") as tmp:
        site = asyncio.run(make_site(Path(tmp) / "site"))
        server = WebServer(site.config_path)
        try:
            say(f"web: trunkgate serve --components web on 127.0.0.1:{server.port}")
            status = measure_status(server.port, args.status_requests)
            say(f"builds search, {args.search_rounds} rounds of {len(site.searches)} searches:")
            search = measure_search(server.port, site.searches, args.search_rounds)
            console_file = measure_console_file(server.port, site, CONSOLE_LINES)
        finally:
            server.stop()
        if root:
            say("console: end to end, a build on a namespace node (this takes a while)")
            ticker = write_ticker_site(Path(tmp) / "ticker")
            console = asyncio.run(measure_console_end_to_end(*ticker))
            source = "end-to-end: namespace node -> executor -> console file -> web -> client"
        else:
            say("console: not root, so no namespace node; the web's share only")
            console, source = console_file, "console file -> web -> client (no node: not root)"
    figures: dict[str, Any] = {
        "status_p50_ms": round(statistics.median(status), 1),
        "status_p95_ms": round(percentile(status, 0.95), 1),
        "build_search_p95_ms": round(percentile(search, 0.95), 1),
        "console_latency_ms": round(statistics.median(console), 1),
        "console_latency_p95_ms": round(percentile(console, 0.95), 1),
        "console_latency_source": source,
        "console_file_latency_ms": round(statistics.median(console_file), 1),
        "console_file_latency_p95_ms": round(percentile(console_file, 0.95), 1),
    }
    say("")
    report("status p50", figures["status_p50_ms"])
    report("status p95", figures["status_p95_ms"], STATUS_P95_TARGET_MS)
    report("build search p95", figures["build_search_p95_ms"], SEARCH_P95_TARGET_MS)
    report(f"console latency p50 ({source})", figures["console_latency_ms"], CONSOLE_TARGET_MS)
    report("console latency p95", figures["console_latency_p95_ms"])
    report("console latency p50, web's share only", figures["console_file_latency_ms"])
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
