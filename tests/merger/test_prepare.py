"""The merger prepares a build's speculative tree with real git."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.merger.conftest import PROJECT, Upstream, lines_with
from tests.merger.gitrepo import git, make_upstream, push_change
from trunkgate.merger import (
    ChangeSpec,
    MergeConflict,
    MergedTree,
    Merger,
    MergeRequest,
    MergerError,
    PreparedTree,
    RepoSpec,
)


def first_parent_subjects(path: Path) -> list[str]:
    return git(path, "log", "--first-parent", "--format=%s").splitlines()


async def test_three_changes_merge_in_queue_order(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    changes = (
        upstream.change(1, {"one.txt": "1\n"}),
        upstream.change(2, {"two.txt": "2\n"}),
        upstream.change(3, {"lines.txt": lines_with({5: "five\n"})}),
    )

    result = await merger.prepare(MergeRequest(changes), tmp_path / "build")

    assert isinstance(result, PreparedTree)
    repo = result.repo(PROJECT)
    assert repo.path == tmp_path / "build" / "example" / "calc"
    assert first_parent_subjects(repo.path) == [
        "Merge change 3,1",
        "Merge change 2,1",
        "Merge change 1,1",
        "Initial import",
    ]
    assert (repo.path / "one.txt").read_text() == "1\n"
    assert (repo.path / "two.txt").read_text() == "2\n"
    assert "five\n" in (repo.path / "lines.txt").read_text()
    assert repo.base == upstream.base
    assert repo.commit == git(repo.path, "rev-parse", "HEAD")
    assert result.commits == {PROJECT: repo.commit}
    assert re.fullmatch(r"HEAD is now at ([0-9a-f]{7,}) Merge change 3,1", repo.head_line)
    assert repo.commit.startswith(repo.head_line.split()[4])
    # Merged in the cache, with no workspace: a tree, then its commit.
    merges = [c for c in repo.commands if c.startswith("git commit-tree")]
    assert [m.split("'")[1] for m in merges] == [
        "Merge change 1,1",
        "Merge change 2,1",
        "Merge change 3,1",
    ]
    console = list(result.console_lines())
    assert console[-1] == f"[{PROJECT}] {repo.head_line}"
    assert any(line.startswith(f"[{PROJECT}] $ git merge-tree --write-tree") for line in console)
    # The node's copy knows the project's repository, not the merger's cache.
    assert git(repo.path, "remote", "get-url", "origin") == upstream.url
    assert git(repo.path, "status", "--porcelain") == ""
    assert not (repo.path / ".git" / "objects" / "info" / "alternates").exists()


async def test_conflict_names_the_change_that_did_not_merge(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    changes = (
        upstream.change(1, {"lines.txt": lines_with({3: "three, says one\n"})}),
        upstream.change(2, {"lines.txt": lines_with({3: "three, says two\n"})}),
        upstream.change(3, {"three.txt": "3\n"}),
    )

    result = await merger.prepare(MergeRequest(changes), tmp_path / "build")

    assert isinstance(result, MergeConflict)
    assert result.change == changes[1]
    assert "CONFLICT" in result.detail
    assert "lines.txt" in result.detail
    assert result.message.startswith(f"change 2,1 does not merge into {PROJECT} main:")
    assert list(result.console_lines())[-1] == result.message


async def test_same_change_alone_merges_cleanly(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    """The conflict is the queue's, not the change's: on its own it merges."""
    upstream.change(1, {"lines.txt": lines_with({3: "three, says one\n"})})
    two = upstream.change(2, {"lines.txt": lines_with({3: "three, says two\n"})})

    result = await merger.prepare(MergeRequest((two,)), tmp_path / "build")

    assert isinstance(result, PreparedTree)


async def test_missing_change_ref_is_a_failed_merge_of_that_change(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    one = upstream.change(1, {"one.txt": "1\n"})
    ghost = upstream.spec(7, "refs/changes/07/7/1")

    result = await merger.prepare(MergeRequest((one, ghost)), tmp_path / "build")

    assert isinstance(result, MergeConflict)
    assert result.change == ghost
    assert "refs/changes/07/7/1" in result.detail


async def test_later_builds_fetch_into_the_cache_instead_of_cloning(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    one = upstream.change(1, {"one.txt": "1\n"})
    first = await merger.prepare(MergeRequest((one,)), tmp_path / "b1")
    assert isinstance(first, PreparedTree)
    assert any(c.startswith("git clone --bare") for c in first.repo(PROJECT).commands)

    # The branch moves upstream, and a second change appears.
    upstream.work.branch_from(upstream.base, "main")
    upstream.work.commit("Upstream moves", {"moved.txt": "yes\n"})
    upstream.work.git("push", "--quiet", "origin", "HEAD:refs/heads/main")
    two = upstream.change(2, {"two.txt": "2\n"}, on="main")

    second = await merger.prepare(MergeRequest((one, two)), tmp_path / "b2")

    assert isinstance(second, PreparedTree)
    commands = second.repo(PROJECT).commands
    assert not any(c.startswith("git clone --bare") for c in commands)
    assert any(c.startswith("git fetch") for c in commands)
    assert (second.repo(PROJECT).path / "moved.txt").exists()
    assert second.repo(PROJECT).base == git(upstream.bare, "rev-parse", "main")


async def test_a_tree_starts_with_the_commits_the_items_ahead_were_tested_as(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    """Merge commits do not depend on the clock: item 2's tree is built on
    exactly the commit item 1 was tested as, so merging item 1 and then
    item 2 are both fast-forwards of what was tested."""
    one = upstream.change(1, {"one.txt": "1\n"})
    two = upstream.change(2, {"two.txt": "2\n"})

    head = await merger.prepare(MergeRequest((one,)), tmp_path / "b1")
    behind = await merger.prepare(MergeRequest((one, two)), tmp_path / "b2")

    assert isinstance(head, PreparedTree)
    assert isinstance(behind, PreparedTree)
    behind_repo = behind.repo(PROJECT)
    assert git(behind_repo.path, "rev-parse", "HEAD^1") == head.repo(PROJECT).commit


async def test_cherry_pick_mode_keeps_history_linear_and_authors(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    changes = (
        upstream.change(1, {"one.txt": "1\n"}, subject="Add one"),
        upstream.change(2, {"two.txt": "2\n"}, subject="Add two"),
    )

    result = await merger.prepare(MergeRequest(changes, mode="cherry-pick"), tmp_path / "build")

    assert isinstance(result, PreparedTree)
    path = result.repo(PROJECT).path
    assert git(path, "log", "--format=%s|%an|%P").splitlines()[0].split("|")[:2] == [
        "Add two",
        "Ada Dev",
    ]
    assert first_parent_subjects(path) == ["Add two", "Add one", "Initial import"]
    assert git(path, "rev-list", "--merges", "HEAD") == ""


async def test_cherry_pick_conflict_names_the_change(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    changes = (
        upstream.change(1, {"lines.txt": lines_with({3: "x\n"})}),
        upstream.change(2, {"lines.txt": lines_with({3: "y\n"})}),
    )

    result = await merger.prepare(MergeRequest(changes, mode="cherry-pick"), tmp_path / "build")

    assert isinstance(result, MergeConflict)
    assert result.change.name == "2,1"


async def test_several_projects_each_get_their_tree(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    lib_bare, lib_work = make_upstream(tmp_path, "lib")
    docs_bare, _ = make_upstream(tmp_path, "docs")
    lib_work.branch_from("main", "change-4")
    lib_work.commit("Library change", {"lib.txt": "lib\n"})
    lib_ref = push_change(lib_work, lib_bare, 4)
    app_change = upstream.change(5, {"app.txt": "app\n"})
    request = MergeRequest(
        changes=(ChangeSpec("lib", str(lib_bare), "main", lib_ref, "4,1"), app_change),
        repos=(RepoSpec("docs", str(docs_bare), "main"),),
    )

    result = await merger.prepare(request, tmp_path / "build")

    assert isinstance(result, PreparedTree)
    assert set(result.commits) == {"lib", PROJECT, "docs"}
    assert (result.repo("lib").path / "lib.txt").exists()
    assert (result.repo(PROJECT).path / "app.txt").exists()
    assert result.repo("docs").commit == git(docs_bare, "rev-parse", "main")
    assert result.repo("docs").head_line.endswith(" Initial import")


async def test_change_on_a_missing_branch_fails_that_change(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    one = upstream.change(1, {"one.txt": "1\n"})
    stray = ChangeSpec(PROJECT, upstream.url, "stable", one.ref, "1,1")

    result = await merger.prepare(MergeRequest((stray,)), tmp_path / "build")

    assert isinstance(result, MergeConflict)
    assert "no branch 'stable'" in result.detail


async def test_a_change_named_by_commit_id_is_found_among_change_refs(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    by_ref = upstream.change(1, {"one.txt": "1\n"})
    commit = git(upstream.bare, "rev-parse", by_ref.ref)
    by_commit = upstream.spec(1, commit)

    result = await merger.prepare(MergeRequest((by_commit,)), tmp_path / "build")

    assert isinstance(result, PreparedTree)
    assert git(result.repo(PROJECT).path, "rev-parse", "HEAD^2") == commit


async def test_builds_of_one_project_prepare_side_by_side(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    changes = [upstream.change(n, {f"f{n}.txt": f"{n}\n"}) for n in (1, 2, 3)]
    requests = [MergeRequest(tuple(changes[: i + 1])) for i in range(3)]

    results = await asyncio.gather(
        *(merger.prepare(r, tmp_path / f"build-{i}") for i, r in enumerate(requests))
    )

    trees = [r for r in results if isinstance(r, PreparedTree)]
    assert len(trees) == 3
    commits = [t.repo(PROJECT).commit for t in trees]
    assert git(trees[2].repo(PROJECT).path, "rev-parse", "HEAD^1") == commits[1]
    assert git(trees[1].repo(PROJECT).path, "rev-parse", "HEAD^1") == commits[0]


async def test_a_broken_cache_is_cloned_again(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    one = upstream.change(1, {"one.txt": "1\n"})
    await merger.prepare(MergeRequest((one,)), tmp_path / "b1")
    (merger.cache.path(PROJECT) / "config").write_text("this is not git config\n")

    result = await merger.prepare(MergeRequest((one,)), tmp_path / "b2")

    assert isinstance(result, PreparedTree)
    assert any(c.startswith("git clone --bare") for c in result.repo(PROJECT).commands)


async def test_a_repository_that_cannot_be_reached_is_an_error_not_a_conflict(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    gone = ChangeSpec(PROJECT, str(tmp_path / "nowhere.git"), "main", "refs/changes/01/1/1", "1,1")

    with pytest.raises(MergerError, match=r"nowhere\.git"):
        await merger.prepare(MergeRequest((gone,)), tmp_path / "build")


async def test_a_build_cancelled_while_its_tree_is_made_leaves_the_others_theirs(
    upstream: Upstream, merger: Merger
) -> None:
    """Trees asked for side by side are made together in one pass; the build
    whose task makes that pass may be cancelled, and the others must still
    get their trees."""
    changes = [upstream.change(n, {f"f{n}.txt": f"{n}\n"}) for n in (1, 2, 3)]
    tasks = [
        asyncio.ensure_future(merger.merge([MergeRequest(tuple(changes[: i + 1]))]))
        for i in range(3)
    ]
    assert isinstance((await tasks[0])[0], MergedTree)
    # The second and third trees are made in the next pass, which the
    # second's task makes: cancel it once that pass has begun.
    for _ in range(100):
        if merger._passing.locked():
            break
        await asyncio.sleep(0)  # a turn of the loop, not time
    assert merger._passing.locked()
    tasks[1].cancel()
    (third,) = await tasks[2]
    assert isinstance(third, MergedTree)
    assert git(upstream.bare, "rev-parse", changes[2].ref) == git(
        merger.cache.path(PROJECT), "rev-parse", f"{third.commits[PROJECT]}^2"
    )
    with pytest.raises(asyncio.CancelledError):
        await tasks[1]


async def test_changes_to_two_branches_of_a_project_each_merge_onto_theirs(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    upstream.work.git("push", "--quiet", "origin", f"{upstream.base}:refs/heads/stable")
    on_main = upstream.change(1, {"one.txt": "1\n"})
    fix = upstream.change(2, {"two.txt": "2\n"})
    on_stable = ChangeSpec(PROJECT, upstream.url, "stable", fix.ref, fix.name)

    result = await merger.prepare(MergeRequest((on_main, on_stable)), tmp_path / "build")

    assert isinstance(result, PreparedTree)
    repo = result.repo(PROJECT)
    assert repo.branch == "stable"
    assert git(repo.path, "symbolic-ref", "HEAD") == "refs/heads/stable"
    assert (repo.path / "two.txt").exists()
    assert not (repo.path / "one.txt").exists()
    assert first_parent_subjects(repo.path) == ["Merge change 2,1", "Initial import"]
    assert git(repo.path, "log", "-1", "--format=%s", "main") == "Merge change 1,1"
    assert {b.branch for b in repo.branches} == {"main", "stable"}
    assert git(repo.path, "status", "--porcelain") == ""
