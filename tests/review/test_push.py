"""`git push origin HEAD:refs/for/main` makes a change, as on Gerrit."""

from __future__ import annotations

import subprocess

from tests.merger.gitrepo import DEV_ENV, git
from tests.review.conftest import PROJECT, FileSite
from trunkgate.review import ChangeStatus


def push(site: FileSite, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "push", *args],
        cwd=site.work.path,
        env=DEV_ENV,
        capture_output=True,
        text=True,
        check=False,
    )


async def test_push_to_refs_for_creates_a_change(file_site: FileSite) -> None:
    commit = file_site.commit("Add division", {"div.txt": "/\n"})

    pushed = push(file_site, "origin", "HEAD:refs/for/main")

    assert pushed.returncode == 0, pushed.stderr
    assert "remote: trunkgate: change 1 created: example/calc main: Add division" in pushed.stderr
    assert "refs/changes/01/1/1" in pushed.stderr
    bare = file_site.bare
    assert git(bare, "rev-parse", "refs/changes/01/1/1") == commit
    assert git(bare, "for-each-ref", "refs/for") == "", "no ref is left under refs/for"
    change = await file_site.review.get(1)
    assert (change.status, change.branch, change.commit) == (ChangeStatus.NEW, "main", commit)
    events = file_site.events.read()
    assert [(e.kind, e.change, e.commit) for e in events] == [("change-created", 1, commit)]


async def test_push_option_or_trailer_makes_a_new_patchset(file_site: FileSite) -> None:
    file_site.commit("Add division", {"div.txt": "/\n"})
    assert push(file_site, "origin", "HEAD:refs/for/main").returncode == 0

    second = file_site.work.commit("Add division, v2", {"div.txt": "//\n"}, amend=True)
    by_option = push(file_site, "-o", "change=1", "origin", "HEAD:refs/for/main")
    third = file_site.work.commit("Add division, v3\n\nChange: 1", {"div.txt": "///\n"}, amend=True)
    by_trailer = push(file_site, "origin", "HEAD:refs/for/main")

    assert "change 1 updated to patchset 2" in by_option.stderr, by_option.stderr
    assert "change 1 updated to patchset 3" in by_trailer.stderr, by_trailer.stderr
    change = await file_site.review.get(1)
    assert [p.commit for p in change.patchsets[1:]] == [second, third]
    assert git(file_site.bare, "rev-parse", "refs/changes/01/1/3") == third
    assert [e.kind for e in file_site.events.read()] == [
        "change-created",
        "patchset-created",
        "patchset-created",
    ]


async def test_refused_push_says_why(file_site: FileSite) -> None:
    file_site.commit("Add division", {"div.txt": "/\n"})
    push(file_site, "origin", "HEAD:refs/for/main")

    same_again = push(file_site, "-o", "change=1", "origin", "HEAD:refs/for/main")
    merged = push(file_site, "origin", f"{file_site.base}:refs/for/main")
    no_branch = push(file_site, "origin", "HEAD:refs/for/stable")

    assert same_again.returncode != 0
    assert "identical to patchset 1 of change 1" in same_again.stderr
    assert merged.returncode != 0
    assert "already merged into example/calc main" in merged.stderr
    assert "has no branch 'stable'" in no_branch.stderr
    assert len(await file_site.review.changes()) == 1


async def test_branches_are_still_pushed_as_usual(file_site: FileSite) -> None:
    commit = file_site.commit("Direct", {"direct.txt": "d\n"})

    pushed = push(file_site, "origin", "HEAD:refs/heads/main")

    assert pushed.returncode == 0, pushed.stderr
    assert file_site.tip() == commit
    assert await file_site.review.changes() == []


async def test_a_pushed_change_merges_and_its_ref_update_is_recorded(file_site: FileSite) -> None:
    file_site.commit("Add division", {"div.txt": "/\n"})
    push(file_site, "origin", "HEAD:refs/for/main")

    await file_site.review.merge(1)

    assert (await file_site.review.get(1)).status == ChangeStatus.MERGED
    last = file_site.events.read()[-1]
    assert (last.kind, last.old_commit, last.commit) == (
        "ref-updated",
        file_site.base,
        file_site.tip(),
    )
    assert last.project == PROJECT
