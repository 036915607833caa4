"""Review actions on a change, and merging it onto its branch."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.merger.gitrepo import git
from tests.review.conftest import PROJECT, MemorySite
from trunkgate.merger import ChangeSpec, Merger, MergeRequest, PreparedTree, StaleTree
from trunkgate.review import (
    APPROVED,
    VERIFIED,
    ChangeNotFound,
    ChangeStatus,
    InvalidTransition,
    ReviewError,
    TreeToMerge,
    change_listing,
)


async def propose(site: MemorySite, n: int, files: dict[str, str] | None = None) -> int:
    site.commit(f"Change {n}", files or {f"f{n}.txt": f"{n}\n"})
    return (await site.review.propose(PROJECT, "main", site.work.path)).change.number


async def test_approve_sends_the_change_approved_event(site: MemorySite) -> None:
    n = await propose(site, 1)

    change = await site.review.approve(n, "core-dev")

    assert change.approved
    assert change.votes_on() == {APPROVED: 1}
    assert site.events.kinds()[-1] == "change-approved"
    assert site.events.events[-1].user == "core-dev"


async def test_comment_carries_its_text(site: MemorySite) -> None:
    n = await propose(site, 1)

    change = await site.review.comment(n, "recheck", "ada")

    assert [(c.author, c.text, c.patchset) for c in change.comments] == [("ada", "recheck", 1)]
    event = site.events.events[-1]
    assert (event.kind, event.comment, event.change) == ("comment-added", "recheck", n)


async def test_reporter_votes_verified_with_a_report(site: MemorySite) -> None:
    n = await propose(site, 1)
    review = site.review

    await review.vote(n, VERIFIED, 1, "trunkgate", message="Build succeeded (check)")
    change = await review.vote(n, VERIFIED, -1, "other-ci")

    assert change.votes_on() == {VERIFIED: -1}, "a negative vote outweighs a positive one"
    assert change.comments[-1].text == "Build succeeded (check)"
    assert site.events.kinds()[-1] == "comment-added"
    with pytest.raises(ReviewError, match=r"Verified takes -2\.\.2, not 3"):
        await review.vote(n, VERIFIED, 3, "trunkgate")
    with pytest.raises(ReviewError, match="unknown label 'Code-Review'"):
        await review.vote(n, "Code-Review", 2, "trunkgate")
    with pytest.raises(ChangeNotFound, match="no change 9"):
        await review.vote(9, VERIFIED, 1, "trunkgate")


async def test_abandon_and_restore_follow_the_status_table(site: MemorySite) -> None:
    n = await propose(site, 1)
    review = site.review

    abandoned = await review.abandon(n, "ada", "not needed")
    with pytest.raises(
        InvalidTransition, match="change 1 is ABANDONED; it cannot become ABANDONED"
    ):
        await review.abandon(n)
    with pytest.raises(ReviewError, match="only an open change is approved"):
        await review.approve(n)
    restored = await review.restore(n, "ada")

    assert abandoned.status == ChangeStatus.ABANDONED
    assert abandoned.comments[-1].text == "not needed"
    assert restored.status == ChangeStatus.NEW
    assert site.events.kinds() == ["change-created", "change-abandoned", "change-restored"]


async def test_merge_moves_the_branch_and_emits_ref_updated(site: MemorySite) -> None:
    n = await propose(site, 1)
    commit = (await site.review.get(n)).commit

    merged = await site.review.merge(n, user="trunkgate")

    assert merged.status == ChangeStatus.MERGED
    assert merged.merged_commit == site.tip()
    assert git(site.bare, "merge-base", "--is-ancestor", commit, "main") == ""
    event = site.events.events[-1]
    assert (event.kind, event.ref, event.old_commit, event.commit, event.change) == (
        "ref-updated",
        "refs/heads/main",
        site.base,
        site.tip(),
        n,
    )
    with pytest.raises(InvalidTransition):
        await site.review.abandon(n)


async def test_a_merged_change_is_not_merged_twice(site: MemorySite) -> None:
    n = await propose(site, 1)
    await site.review.merge(n)
    tip = site.tip()

    await site.review.merge(n)

    assert site.tip() == tip
    assert site.events.kinds().count("ref-updated") == 1


async def test_merge_of_a_conflicting_change_is_refused(site: MemorySite) -> None:
    one = await propose(site, 1, {"README": "one\n"})
    two = await propose(site, 2, {"README": "two\n"})
    await site.review.merge(one)

    with pytest.raises(ReviewError, match="change 2,1 does not merge into example/calc main"):
        await site.review.merge(two)

    assert (await site.review.get(two)).status == ChangeStatus.NEW


async def gate_trees(site: MemorySite, tmp_path: Path, *numbers: int) -> list[TreeToMerge]:
    """What the gate tests: each change on top of the ones ahead of it."""
    merger = Merger(tmp_path / "gate-cache")
    url = str(site.bare)
    specs = []
    tested = []
    for n in numbers:
        change = await site.review.get(n)
        specs.append(ChangeSpec(PROJECT, url, "main", change.ref, f"{n},{change.patchset}"))
        result = await merger.prepare(MergeRequest(tuple(specs)), tmp_path / f"build-{n}")
        assert isinstance(result, PreparedTree)
        tested.append(TreeToMerge(result.repo(PROJECT).path, result.repo(PROJECT).commit))
    return tested


async def test_gate_merges_exactly_the_tested_trees_in_order(
    site: MemorySite, tmp_path: Path
) -> None:
    one, two = await propose(site, 1), await propose(site, 2)
    first, second = await gate_trees(site, tmp_path, one, two)

    await site.review.merge(one, first)
    assert site.tip() == first.commit
    await site.review.merge(two, second)

    assert site.tip() == second.commit
    updates = [
        (e.change, e.old_commit, e.commit) for e in site.events.events if e.kind == "ref-updated"
    ]
    assert updates == [(one, site.base, first.commit), (two, first.commit, second.commit)]


async def test_changes_tested_one_on_another_merge_together_in_one_push(
    site: MemorySite, tmp_path: Path
) -> None:
    one, two, three = [await propose(site, n) for n in (1, 2, 3)]
    trees = await gate_trees(site, tmp_path, one, two, three)
    git(site.bare, "config", "core.logAllRefUpdates", "always")

    merged = await site.review.merge_together(list(zip((one, two, three), trees, strict=True)))

    assert [c.status for c in merged] == [ChangeStatus.MERGED] * 3
    assert [c.merged_commit for c in merged] == [t.commit for t in trees]
    assert site.tip() == trees[-1].commit
    # One update of the branch, straight to the last tree...
    assert git(site.bare, "reflog", "show", "--format=%H", "refs/heads/main").split() == [
        trees[-1].commit
    ]
    # ...told as if it had moved change by change.
    updates = [
        (e.change, e.old_commit, e.commit) for e in site.events.events if e.kind == "ref-updated"
    ]
    assert updates == [
        (one, site.base, trees[0].commit),
        (two, trees[0].commit, trees[1].commit),
        (three, trees[1].commit, trees[2].commit),
    ]
    # A merge of one of them again (a restarted scheduler) does nothing.
    assert (await site.review.merge(two, trees[1])).merged_commit == trees[1].commit
    assert site.events.kinds().count("ref-updated") == 3


async def test_changes_merged_together_are_checked_before_anything_is_pushed(
    site: MemorySite, tmp_path: Path
) -> None:
    one, two = await propose(site, 1), await propose(site, 2)
    trees = await gate_trees(site, tmp_path, one, two)
    await site.review.abandon(two)

    with pytest.raises(ReviewError, match="change 2 is ABANDONED"):
        await site.review.merge_together([(one, trees[0]), (two, trees[1])])

    assert site.tip() == site.base
    assert (await site.review.get(one)).status == ChangeStatus.NEW


async def test_changes_merged_together_must_be_tested_one_on_another(
    site: MemorySite, tmp_path: Path
) -> None:
    one, two = await propose(site, 1), await propose(site, 2)
    first, second = await gate_trees(site, tmp_path, one, two)
    await site.review.merge(one, first)

    # Out of order (the merged one last): the last tree does not hold the
    # other's, and pushing it would record a change that is not on the branch.
    with pytest.raises(ReviewError, match="does not hold change 2's tested tree"):
        await site.review.merge_together([(two, second), (one, first)])
    assert site.tip() == first.commit
    assert (await site.review.get(two)).status == ChangeStatus.NEW

    # Each tested on its own: neither holds the other.
    three = await propose(site, 3)
    (alone,) = await gate_trees(site, tmp_path / "alone", three)
    with pytest.raises(ReviewError, match="does not hold change 2's tested tree"):
        await site.review.merge_together([(two, second), (three, alone)])
    assert site.tip() == first.commit


async def test_a_tested_tree_the_branch_already_holds_merges_as_it_is(
    site: MemorySite, tmp_path: Path
) -> None:
    # The later change's tree went first (merged together, then the
    # scheduler restarted before it recorded the earlier change).
    one, two = await propose(site, 1), await propose(site, 2)
    first, second = await gate_trees(site, tmp_path, one, two)
    git(second.path, "push", "-q", str(site.bare), f"{second.commit}:refs/heads/main")

    # The scheduler's cache holds both trees: the second's clone stands for it.
    merged = await site.review.merge(one, TreeToMerge(second.path, first.commit))

    assert merged.merged_commit == first.commit
    assert site.tip() == second.commit


async def test_a_stale_tested_tree_is_refused(site: MemorySite, tmp_path: Path) -> None:
    one, two = await propose(site, 1), await propose(site, 2)
    (alone,) = await gate_trees(site, tmp_path, two)
    await site.review.merge(one)
    tip = site.tip()

    with pytest.raises(StaleTree):
        await site.review.merge(two, alone)

    assert site.tip() == tip
    assert (await site.review.get(two)).status == ChangeStatus.NEW
    assert site.events.kinds().count("ref-updated") == 1


async def test_a_tree_without_the_change_is_refused(site: MemorySite, tmp_path: Path) -> None:
    one, two = await propose(site, 1), await propose(site, 2)
    (tree_of_one,) = await gate_trees(site, tmp_path, one)

    with pytest.raises(ReviewError, match="does not contain patchset 1 of change 2"):
        await site.review.merge(two, tree_of_one)


async def test_listing_shows_what_change_show_prints(site: MemorySite) -> None:
    n = await propose(site, 1)
    await site.review.approve(n, "core")
    await site.review.vote(n, VERIFIED, 2, "trunkgate")

    listing = change_listing(await site.review.get(n))

    assert {k: listing[k] for k in ("change", "project", "branch", "patchset", "status")} == {
        "change": 1,
        "project": PROJECT,
        "branch": "main",
        "patchset": 1,
        "status": "NEW",
    }
    assert listing["votes"] == {APPROVED: 1, VERIFIED: 2}
    assert listing["commit"] == git(site.bare, "rev-parse", "refs/changes/01/1/1")


async def test_a_late_report_leaves_a_merged_changes_votes_alone(site: MemorySite) -> None:
    n = await propose(site, 1)
    await site.review.vote(n, VERIFIED, 2, "trunkgate", message="Build succeeded (gate)")
    await site.review.merge(n, user="trunkgate")

    # The check pipeline's report, arriving after the gate merged the change.
    change = await site.review.vote(n, VERIFIED, 1, "trunkgate", message="Build succeeded (check)")

    assert change.votes_on() == {VERIFIED: 2}
    assert change.comments[-1].text == "Build succeeded (check)"


async def test_the_report_of_the_merge_votes_after_the_merge(site: MemorySite) -> None:
    # The scheduler merges first, then reports: the merging pipeline's vote stands.
    n = await propose(site, 1)
    await site.review.vote(n, VERIFIED, 1, "trunkgate", message="Build succeeded (check)")
    await site.review.merge(n, user="trunkgate")

    change = await site.review.vote(
        n, VERIFIED, 2, "trunkgate", message="The change has merged.", merged=True
    )
    assert change.votes_on() == {VERIFIED: 2}

    # A late check report after it still changes nothing.
    change = await site.review.vote(n, VERIFIED, 1, "trunkgate", message="Build succeeded")
    assert change.votes_on() == {VERIFIED: 2}


async def test_an_abandoned_change_keeps_its_votes(site: MemorySite) -> None:
    n = await propose(site, 1)
    await site.review.vote(n, VERIFIED, -1, "trunkgate")
    await site.review.abandon(n)

    change = await site.review.vote(n, VERIFIED, 1, "trunkgate", message="Build succeeded")

    assert change.votes_on() == {VERIFIED: -1}
