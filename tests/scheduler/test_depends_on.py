"""Depends-On with the real scheduler and the local source: a change is
tested on the change it names, merges only after it, cannot enter the gate
before it, and a cycle or a URL naming nothing is reported as such."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.scheduler.harness import SchedulerSite
from trunkgate.review.model import ChangeStatus

DASHBOARD = "http://ci.example.org/change"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[SchedulerSite]:
    site = SchedulerSite(tmp_path)
    await site.open()
    site.start_scheduler()
    site.start_executor()
    yield site
    await site.close()


def trees(site: SchedulerSite, number: int, pipeline: str) -> list[list[int]]:
    return [
        [c.number for c in r.tree]
        for r in site.requests
        if r.change == number and r.pipeline == pipeline and r.job == "unit"
    ]


async def text_of(site: SchedulerSite, number: int) -> str:
    return "\n".join(c.text for c in (await site.change(number)).comments)


async def test_a_change_is_checked_on_and_merged_after_the_change_it_names(
    site: SchedulerSite,
) -> None:
    assert site.review is not None
    lib = await site.propose("a.txt", "a changed\n", "Library change")
    app = await site.propose(
        "b.txt", "b changed\n", f"App change\n\nDepends-On: {DASHBOARD}/{lib}?project=acme%2Fapp"
    )
    await site.settled()
    assert trees(site, app, "check") == [[lib, app]]
    await site.review.approve(lib)
    await site.review.approve(app)
    await site.settled()
    deadline = time.monotonic() + 30
    while [(await site.change(n)).status for n in (lib, app)] != [ChangeStatus.MERGED] * 2:
        assert time.monotonic() < deadline, "the two changes did not merge"
        await asyncio.sleep(0.05)
    assert trees(site, app, "gate") == [[lib, app]]


async def test_a_change_approved_before_what_it_needs_cannot_enter_the_gate(
    site: SchedulerSite,
) -> None:
    assert site.review is not None
    lib = await site.propose("a.txt", "a changed\n", "Library change")
    app = await site.propose("b.txt", "b changed\n", f"App change\n\nDepends-On: {DASHBOARD}/{lib}")
    await site.settled()
    await site.review.approve(app)
    await site.settled()
    assert (await site.change(app)).status is ChangeStatus.NEW
    assert f"depends on acme/app~{lib},1" in await text_of(site, app)
    assert "must enter first" in await text_of(site, app)
    assert not trees(site, app, "gate")


async def test_a_dependency_cycle_is_reported_as_such(site: SchedulerSite) -> None:
    assert site.review is not None
    first = await site.propose("a.txt", "a changed\n", f"First\n\nDepends-On: {DASHBOARD}/2")
    second = await site.propose("b.txt", "b changed\n", f"Second\n\nDepends-On: {DASHBOARD}/1")
    assert (first, second) == (1, 2)
    await site.settled()
    # Proposed first, change 1 named a change not made yet; change 2 closed the loop.
    assert "there is no change 2" in await text_of(site, first)
    said = await text_of(site, second)
    assert "dependency cycle: acme/app~2 -> acme/app~1 -> acme/app~2" in said
    await site.review.comment(first, "recheck")
    await site.settled()
    said = await text_of(site, first)
    assert "dependency cycle: acme/app~1 -> acme/app~2 -> acme/app~1" in said
    assert not trees(site, first, "check")
    assert not trees(site, second, "check")


async def test_a_url_naming_no_change_of_the_site_is_reported(site: SchedulerSite) -> None:
    await site.propose(
        "a.txt", "a changed\n", "Change\n\nDepends-On: https://elsewhere.example.org/pull/7"
    )
    await site.settled()
    said = await text_of(site, 1)
    assert "names no change of this site's review sources" in said
    assert "https://elsewhere.example.org/pull/7" in said
