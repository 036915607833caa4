"""The subject line of a tested commit, for the build page: read from the
site's repositories on this host (the merger's cache, which holds the trees
it merged, then the local source's) and remembered, since a commit's
subject never changes."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from pathlib import Path

from trunkgate.review.repos import repo_path

MOST_REMEMBERED = 10_000
GIT_TIMEOUT_S = 5.0
LONGEST_SUBJECT = 500


class Subjects:
    def __init__(self, *git_roots: Path) -> None:
        self._git_roots = git_roots
        self._known: OrderedDict[tuple[str, str], str] = OrderedDict()

    async def subject(self, project: str, commit: str) -> str | None:
        """The subject, or None while no repository here has the commit
        (asked again next time: a fetch may bring it)."""
        key = (project, commit)
        if key in self._known:
            return self._known[key]
        found = await self._read(project, commit)
        if found is not None:
            self._known[key] = found
            while len(self._known) > MOST_REMEMBERED:
                self._known.popitem(last=False)
        return found

    async def _read(self, project: str, commit: str) -> str | None:
        if not commit or not all(c in "0123456789abcdef" for c in commit):
            return None
        for root in self._git_roots:
            repo = repo_path(root, project)
            if repo.is_dir() and (found := await self._read_in(repo, commit)) is not None:
                return found
        return None

    async def _read_in(self, repo: Path, commit: str) -> str | None:
        process = await asyncio.create_subprocess_exec(
            "git",
            f"--git-dir={repo}",
            "log",
            "-1",
            "--format=%s",
            commit,
            "--",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            out, _ = await asyncio.wait_for(process.communicate(), GIT_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            return None
        if process.returncode != 0:
            return None
        return out.decode("utf-8", "replace").strip()[:LONGEST_SUBJECT]
