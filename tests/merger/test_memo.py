"""The merger remembers the merges it made: a longer tree starts from the
result of its first changes instead of merging them again, and comes out
exactly as a merger without that memory makes it."""

from __future__ import annotations

from pathlib import Path

from tests.merger.conftest import PROJECT, Upstream
from trunkgate.merger import Merger, MergeRequest, PreparedTree


def merges(result: PreparedTree) -> list[str]:
    return [c for c in result.repo(PROJECT).commands if c.startswith("git merge-tree")]


async def test_a_longer_tree_merges_only_what_is_new(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    changes = tuple(upstream.change(n, {f"file-{n}.txt": f"{n}\n"}) for n in (1, 2, 3))

    first = await merger.prepare(MergeRequest(changes[:2]), tmp_path / "first")
    assert isinstance(first, PreparedTree)
    assert len(merges(first)) == 2

    longer = await merger.prepare(MergeRequest(changes), tmp_path / "longer")
    assert isinstance(longer, PreparedTree)
    assert len(merges(longer)) == 1  # only change 3

    fresh = await Merger(tmp_path / "other-cache").prepare(
        MergeRequest(changes), tmp_path / "fresh"
    )
    assert isinstance(fresh, PreparedTree)
    assert longer.repo(PROJECT).commit == fresh.repo(PROJECT).commit
    # The skipped merges' files are there all the same.
    assert (longer.repo(PROJECT).path / "file-1.txt").read_text() == "1\n"


async def test_the_same_tree_again_merges_nothing(
    upstream: Upstream, merger: Merger, tmp_path: Path
) -> None:
    changes = (upstream.change(1, {"a.txt": "a\n"}),)
    once = await merger.prepare(MergeRequest(changes), tmp_path / "once")
    again = await merger.prepare(MergeRequest(changes), tmp_path / "again")
    assert isinstance(once, PreparedTree)
    assert isinstance(again, PreparedTree)
    assert merges(again) == []
    assert again.repo(PROJECT).commit == once.repo(PROJECT).commit
    assert again.repo(PROJECT).head_line.startswith("HEAD is now at")
