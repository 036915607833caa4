"""A pass's merges asked of one git process and their commits written
without git: the same commits as git makes them one command at a time, and
the same when the one process cannot be had."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.merger.conftest import PROJECT, Upstream, lines_with
from tests.merger.gitrepo import push_change
from trunkgate.merger import Merger, MergeRequest, PreparedTree, tree_merges
from trunkgate.merger.commits import Signature, commit_body, loose_commit
from trunkgate.merger.git import isolated_env
from trunkgate.merger.model import MergeConflict, MergedTree


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env=env or isolated_env(),
    ).stdout.strip()


@pytest.mark.parametrize(
    "message",
    ["Merge change acme/app~7,2", "Merge change ünïcode/名前~1,1", "two\n\nparagraphs\n"],
)
def test_a_written_commit_is_the_one_git_commit_tree_makes(tmp_path: Path, message: str) -> None:
    repo = tmp_path / "repo.git"
    git(tmp_path, "init", "-q", "--bare", str(repo))
    env = isolated_env(
        {"GIT_AUTHOR_DATE": "@1700000000 +0000", "GIT_COMMITTER_DATE": "@1700000000 +0000"}
    )
    tree = git(repo, "mktree", env=env)  # the empty tree, from no input
    first = git(repo, "commit-tree", tree, "-m", "first", env=env)
    second = git(repo, "commit-tree", tree, "-m", "second", env=env)
    by_git = git(repo, "commit-tree", tree, "-p", first, "-p", second, "-m", message, env=env)
    other = tmp_path / "other.git"
    git(tmp_path, "init", "-q", "--bare", str(other))
    author = Signature.of(isolated_env(), "AUTHOR", 1_700_000_000)
    committer = Signature.of(isolated_env(), "COMMITTER", 1_700_000_000)
    assert author is not None
    assert committer is not None
    body = commit_body(tree, (first, second), author, committer, message)
    written = loose_commit(other / "objects", body)
    assert written == by_git
    assert git(other, "cat-file", "-t", written) == "commit"
    # Written once: a second write of the same commit changes nothing.
    assert loose_commit(other / "objects", body) == written


def test_identities_git_would_rewrite_are_left_to_git() -> None:
    assert Signature.of({"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b"}, "AUTHOR", 0)
    assert Signature.of({"GIT_AUTHOR_NAME": " a", "GIT_AUTHOR_EMAIL": "a@b"}, "AUTHOR", 0) is None
    assert Signature.of({"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "<a@b>"}, "AUTHOR", 0) is None
    assert Signature.of({"GIT_AUTHOR_NAME": "a"}, "AUTHOR", 0) is None


def four_changes(upstream: Upstream) -> tuple[MergeRequest, MergeRequest]:
    """A four-change tree whose third change conflicts, and a tree of the
    other three."""
    changes = (
        upstream.change(1, {"lines.txt": lines_with({2: "two, says one\n"})}),
        upstream.change(2, {"two.txt": "2\n"}),
        upstream.change(3, {"lines.txt": lines_with({2: "two, says three\n"})}),
        upstream.change(4, {"four.txt": "4\n"}),
    )
    return MergeRequest(changes), MergeRequest((changes[0], changes[1], changes[3]))


async def made_commits(
    requests: tuple[MergeRequest, MergeRequest], merger: Merger, build_dir: Path
) -> tuple[str, str]:
    """The conflicting tree, then in the same pass the clean one (its last
    merge after the conflict): the commit the clean one ends at, merged and
    then prepared."""
    conflicting, clean = requests
    conflict, made = await merger.merge([conflicting, clean])
    assert isinstance(conflict, MergeConflict)
    assert conflict.change == conflicting.changes[2]
    assert "CONFLICT (content): Merge conflict in lines.txt" in conflict.detail
    assert isinstance(made, MergedTree)
    result = await merger.prepare(clean, build_dir)
    assert isinstance(result, PreparedTree)
    assert (result.repo(PROJECT).path / "four.txt").read_text() == "4\n"
    return result.repo(PROJECT).commit, made.commits[PROJECT]


async def test_without_stdbuf_the_same_commits_come_one_git_at_a_time(
    upstream: Upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = four_changes(upstream)
    with_one_process = await made_commits(requests, Merger(tmp_path / "a"), tmp_path / "a-build")
    only_git = tmp_path / "bin"
    only_git.mkdir()
    for tool in ("git", "env"):
        found = shutil.which(tool)
        assert found is not None
        (only_git / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(only_git))
    assert shutil.which("stdbuf") is None
    one_at_a_time = await made_commits(requests, Merger(tmp_path / "b"), tmp_path / "b-build")
    assert one_at_a_time == with_one_process


async def test_a_git_that_holds_its_answers_is_given_up_for_the_pass(
    upstream: Upstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    requests = four_changes(upstream)
    with_one_process = await made_commits(requests, Merger(tmp_path / "a"), tmp_path / "a-build")
    assert "one git at a time" not in caplog.text
    # A `stdbuf` that does not unbuffer: git answers only when its input ends.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "stdbuf").write_text('#!/bin/sh\nshift\nexec "$@"\n')
    (fake / "stdbuf").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(tree_merges, "PROBE_S", 0.5)
    given_up = await made_commits(requests, Merger(tmp_path / "b"), tmp_path / "b-build")
    assert given_up == with_one_process
    assert "merging one git at a time" in caplog.text


async def test_a_change_git_refuses_to_merge_leaves_the_one_process_for_the_rest(
    upstream: Upstream, merger: Merger, caplog: pytest.LogCaptureFixture
) -> None:
    """git merge-tree --stdin ends on unrelated histories: that change does
    not merge, and the merges after it still go to one process."""
    upstream.work.git("checkout", "--quiet", "--orphan", "unrelated")
    upstream.work.git("rm", "-rq", "--cached", ".")
    upstream.work.commit("Unrelated", {"other.txt": "other\n"})
    unrelated = upstream.spec(9, push_change(upstream.work, upstream.bare, 9))
    first = upstream.change(1, {"one.txt": "1\n"})
    second = upstream.change(2, {"two.txt": "2\n"})
    refused, made = await merger.merge(
        [MergeRequest((first, unrelated)), MergeRequest((first, second))]
    )
    assert isinstance(refused, MergeConflict)
    assert refused.change == unrelated
    assert "unrelated histories" in refused.detail
    assert isinstance(made, MergedTree)
    assert "one git at a time" not in caplog.text
