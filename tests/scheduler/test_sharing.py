"""Several schedulers share the pipelines: each pipeline kept by exactly one
at a time, spread fairly, and kept by another at once when its keeper stops;
the gate runs across them as it runs under one."""

from __future__ import annotations

import asyncio

from tests.scheduler.harness import SchedulerSite
from trunkgate.review.model import ChangeStatus
from trunkgate.review.sources import ReviewSources
from trunkgate.scheduler.core import Scheduler
from trunkgate.scheduler.sharing import fair_share, to_let_go


def test_a_fair_share_leaves_no_pipeline_unkept() -> None:
    assert fair_share(4, 1) == 4
    assert fair_share(4, 2) == 2
    assert fair_share(4, 3) == 2
    assert fair_share(4, 5) == 1
    assert fair_share(4, 0) == 4
    for pipelines in range(1, 9):
        for schedulers in range(1, 9):
            assert fair_share(pipelines, schedulers) * schedulers >= pipelines


def test_pipelines_are_let_go_only_to_a_scheduler_under_its_share() -> None:
    held = ["check", "gate", "periodic", "post"]
    behind = dict.fromkeys(held, "b")
    # b keeps nothing yet: it takes two, and no more.
    assert to_let_go(held, 2, behind, {"a": 4}) == ["check", "gate"]
    # b keeps two already (of other pipelines): nothing goes to it.
    assert to_let_go(held, 2, behind, {"a": 4, "b": 2}) == []
    # Only where somebody waits, and to whoever is under the share.
    assert to_let_go(held, 2, {"post": "b"}, {"a": 4}) == ["post"]
    assert to_let_go(held, 1, {"gate": "c", "post": "b"}, {"a": 4, "c": 1}) == ["post"]
    assert to_let_go(held, 4, behind, {"a": 4}) == []
    assert to_let_go(held, 1, {}, {"a": 4}) == []


class Second:
    """Another scheduler on the site's store, stopped on its own."""

    def __init__(self, site: SchedulerSite) -> None:
        assert site.store is not None
        assert site.review is not None
        self.scheduler = Scheduler(
            site.config, site.store, ReviewSources(site.review), clock=lambda: site.now
        )
        self.stop = asyncio.Event()
        self.task = asyncio.ensure_future(self.scheduler.run(self.stop))

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, timeout=10)


def spread(site: SchedulerSite, second: Second) -> bool:
    """Each scheduler keeps some pipelines, none both, together all."""
    assert site.scheduler is not None
    first, other = set(site.scheduler.managers), set(second.scheduler.managers)
    return (
        bool(first)
        and bool(other)
        and not first & other
        and first | other == set(site.config.pipelines)
    )


async def test_two_schedulers_share_the_pipelines_and_gate_changes_together(
    site: SchedulerSite,
) -> None:
    first = site.start_scheduler()
    site.start_executor()
    assert site.review is not None
    await site.settle(lambda: len(first.managers) == len(site.config.pipelines))
    second = Second(site)
    try:
        await site.settle(lambda: spread(site, second), within=15)
        assert len(first.managers) == len(second.scheduler.managers) == 2
        numbers = [
            await site.propose(name, f"{name} changed\n", f"Change {name}")
            for name in ("a.txt", "b.txt")
        ]
        for number in numbers:
            await site.review.approve(number)
        await site.settled()
        assert [(await site.change(n)).status for n in numbers] == [ChangeStatus.MERGED] * 2
        assert await site.results("gate") == {1: "SUCCESS", 2: "SUCCESS"}
        assert await site.results("check") == {1: "SUCCESS", 2: "SUCCESS"}
        assert spread(site, second)
    finally:
        await second.close()


async def test_a_stopped_schedulers_pipelines_are_kept_by_the_other(
    site: SchedulerSite,
) -> None:
    assert site.review is not None
    first, second = Second(site), Second(site)
    try:
        await site.settle(
            lambda: bool(first.scheduler.managers) and bool(second.scheduler.managers), within=15
        )
        site.start_executor()
        await first.close()
        assert first.scheduler.managers == {}
        await site.settle(
            lambda: set(second.scheduler.managers) == set(site.config.pipelines), within=10
        )
        number = await site.propose("c.txt", "c changed\n", "Change c.txt")
        await site.review.approve(number)
        await site.settled()
        assert (await site.change(number)).status == ChangeStatus.MERGED
        assert await site.results("gate") == {number: "SUCCESS"}
    finally:
        await first.close()
        await second.close()
