"""The gate's stories with the real scheduler, merger, git and review source;
builds are answered through the store by a double whose results the test picks."""

from __future__ import annotations

import shutil

from tests.scheduler.harness import PROJECT, SchedulerSite, git
from trunkgate.review.model import ChangeStatus


def trees(site: SchedulerSite, number: int, pipeline: str = "gate") -> list[list[int]]:
    return [
        [c.number for c in r.tree]
        for r in site.requests
        if r.change == number and r.pipeline == pipeline and r.job == "unit"
    ]


async def test_three_changes_the_second_fails_the_third_merges_without_it(
    site: SchedulerSite,
) -> None:
    site.decide = lambda r: "FAILURE" if r.change == 2 and r.job == "unit" else "SUCCESS"
    site.hold.clear()  # let all three enter the gate before any build answers
    site.start_scheduler()
    site.start_executor()
    assert site.review is not None
    numbers = [
        await site.propose(name, f"{name} changed\n", f"Change {name}")
        for name in ("a.txt", "b.txt", "c.txt")
    ]
    assert numbers == [1, 2, 3]
    for number in numbers:
        await site.review.approve(number)
    await site.wait_pending(
        lambda builds: any(b.pipeline == "gate" and b.change == 3 for b in builds)
    )
    site.hold.set()
    await site.settled()
    assert await site.results("gate") == {1: "SUCCESS", 2: "FAILURE", 3: "SUCCESS"}
    assert [(await site.change(n)).status for n in numbers] == [
        ChangeStatus.MERGED,
        ChangeStatus.NEW,
        ChangeStatus.MERGED,
    ]
    # Change 3 was tested on 1 and 2, then again without 2 once 2 failed.
    assert [1, 2, 3] in trees(site, 3)
    assert trees(site, 3)[-1] in ([1, 3], [3])
    # The branch holds 1 and 3, not 2; change 2 got Verified -2 and a comment.
    branch = git(site.config.data_dir / "git" / f"{PROJECT}.git", "log", "--format=%s", "main")
    assert "Change a.txt" in branch
    assert "Change c.txt" in branch
    assert "Change b.txt" not in branch
    failed = await site.change(2)
    assert failed.votes_on().get("Verified") == -2
    # The gate's vote on what it merged stands: it is cast with the merge.
    assert [(await site.change(n)).votes_on().get("Verified") for n in (1, 3)] == [2, 2]
    assert any("Build failed (gate pipeline)" in c.text for c in failed.comments)


async def test_a_conflicting_change_fails_without_running_jobs(site: SchedulerSite) -> None:
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
    assert await site.results("gate") == {first: "SUCCESS", second: "MERGE_CONFLICT"}
    assert not [r for r in site.requests if r.change == second and r.pipeline == "gate"]
    conflicted = await site.change(second)
    assert conflicted.status == ChangeStatus.NEW
    assert any("does not merge" in c.text for c in conflicted.comments)


async def test_check_runs_on_upload_and_on_recheck(site: SchedulerSite) -> None:
    site.start_scheduler()
    site.start_executor()
    assert site.review is not None
    number = await site.propose("d.txt", "d\n", "Edit d")
    await site.settled()
    assert await site.results("check") == {number: "SUCCESS"}
    assert (await site.change(number)).votes_on().get("Verified") == 1
    count = len([r for r in site.requests if r.pipeline == "check"])
    await site.review.comment(number, "recheck")
    await site.settle(lambda: len([r for r in site.requests if r.pipeline == "check"]) > count)


async def test_the_scheduler_resumes_after_a_restart(site: SchedulerSite) -> None:
    site.start_scheduler()
    assert site.review is not None
    numbers = [await site.propose(n, f"{n}!\n", f"Edit {n}") for n in ("a.txt", "b.txt")]
    for number in numbers:
        await site.review.approve(number)
    # Builds are requested but nobody runs them; then the scheduler stops.
    await site.wait_pending(
        lambda builds: {b.change for b in builds if b.pipeline == "gate"} == {1, 2}
    )
    await site.stop_scheduler()
    first_scheduler = site.scheduler
    site.start_scheduler()
    site.start_executor()
    await site.settled()
    assert await site.results("gate") == {1: "SUCCESS", 2: "SUCCESS"}
    assert first_scheduler is not None
    assert [(await site.change(n)).status for n in numbers] == [ChangeStatus.MERGED] * 2
    branch = git(site.config.data_dir / "git" / f"{PROJECT}.git", "log", "--format=%s", "main")
    assert branch.count("Edit a.txt") == 1
    assert branch.count("Edit b.txt") == 1


async def test_trees_gone_from_the_cache_are_made_again_and_merge_as_tested(
    site: SchedulerSite,
) -> None:
    site.hold.clear()
    scheduler = site.start_scheduler()
    site.start_executor()
    assert site.review is not None
    numbers = [
        await site.propose(name, f"{name} changed\n", f"Change {name}")
        for name in ("a.txt", "b.txt", "c.txt")
    ]
    for number in numbers:
        await site.review.approve(number)
    await site.wait_pending(
        lambda builds: any(b.pipeline == "gate" and b.change == 3 for b in builds)
    )
    tested = {r.change: r.commits[PROJECT] for r in await site.pending() if r.pipeline == "gate"}
    # Lost between the tests and the merges (a disk cleaned, say), once the
    # last pass is done writing there.
    await scheduler.merger.settle()
    shutil.rmtree(scheduler.merger.cache.root)
    site.hold.set()
    await site.settled()
    assert [(await site.change(n)).status for n in numbers] == [ChangeStatus.MERGED] * 3
    branch = site.config.data_dir / "git" / f"{PROJECT}.git"
    # Made again, the trees are the very commits tested.
    assert git(branch, "rev-parse", "main") == tested[3]
    assert [(await site.change(n)).merged_commit for n in numbers] == [tested[n] for n in numbers]
