"""The post pipeline runs on what merged; the periodic pipeline runs every
project's branch tip when its timer fires (the clock is moved, not waited on)."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.scheduler.harness import CONFIG, PROJECT, SchedulerSite, git
from trunkgate.review.events import ReviewEvent
from trunkgate.scheduler import layout

WITH_POST_AND_PERIODIC = CONFIG.replace(
    "    gate: [unit, lint]\n", "    gate: [unit, lint]\n    post: [lint]\n    periodic: [unit]\n"
)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[SchedulerSite]:
    site = SchedulerSite(tmp_path, WITH_POST_AND_PERIODIC)
    await site.open()
    yield site
    await site.close()


def utc(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp()


async def test_post_runs_on_the_merged_change(site: SchedulerSite) -> None:
    site.start_scheduler()
    site.start_executor()
    assert site.review is not None
    number = await site.propose("a.txt", "merged\n", "Edit a")
    await site.review.approve(number)
    await site.settled()
    assert await site.results("post") == {number: "SUCCESS"}
    post = [r for r in site.requests if r.pipeline == "post"]
    assert [(r.change, r.job) for r in post] == [(number, "lint")]
    change = await site.change(number)
    assert any("(post pipeline)" in c.text for c in change.comments)


async def timer_seen(site: SchedulerSite, moment: float) -> None:
    """Wait until the scheduler has looked at the timers at `moment`."""
    assert site.store is not None
    assert site.scheduler is not None
    site.now = moment
    site.scheduler.poke()
    for _ in range(500):
        record = await site.store.get(layout.timer("periodic"))
        if record is not None and record.value == moment:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the scheduler never looked at its timers")


async def test_periodic_runs_the_branch_tip_when_its_timer_fires(site: SchedulerSite) -> None:
    site.now = utc("2026-11-24T02:59:00")
    site.start_scheduler()
    site.start_executor()
    await timer_seen(site, utc("2026-11-24T02:59:00"))
    await timer_seen(site, utc("2026-11-24T02:59:50"))
    assert not [r for r in site.requests if r.pipeline == "periodic"]
    await timer_seen(site, utc("2026-11-24T03:00:05"))
    await site.settled()
    (run,) = await site.buildsets("periodic")
    assert (run.ref, run.change, run.result) == ("refs/heads/main", None, "SUCCESS")
    periodic = [r for r in site.requests if r.pipeline == "periodic"]
    assert [(r.project, r.change, r.job) for r in periodic] == [("acme/app", 0, "unit")]
    # Not again the same day, and again the next.
    await timer_seen(site, utc("2026-11-24T12:00:00"))
    await timer_seen(site, utc("2026-11-25T02:00:00"))
    await site.settled()
    assert len(await site.buildsets("periodic")) == 1
    await timer_seen(site, utc("2026-11-25T03:00:30"))
    await site.settled()
    assert [b.result for b in await site.buildsets("periodic")] == ["SUCCESS", "SUCCESS"]


async def test_pushes_to_two_branches_and_two_pushes_to_one_each_run_and_are_recorded(
    site: SchedulerSite,
) -> None:
    assert site.review is not None
    repo = site.config.data_dir / "git" / f"{PROJECT}.git"
    git(site.work, "push", "-q", str(repo), "main:refs/heads/stable")
    site.hold.clear()  # every push arrives while the ones before are queued
    site.start_scheduler()
    site.start_executor()
    for branch, name in (("main", "a.txt"), ("stable", "b.txt"), ("main", "c.txt")):
        git(site.work, "checkout", "-q", "-B", branch, "main")
        (site.work / name).write_text("pushed\n")
        git(site.work, "commit", "-q", "-am", f"Push {name}")
        git(site.work, "push", "-q", str(repo), f"HEAD:refs/heads/{branch}")
        await site.review.events.emit(
            ReviewEvent(
                kind="ref-updated",
                source="local",
                project=PROJECT,
                branch=branch,
                at=site.now,
                commit=git(site.work, "rev-parse", "HEAD"),
                ref=f"refs/heads/{branch}",
            )
        )
    git(site.work, "checkout", "-q", "main")
    site.hold.set()
    await site.settled()
    post = await site.buildsets("post")
    assert sorted((b.ref, b.change, b.result) for b in post) == [
        ("refs/heads/main", None, "SUCCESS"),
        ("refs/heads/main", None, "SUCCESS"),
        ("refs/heads/stable", None, "SUCCESS"),
    ]
    assert sorted(r.branch for r in site.requests if r.pipeline == "post") == [
        "main",
        "main",
        "stable",
    ]
