"""The post pipeline runs on what merged; the periodic pipeline runs every
project's branch tip when its timer fires (the clock is moved, not waited on)."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.scheduler.harness import CONFIG, SchedulerSite
from trunkgate.gate.results import ItemResult
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
    assert site.scheduler is not None
    await site.settle(
        lambda: any(p == "post" for p, _ in site.scheduler.reported)  # type: ignore[union-attr]
    )
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
    scheduler = site.start_scheduler()
    site.start_executor()
    await timer_seen(site, utc("2026-11-24T02:59:00"))
    await timer_seen(site, utc("2026-11-24T02:59:50"))
    assert not [r for r in site.requests if r.pipeline == "periodic"]
    await timer_seen(site, utc("2026-11-24T03:00:05"))
    await site.settle(lambda: any(p == "periodic" for p, _ in scheduler.reported))
    (report,) = [r for p, r in scheduler.reported if p == "periodic"]
    assert report.result is ItemResult.SUCCESS
    periodic = [r for r in site.requests if r.pipeline == "periodic"]
    assert [(r.project, r.change, r.job) for r in periodic] == [("acme/app", 0, "unit")]
    # Not again the same day, and again the next.
    await timer_seen(site, utc("2026-11-24T12:00:00"))
    await timer_seen(site, utc("2026-11-25T02:00:00"))
    assert len([p for p, _ in scheduler.reported if p == "periodic"]) == 1
    await timer_seen(site, utc("2026-11-25T03:00:30"))
    await site.settle(lambda: len([p for p, _ in scheduler.reported if p == "periodic"]) == 2)
