"""A tested tree goes onto its branch only if it is exactly what the branch
becomes; prepared trees can be exported for a node."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.merger.conftest import PROJECT, Upstream
from tests.merger.gitrepo import bare_tip, git
from trunkgate.merger import (
    Merger,
    MergeRequest,
    PreparedTree,
    StaleTree,
    export_files,
    export_repo,
    merge_prepared,
)


async def prepared(merger: Merger, request: MergeRequest, build_dir: Path) -> PreparedTree:
    result = await merger.prepare(request, build_dir)
    assert isinstance(result, PreparedTree), result
    return result


async def test_gate_head_then_next_item_fast_forward_the_branch(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    one = upstream.change(1, {"one.txt": "1\n"})
    two = upstream.change(2, {"two.txt": "2\n"})
    head = (await prepared(merger, MergeRequest((one,)), tmp_path / "b1")).repo(PROJECT)
    behind = (await prepared(merger, MergeRequest((one, two)), tmp_path / "b2")).repo(PROJECT)

    first = await merge_prepared(head)
    assert (first.old, first.new, first.branch) == (upstream.base, head.commit, "main")
    assert first.changed
    assert bare_tip(upstream.bare) == head.commit

    second = await merge_prepared(behind)
    assert (second.old, second.new) == (head.commit, behind.commit)
    assert bare_tip(upstream.bare) == behind.commit


async def test_a_tree_tested_on_an_old_tip_is_refused(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    one = upstream.change(1, {"one.txt": "1\n"})
    two = upstream.change(2, {"two.txt": "2\n"})
    alone = (await prepared(merger, MergeRequest((two,)), tmp_path / "b2")).repo(PROJECT)
    await merge_prepared(
        (await prepared(merger, MergeRequest((one,)), tmp_path / "b1")).repo(PROJECT)
    )
    tip = bare_tip(upstream.bare)

    with pytest.raises(StaleTree, match="moved"):
        await merge_prepared(alone)

    assert bare_tip(upstream.bare) == tip


async def test_merging_the_same_tree_again_changes_nothing(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    one = upstream.change(1, {"one.txt": "1\n"})
    repo = (await prepared(merger, MergeRequest((one,)), tmp_path / "b1")).repo(PROJECT)
    await merge_prepared(repo)

    again = await merge_prepared(repo)

    assert not again.changed
    assert bare_tip(upstream.bare) == repo.commit


async def test_export_as_repository_and_as_plain_files(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    one = upstream.change(1, {"pkg/one.txt": "1\n"})
    repo = (await prepared(merger, MergeRequest((one,)), tmp_path / "b1")).repo(PROJECT)

    clone = await export_repo(repo, tmp_path / "node" / "src" / PROJECT)
    files = await export_files(repo, tmp_path / "plain")

    assert git(clone, "rev-parse", "HEAD") == repo.commit
    assert git(clone, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(clone, "remote", "get-url", "origin") == upstream.url
    assert (clone / "pkg" / "one.txt").read_text() == "1\n"
    assert not (clone / ".git" / "objects" / "info" / "alternates").exists()
    assert (files / "pkg" / "one.txt").read_text() == "1\n"
    assert not (files / ".git").exists()
