"""The merger's one-call git queries: is every commit in a tip's history, and
which commits a repository lacks."""

from __future__ import annotations

from pathlib import Path

from tests.scheduler.harness import git
from trunkgate.merger.git import Git, isolated_env


def history(tmp_path: Path) -> tuple[Path, list[str], str]:
    """A line of three commits, and a fourth beside the last."""
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    line = []
    for n in range(3):
        git(repo, "commit", "-q", "--allow-empty", "-m", f"c{n}")
        line.append(git(repo, "rev-parse", "HEAD"))
    git(repo, "checkout", "-q", "-b", "side", line[1])
    git(repo, "commit", "-q", "--allow-empty", "-m", "side")
    return repo, line, git(repo, "rev-parse", "HEAD")


async def test_all_in_says_whether_every_commit_is_in_the_tips_history(tmp_path: Path) -> None:
    repo, line, side = history(tmp_path)
    queries = Git(repo, isolated_env())
    assert await queries.all_in(line, line[2])
    assert await queries.all_in([line[0]], line[0])
    assert not await queries.all_in([*line[:2], side], line[2])
    assert not await queries.all_in([line[2]], line[1])  # a descendant is not in it
    assert not await queries.all_in(["0" * 40], line[2])  # nor is what git does not know


async def test_lacking_names_the_commits_a_repository_does_not_have(tmp_path: Path) -> None:
    repo, line, side = history(tmp_path)
    tree = git(repo, "rev-parse", "HEAD^{tree}")
    queries = Git(repo, isolated_env())
    assert await queries.lacking([*line, side]) == set()
    assert await queries.lacking([line[0], "1" * 40, tree]) == {"1" * 40, tree}
    assert await queries.lacking([]) == set()


async def test_parents_are_read_for_many_commits_at_once(tmp_path: Path) -> None:
    repo, line, side = history(tmp_path)
    queries = Git(repo, isolated_env())
    assert await queries.parents([line[2], side, line[0]]) == {
        line[2]: (line[1],),
        side: (line[1],),
        line[0]: (),
    }
    assert await queries.parents([line[0], "2" * 40]) == {}
