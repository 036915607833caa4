"""The trees of a queue, made at once in the merger's cache with no
workspace: each on the one before, as the commits `git merge --no-ff`
would make, with a conflict naming its change."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.merger.conftest import PROJECT, Upstream, lines_with
from tests.merger.gitrepo import DEV_ENV, git
from trunkgate.merger import MergeConflict, MergedTree, Merger, MergeRequest, PreparedTree
from trunkgate.merger.git import MERGER_EMAIL, MERGER_NAME


async def test_a_queue_s_trees_come_at_once_each_on_the_one_before(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    changes = [upstream.change(n, {f"file-{n}.txt": f"{n}\n"}) for n in (1, 2, 3)]
    requests = [MergeRequest(tuple(changes[: n + 1])) for n in range(3)]

    trees = await merger.merge(requests)

    assert all(isinstance(tree, MergedTree) for tree in trees)
    commits = [tree.commits[PROJECT] for tree in trees if isinstance(tree, MergedTree)]
    cache = merger.cache.path(PROJECT)
    assert git(cache, "rev-parse", f"{commits[2]}^1") == commits[1]
    assert git(cache, "rev-parse", f"{commits[1]}^1") == commits[0]
    assert git(cache, "rev-parse", f"{commits[0]}^1") == upstream.base
    bases = [tree.bases for tree in trees if isinstance(tree, MergedTree)]
    assert bases == [((PROJECT, "main", upstream.base),)] * 3
    # No workspace was made for them: the merger's cache is all there is.
    made = await asyncio.to_thread(lambda: sorted(p.name for p in tmp_path.iterdir()))
    assert made == ["merger-cache", "upstream-work", "upstream.git"]

    # A build of the longest tree checks out exactly that commit.
    built = await Merger(tmp_path / "executor-cache").prepare(requests[2], tmp_path / "build")
    assert isinstance(built, PreparedTree)
    assert built.repo(PROJECT).commit == commits[2]


async def test_a_merge_is_the_commit_git_merge_makes(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    change = upstream.change(1, {"lines.txt": lines_with({2: "two\n"})})
    change_commit = git(upstream.bare, "rev-parse", change.ref)

    (tree,) = await merger.merge([MergeRequest((change,))])

    assert isinstance(tree, MergedTree)
    work = tmp_path / "by-hand"
    git(tmp_path, "clone", "--quiet", upstream.url, str(work))
    git(work, "fetch", "--quiet", "origin", change.ref)
    date = git(work, "log", "--no-walk", "--format=%ct", "HEAD", change_commit).split()
    stamp = f"@{max(int(d) for d in date)} +0000"
    env = {
        **DEV_ENV,
        "GIT_AUTHOR_NAME": MERGER_NAME,
        "GIT_AUTHOR_EMAIL": MERGER_EMAIL,
        "GIT_COMMITTER_NAME": MERGER_NAME,
        "GIT_COMMITTER_EMAIL": MERGER_EMAIL,
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
    }
    git(work, "merge", "--quiet", "--no-ff", "-m", "Merge change 1,1", change_commit, env=env)
    assert tree.commits[PROJECT] == git(work, "rev-parse", "HEAD")


async def test_a_conflict_in_a_queue_fails_the_trees_from_that_change_on(
    upstream: Upstream, merger: Merger
) -> None:
    one = upstream.change(1, {"lines.txt": lines_with({3: "three, says one\n"})})
    two = upstream.change(2, {"lines.txt": lines_with({3: "three, says two\n"})})
    three = upstream.change(3, {"three.txt": "3\n"})

    trees = await merger.merge(
        [MergeRequest((one,)), MergeRequest((one, two)), MergeRequest((one, two, three))]
    )

    assert isinstance(trees[0], MergedTree)
    for tree in trees[1:]:
        assert isinstance(tree, MergeConflict)
        assert tree.change == two
        assert "CONFLICT" in tree.detail
        assert "lines.txt" in tree.detail


async def test_each_tree_is_told_as_soon_as_it_is_made(upstream: Upstream, merger: Merger) -> None:
    """So the builds of the first items can start while the trees behind
    them are still being merged."""
    changes = [upstream.change(n, {f"file-{n}.txt": f"{n}\n"}) for n in (1, 2, 3)]
    cache = merger.cache.path(PROJECT)
    told: list[tuple[int, str, int]] = []

    def made(index: int, tree: object) -> None:
        assert isinstance(tree, MergedTree)
        kinds = git(cache, "cat-file", "--batch-all-objects", "--batch-check=%(objecttype)")
        told.append((index, tree.commits[PROJECT], kinds.split().count("commit")))

    requests = [MergeRequest(tuple(changes[: n + 1])) for n in range(3)]
    trees = await merger.merge(requests, made)

    assert [(i, c) for i, c, _ in told] == [
        (i, t.commits[PROJECT]) for i, t in enumerate(trees) if isinstance(t, MergedTree)
    ]
    # The base, three changes, and by then one, two, three merges.
    assert [commits for _, _, commits in told] == [5, 6, 7]
