"""Proposing commits from a working repository as changes and patchsets."""

from __future__ import annotations

import pytest

from tests.merger.gitrepo import git
from tests.review.conftest import PROJECT, MemorySite
from trunkgate.review import ChangeStatus, ProposeRejected, UnknownProject


async def test_propose_keeps_the_commit_under_the_change_ref(site: MemorySite) -> None:
    commit = site.commit("Add division", {"div.txt": "/\n"})

    proposed = await site.review.propose(PROJECT, "main", site.work.path, "HEAD", user="ada")

    change = proposed.change
    assert proposed.to_json() == {"change": 1, "patchset": 1}
    assert proposed.created
    assert (change.number, change.project, change.branch) == (1, PROJECT, "main")
    assert change.status == ChangeStatus.NEW
    assert change.ref == "refs/changes/01/1/1"
    assert git(site.bare, "rev-parse", "refs/changes/01/1/1") == commit
    assert (change.subject, change.author, change.owner) == (
        "Add division",
        "Ada Dev <ada@example.org>",
        "ada",
    )
    assert change.message == "Add division\n"
    assert site.tip() == site.base, "proposing does not merge"
    assert site.events.kinds() == ["change-created"]
    event = site.events.events[0]
    assert (event.change, event.patchset, event.commit, event.ref, event.user) == (
        1,
        1,
        commit,
        "refs/changes/01/1/1",
        "ada",
    )
    assert await site.review.get(1) == change
    assert (site.bare.parent.name, site.bare.name) == ("example", "calc.git")


async def test_an_amended_commit_becomes_a_new_patchset(site: MemorySite) -> None:
    site.commit("Add division", {"div.txt": "/\n"})
    await site.review.propose(PROJECT, "main", site.work.path)
    await site.review.approve(1, "reviewer")
    amended = site.work.commit("Add division, checked", {"div.txt": "/ and %\n"}, amend=True)

    proposed = await site.review.propose(PROJECT, None, site.work.path, change=1)

    change = proposed.change
    assert not proposed.created
    assert (change.number, change.patchset, change.commit) == (1, 2, amended)
    assert git(site.bare, "rev-parse", "refs/changes/01/1/2") == amended
    assert git(site.bare, "rev-parse", "refs/changes/01/1/1") != amended
    assert change.subject == "Add division, checked"
    assert not change.approved, "an approval of patchset 1 is not one of patchset 2"
    assert site.events.kinds() == ["change-created", "change-approved", "patchset-created"]


async def test_change_numbers_shard_refs_by_their_last_two_digits(site: MemorySite) -> None:
    for n in range(1, 13):
        site.commit(f"Change {n}", {f"f{n}.txt": "x\n"})
        await site.review.propose(PROJECT, "main", site.work.path)

    change = await site.review.get(12)

    assert change.ref == "refs/changes/12/12/1"
    assert git(site.bare, "rev-parse", "refs/changes/12/12/1") == change.commit


async def test_branch_defaults_to_the_projects_default_branch(site: MemorySite) -> None:
    site.commit("Something", {"s.txt": "s\n"})

    proposed = await site.review.propose(PROJECT, repo_dir=site.work.path)

    assert proposed.change.branch == "main"


async def test_identical_commit_is_not_a_new_patchset(site: MemorySite) -> None:
    site.commit("Add division", {"div.txt": "/\n"})
    await site.review.propose(PROJECT, "main", site.work.path)

    with pytest.raises(ProposeRejected, match="identical to patchset 1 of change 1"):
        await site.review.propose(PROJECT, "main", site.work.path, change=1)


async def test_merged_commit_is_not_a_change(site: MemorySite) -> None:
    with pytest.raises(ProposeRejected, match="already merged into example/calc main"):
        await site.review.propose(PROJECT, "main", site.work.path, site.base)
    assert await site.review.changes() == []


async def test_same_commit_twice_is_one_change(site: MemorySite) -> None:
    site.commit("Add division", {"div.txt": "/\n"})
    await site.review.propose(PROJECT, "main", site.work.path)

    with pytest.raises(ProposeRejected, match="already patchset 1 of change 1"):
        await site.review.propose(PROJECT, "main", site.work.path)


async def test_proposals_that_make_no_sense_are_refused(site: MemorySite) -> None:
    site.commit("Add division", {"div.txt": "/\n"})
    review = site.review
    with pytest.raises(ProposeRejected, match="no branch 'stable'"):
        await review.propose(PROJECT, "stable", site.work.path)
    with pytest.raises(ProposeRejected, match="'nope' is not a commit"):
        await review.propose(PROJECT, "main", site.work.path, "nope")
    with pytest.raises(UnknownProject, match="no project 'other'"):
        await review.propose("other", "main", site.work.path)
    await review.propose(PROJECT, "main", site.work.path)
    site.work.commit("Again", {"div.txt": "//\n"}, amend=True)
    with pytest.raises(ProposeRejected, match="for branch main, not stable"):
        await review.propose(PROJECT, "stable", site.work.path, change=1)
    await review.abandon(1)
    with pytest.raises(ProposeRejected, match="change 1 is ABANDONED"):
        await review.propose(PROJECT, "main", site.work.path, change=1)


async def test_projects_are_listed_by_name(site: MemorySite) -> None:
    await site.review.create_project("tools", "main")

    assert await site.review.projects() == [PROJECT, "tools"]
