"""The merger's cache of project repositories: one bare clone per project,
cloned once and fetched on later builds, from which each build's workspace
is cloned locally (objects hard-linked, so that is cheap)."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from trunkgate.merger.errors import GitError
from trunkgate.merger.git import Git, isolated_env

log = logging.getLogger(__name__)

HEADS = "+refs/heads/*:refs/heads/*"
TAGS = "+refs/tags/*:refs/tags/*"
ALL_CHANGES = "+refs/changes/*:refs/changes/*"


def project_dirname(project: str) -> str:
    """A project name as a relative path; names may contain `/` but must
    not climb out of the directory they are placed in."""
    parts = project.split("/")
    if not project or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"'{project}' is not a valid project name")
    return project


def fresh_dir(path: Path) -> None:
    """Makes room for `path`: removes it if it exists, creates its parent."""
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)


class RepoCache:
    """Bare clones under `root`, one per project. One process owns a cache
    directory; updates of one project are serialized within it."""

    def __init__(self, root: Path, timeout: float | None = None) -> None:
        self.root = root
        self.timeout = timeout
        self._locks: dict[str, asyncio.Lock] = {}

    def path(self, project: str) -> Path:
        return self.root / f"{project_dirname(project)}.git"

    def lock(self, project: str) -> asyncio.Lock:
        """Held while the project's clone is fetched into, or copied."""
        return self._locks.setdefault(project, asyncio.Lock())

    async def update(
        self,
        project: str,
        url: str,
        refs: Iterable[str] = (),
        *,
        before_remaking: Callable[[], Awaitable[None]] | None = None,
    ) -> Git:
        """Brings the project's clone up to date with `url` (its branches,
        tags and the given change refs) and returns a `Git` on it whose
        `commands` are the git commands that ran. A clone that cannot be
        fetched into is thrown away and made again, once, after
        `before_remaking` (what else writes there finishes first)."""
        async with self.lock(project):
            path = self.path(project)
            git = Git(path, isolated_env(), self.timeout)
            fresh = not await asyncio.to_thread((path / "HEAD").exists)
            if fresh:
                await self._reaching(url, lambda: self._clone(git, url))
            try:
                await self._reaching(url, lambda: self._fetch(git, url, refs))
            except GitError as exc:
                if fresh or unreachable(exc):
                    # The server is away, not our clone broken: what the
                    # clone holds stays (merges may be reading it now).
                    raise
                if before_remaking is not None:
                    await before_remaking()
                await asyncio.to_thread(fresh_dir, path)
                await self._clone(git, url)
                await self._fetch(git, url, refs)
            return git

    async def _reaching(self, url: str, work: Callable[[], Awaitable[None]]) -> None:
        """`work`, tried again after pauses while the server cannot be
        reached (a git server restarting, a network moment)."""
        for pause in (*REACH_PAUSES_S, None):
            try:
                await work()
                return
            except GitError as exc:
                if pause is None or not unreachable(exc):
                    raise
                log.info("merger: %s cannot be reached, again in %gs: %s", url, pause, exc)
                await asyncio.sleep(pause)

    async def _clone(self, git: Git, url: str) -> None:
        await asyncio.to_thread(git.cwd.parent.mkdir, parents=True, exist_ok=True)
        clone = Git(git.cwd.parent, git.env, self.timeout)
        await clone.run("clone", "--bare", "--quiet", url, str(git.cwd))
        git.commands.extend(clone.commands)

    async def _fetch(self, git: Git, url: str, refs: Iterable[str]) -> None:
        wanted = [ref for ref in dict.fromkeys(refs) if ref.startswith("refs/")]
        specs = [f"+{ref}:{ref}" for ref in wanted]
        fetched = await git.run(
            "fetch", "--quiet", "--prune", url, HEADS, TAGS, *specs, check=False
        )
        if not fetched.ok:
            # A change ref that is gone must fail that change, not the
            # build: fetch the branches alone, then each ref on its own.
            await git.run("fetch", "--quiet", "--prune", url, HEADS, TAGS)
            for spec in specs:
                await git.run("fetch", "--quiet", url, spec, check=False)

    async def fetch_all_changes(self, git: Git, url: str) -> None:
        """For a change named by commit id that no fetched ref reaches:
        fetch every change ref, the only other place its commit can be."""
        await git.run("fetch", "--quiet", url, ALL_CHANGES)


#: Pauses between tries of a fetch from a server that cannot be reached.
REACH_PAUSES_S = (1.0, 2.0, 4.0)
#: What git says when the server is not there, as opposed to our clone broken.
_UNREACHABLE = (
    "unable to connect",
    "connection refused",
    "could not resolve host",
    "no route to host",
    "connection timed out",
    "network is unreachable",
    "the remote end hung up unexpectedly",
    "early eof",
    "could not read from remote repository",
)


def unreachable(error: GitError) -> bool:
    """Whether git failed for want of its server."""
    said = error.output.lower()
    return any(words in said for words in _UNREACHABLE)
