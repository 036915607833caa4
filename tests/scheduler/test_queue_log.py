"""The serve log an operator follows: one INFO line per change entering a
queue, merging, and being reported, from the real scheduler."""

from __future__ import annotations

import logging

import pytest

from tests.scheduler.harness import SchedulerSite


async def test_enqueue_merge_and_report_are_logged(
    site: SchedulerSite, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trunkgate.scheduler")
    site.start_scheduler()
    site.start_executor()
    assert site.review is not None
    first = await site.propose("a.txt", "one way\n", "First edit")
    second = await site.propose("a.txt", "another way\n", "Second edit")
    site.hold.clear()
    await site.review.approve(first)
    await site.review.approve(second)
    await site.wait_pending(lambda builds: any(b.pipeline == "gate" for b in builds))
    site.hold.set()
    await site.settled()
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert f"gate: enqueued change {first},1 of acme/app on main" in lines
    assert f"gate: enqueued change {second},1 of acme/app on main" in lines
    assert f"gate: merged change {first},1 into acme/app main" in lines
    assert f"gate: reported change {first},1: SUCCESS" in lines
    conflict = [line for line in lines if line.startswith(f"gate: reported change {second},1:")]
    assert len(conflict) == 1
    assert conflict[0].startswith(f"gate: reported change {second},1: MERGE_CONFLICT (")
