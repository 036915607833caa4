"""Getting a prepared tree out of the merger: onto the project's branch when
the gate merges it, and into a plain directory or repository that the
executor copies to a node."""

from __future__ import annotations

import asyncio
import io
import tarfile
from pathlib import Path

from trunkgate.merger.cache import fresh_dir
from trunkgate.merger.errors import GitError, StaleTree
from trunkgate.merger.git import Git, isolated_env
from trunkgate.merger.model import BranchUpdate, PreparedRepo


async def branch_tip(url: str, branch: str, cwd: Path | None = None) -> str | None:
    """The commit `branch` is at in the repository at `url`, None if absent
    (a relative `url` is taken from `cwd`)."""
    git = Git(cwd or Path.cwd(), isolated_env())
    out = await git.out("ls-remote", "--heads", url, f"refs/heads/{branch}")
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


async def merge_to_branch(
    source: Path, commit: str, url: str, branch: str, project: str = ""
) -> BranchUpdate:
    """Makes `branch` of the repository at `url` point at exactly `commit`,
    the tested tree, which the repository at `source` holds.

    The branch moves only forward: allowed when it is still where the tree
    was prepared on, or has moved to an ancestor of `commit` (the changes
    ahead in the gate merged, as tested). Anything else raises `StaleTree`,
    for then the branch would not end up as the tree that was tested. When
    the branch is at `commit` already, or past it (merged together with
    changes tested on top of it), nothing happens (a retried merge is not a
    second merge). The update is a compare-and-set against the tip
    that was checked, so a push racing this one cannot be overwritten."""
    git = Git(source, isolated_env())
    ref = f"refs/heads/{branch}"
    tip = await branch_tip(url, branch, source)
    if tip == commit:
        return BranchUpdate(project, url, branch, commit, commit)
    if tip is None:
        raise StaleTree(f"{project or url} has no branch '{branch}' to merge onto")
    known = await git.rev(tip) is not None
    if not (known and await git.is_ancestor(tip, commit)):
        if known and await git.is_ancestor(commit, tip):
            # Pushed already, with the changes tested on top of it (merged
            # together by a push of the last one's tree).
            return BranchUpdate(project, url, branch, tip, tip)
        raise StaleTree(
            f"{project or url} {branch} moved to {tip[:12]} since {commit[:12]} was tested; "
            "the tested tree would not be the result"
        )
    try:
        await git.run("push", "--quiet", f"--force-with-lease={ref}:{tip}", url, f"{commit}:{ref}")
    except GitError as exc:
        if "stale info" in exc.output or "rejected" in exc.output:
            raise StaleTree(
                f"{project or url} {branch} moved while {commit[:12]} was being merged"
            ) from None
        raise
    return BranchUpdate(project, url, branch, tip, commit)


async def merge_prepared(repo: PreparedRepo) -> BranchUpdate:
    """`merge_to_branch` for a repository the merger prepared."""
    return await merge_to_branch(repo.path, repo.commit, repo.url, repo.branch, repo.project)


async def export_repo(repo: PreparedRepo, dest: Path) -> Path:
    """A stand-alone clone of the prepared repository at `dest`, checked out
    at the tested commit on its branch, with the project's repository as
    origin: what a job finds in `~/src/<project>`."""
    await asyncio.to_thread(fresh_dir, dest)
    env = isolated_env()
    await Git(dest.parent, env).run(
        "clone", "--quiet", "--no-local", "--branch", repo.branch, str(repo.path), str(dest)
    )
    git = Git(dest, env)
    await git.run("remote", "set-url", "origin", repo.url)
    await git.run("reset", "--quiet", "--hard", repo.commit)
    return dest


async def export_files(repo: PreparedRepo, dest: Path) -> Path:
    """The files of the tested commit at `dest`, without git metadata."""
    git = Git(repo.path, isolated_env())
    proc = await asyncio.create_subprocess_exec(
        "git",
        "archive",
        "--format=tar",
        repo.commit,
        cwd=repo.path,
        env=git.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    data, err = await proc.communicate()
    if proc.returncode != 0:
        raise GitError(("archive", repo.commit), proc.returncode or -1, err.decode())
    await asyncio.to_thread(_untar, data, dest)
    return dest


def _untar(data: bytes, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
