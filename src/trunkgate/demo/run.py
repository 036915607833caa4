"""The demo's story: an example site in a throw-away directory, every
component started in this process, five changes proposed and approved into
the gate, live progress, the final table, and a check that every change got
the outcome it should. Nothing is left running or on disk afterwards."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trunkgate.config.loader import Config, load_config
from trunkgate.demo.changes import CHANGES, DemoChange, commit_change
from trunkgate.example import EXAMPLE_PROJECT, create_example_repository, track, write_example
from trunkgate.gate.codec import state_from_dict
from trunkgate.history.records import BuildRecord
from trunkgate.images.repository import ImageRecords
from trunkgate.local_site import LocalSite
from trunkgate.review.model import Change
from trunkgate.review.source import LocalReview
from trunkgate.scheduler import layout
from trunkgate.site import open_site_review
from trunkgate.store import Store

COMPONENTS = ("scheduler", "executor", "launcher", "builder", "web")
TIME_LIMIT = 110.0
REPORTER = "trunkgate"
_OUTCOMES = {
    "Build succeeded": "SUCCESS",
    "Build failed": "FAILURE",
    "Merge failed": "MERGE_CONFLICT",
    "Dequeued": "DEQUEUED",
}

Say = Callable[[str], None]


@dataclass
class Row:
    change: int
    subject: str
    expected: str
    result: str
    jobs: str
    provider: str
    log_path: str

    @property
    def ok(self) -> bool:
        return self.result == self.expected


def gate_outcome(change: Change) -> str | None:
    """What the gate reported on a change, read from its comment; None while it has not."""
    for comment in reversed(change.comments):
        if comment.author == REPORTER and "(gate pipeline)" in comment.text:
            for headline, outcome in _OUTCOMES.items():
                if comment.text.startswith(headline):
                    return outcome
    return None


async def run_demo(directory: Path, say: Say, *, keep_running: bool = False) -> bool:
    """The whole demo in `directory`; True when every change got its expected outcome.

    With `keep_running`, the site goes on after the story until SIGINT or
    SIGTERM, for a look around with the other commands."""
    started = time.monotonic()

    def stamp(text: str) -> None:
        say(f"[{time.monotonic() - started:5.1f}s] {text}")

    config_path = write_example(directory, static_localhost=os.geteuid() != 0)
    config = load_config(config_path)
    if os.geteuid() != 0:
        say("not root: nodes are this host itself over SSH (the static driver), not namespaces")
    else:
        say(
            "nodes: real namespace nodes (overlay root, own network, sshd) from two providers, "
            "booted from an image the builder makes"
        )
    # The dashboard on a free port of the loopback: a demo never fights a
    # site of the host for its port.
    config.web = config.web.model_copy(update={"listen": "127.0.0.1", "port": 0})
    site = LocalSite(config)
    store = await site.start(COMPONENTS)
    say(f"dashboard: {site.dashboard}")
    try:
        review = open_site_review(config, store)
        working = directory / "src" / EXAMPLE_PROJECT
        bare = await create_example_repository(review, working)
        await asyncio.to_thread(track, working, bare)
        if config.images:
            # The image built at start came before the project: one more
            # caches it, and nodes boot that one once it is ready.
            for image in config.images:
                await ImageRecords(store).ask(image)
            stamp(
                f"asked for a build of image {', '.join(config.images)}, "
                f"which caches {EXAMPLE_PROJECT}"
            )
        numbers = await _propose(review, working, stamp)
        for number in numbers:
            await review.approve(number, user="reviewer")
        stamp(f"approved changes {', '.join(map(str, numbers))}: they enter the gate together")
        finished = await _follow(site, store, review, numbers, stamp=stamp, started=started)
        ok = _verdict(await _rows(config, review, numbers), finished, say, started)
        if keep_running:
            say(
                f"\nthe site keeps running: its dashboard is {site.dashboard}; try trunkgate "
                f"-c {config_path} status (or nodes, builds, change list); Ctrl-C stops it"
            )
            await _until_stopped()
    finally:
        await site.stop()
    return ok


def _verdict(rows: list[Row], finished: bool, say: Say, started: float) -> bool:
    """Print the final table and whether every change got its outcome."""
    say("")
    _print_table(rows, say)
    if not finished:
        say(f"the demo did not finish within {TIME_LIMIT:.0f}s")
        return False
    wrong = [row for row in rows if not row.ok]
    for row in wrong:
        say(f"change {row.change} ended {row.result}, but {row.expected} was expected")
    if not wrong:
        say(f"every change got the outcome it should, in {time.monotonic() - started:.1f}s")
    return not wrong


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _propose(review: LocalReview, working: Path, stamp: Say) -> list[int]:
    numbers = []
    for change in CHANGES:
        commit = await asyncio.to_thread(commit_change, working, change)
        proposed = await review.propose(EXAMPLE_PROJECT, "main", working, commit, user="developer")
        numbers.append(proposed.change.number)
        stamp(f"proposed change {proposed.change.number}: {change.subject} ({change.why})")
    return numbers


async def _follow(
    site: LocalSite,
    store: Store,
    review: LocalReview,
    numbers: list[int],
    *,
    stamp: Say,
    started: float,
) -> bool:
    """Print what changes in the gate until every change is reported; False on timeout."""
    seen: dict[str, str] = {}
    while time.monotonic() - started < TIME_LIMIT:
        record = await store.get(layout.pipeline("gate"))
        if record is not None and isinstance(record.value, dict):
            state = state_from_dict(record.value)
            for queue in state.queues.values():
                for item in queue.items:
                    jobs = ", ".join(
                        f"{name} {build.result or build.state}"
                        for name, build in sorted(item.builds.items())
                    )
                    tree = "+".join(str(c.number) for c in item.prepared_tree or ())
                    line = f"gate: change {item.change.number} {item.phase}"
                    line += f" on {tree}" if tree else ""
                    line += f": {jobs}" if jobs else ""
                    key = f"item {item.change.number}"
                    if seen.get(key) != line:
                        seen[key] = line
                        stamp(line)
        done = 0
        for number in numbers:
            outcome = gate_outcome(await review.get(number))
            if outcome is not None:
                done += 1
                key = f"report {number}"
                if key not in seen:
                    seen[key] = outcome
                    change = await review.get(number)
                    stamp(f"change {number} reported {outcome}; status {change.status}")
        if done == len(numbers):
            return True
        failed = site.failed()
        if failed:
            stamp(f"a component stopped: {failed}")
            return False
        await asyncio.sleep(0.25)
    return False


async def _rows(config: Config, review: LocalReview, numbers: list[int]) -> list[Row]:
    from trunkgate.history.site import open_site_history

    history = await open_site_history(config)
    rows = []
    try:
        for number, demo in zip(numbers, CHANGES, strict=True):
            change = await review.get(number)
            builds = await history.builds(change=number, pipeline="gate", limit=50)
            latest: dict[str, BuildRecord] = {}
            for build in builds:  # newest first: keep each job's last run
                latest.setdefault(build.job, build)
            jobs = ", ".join(
                f"{job} {build.result or 'running'}" for job, build in sorted(latest.items())
            )
            providers = sorted({b.node_provider for b in latest.values() if b.node_provider})
            logs = sorted(
                {str(Path(b.log_path).parent.parent) for b in latest.values() if b.log_path}
            )
            rows.append(_row(number, demo, change, jobs=jobs, providers=providers, logs=logs))
    finally:
        await history.close()
    return rows


def _row(
    number: int,
    demo: DemoChange,
    change: Change,
    *,
    jobs: str,
    providers: list[str],
    logs: list[str],
) -> Row:
    return Row(
        change=number,
        subject=demo.subject,
        expected=demo.expected,
        result=gate_outcome(change) or "NOT REPORTED",
        jobs=jobs or "none (no jobs run)",
        provider=",".join(providers) or "-",
        log_path=logs[-1] if logs else "-",
    )


def _print_table(rows: list[Row], say: Say) -> None:
    headers = ("CHANGE", "SUBJECT", "RESULT", "JOBS", "NODE PROVIDER", "LOG PATH")
    cells = [
        (
            str(r.change),
            r.subject,
            r.result + ("" if r.ok else " (!)"),
            r.jobs,
            r.provider,
            r.log_path,
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    for line in (headers, *cells):
        say("  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)))
