"""One `git merge-tree --write-tree --stdin` for many merges in a cache.

A pass merges a queue's changes one onto the other, each onto the commit of
the one before, so the merges cannot be handed to git together; one git
process a merge cost 5 ms of a core to start and, with the host busy
starting builds, 50 to 150 ms of waiting. This keeps one process for the
pass and asks it a merge at a time.

git buffers its answers when its output is a pipe, so it runs under
`stdbuf -o0`, which turns the buffering off. If the first, trivial, merge
is not answered within PROBE_S (no `stdbuf`, a git that buffers anyway),
this process does without from then on: `tree` returns None and the caller
runs a git of its own for the merge, as it does for any merge that is not
clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil

from trunkgate.merger.git import OBJECT_ID, Git

log = logging.getLogger(__name__)

PROBE_S = 10.0
"""How long the first answer may take: git starting and merging a commit with itself."""

EXIT_S = 5.0
"""How long git has to end once its input is closed, before it is killed."""

CLEAN = b"1\0"
END = b"\0"


#: The PATHs whose `stdbuf` and git did not answer one by one: passes that
#: follow do without at once, rather than waiting PROBE_S each.
_WITHOUT: set[str] = set()


class TreeMerges:
    """Merged trees from one git process; `close` stops it."""

    def __init__(self, git: Git) -> None:
        self.git = git
        self._proc: asyncio.subprocess.Process | None = None
        self._given_up = shutil.which("stdbuf") is None or _path() in _WITHOUT

    async def tree(self, head: str, commit: str) -> str | None:
        """The tree of `commit` merged onto `head` when they merge cleanly;
        None when they do not, or the process could not say."""
        if self._given_up:
            return None
        if self._proc is None:
            try:
                await self._start(head)
            except (
                OSError,
                ValueError,
                asyncio.IncompleteReadError,
                TimeoutError,
                _NotClean,
            ) as exc:
                log.warning(
                    "merger: merging one git at a time: `stdbuf -o0 git merge-tree --stdin` "
                    "gave no answer (%s)",
                    str(exc) or type(exc).__name__,
                )
                self._given_up = True
                _WITHOUT.add(_path())
                await self.close()
                return None
        assert self._proc is not None
        try:
            async with asyncio.timeout(self.git.timeout):
                return await self._ask(self._proc, head, commit)
        except (_NotClean, asyncio.IncompleteReadError, ValueError, OSError, TimeoutError):
            # Not clean, or refused (git ends on unrelated histories, say):
            # git alone says which and why. What follows an answer (its
            # conflicts) is not read: the next merge gets a fresh process.
            await self.close()
            return None

    async def _start(self, head: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            "stdbuf",
            "-o0",
            "git",
            "merge-tree",
            "--write-tree",
            "--stdin",
            cwd=self.git.cwd,
            env=self.git.env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        self._proc = proc
        # Merging a commit with itself is clean and quick: it shows that
        # answers come one by one.
        async with asyncio.timeout(PROBE_S):
            await self._ask(proc, head, head)

    async def _ask(self, proc: asyncio.subprocess.Process, head: str, commit: str) -> str:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(f"{head} {commit}\n".encode())
        await proc.stdin.drain()
        status = await proc.stdout.readuntil(END)
        tree = await proc.stdout.readuntil(END)
        if status != CLEAN:
            raise _NotClean
        if await proc.stdout.readuntil(END) != END:
            raise ValueError("git merge-tree answered more than a tree for a clean merge")
        answer = tree[:-1].decode("ascii", "replace")
        if not OBJECT_ID.fullmatch(answer):
            raise ValueError(f"git merge-tree answered {answer[:80]!r}, not a tree")
        return answer

    def stop(self) -> None:
        """End the process: its input closed, on which git exits; `close`
        then waits for it (and kills it only if it does not end).

        Not killed at once: a kill of a git that has just exited races
        asyncio's child watcher, which then logs it as an unknown child with
        a made-up exit code."""
        if self._proc is not None and self._proc.stdin is not None:
            self._proc.stdin.close()

    async def close(self) -> None:
        self.stop()
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            # What it still writes (a conflict's details) is read, so that
            # a full pipe does not keep it from ending.
            async with asyncio.timeout(EXIT_S):
                await proc.communicate()
        except (TimeoutError, OSError, ValueError):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def _path() -> str:
    return os.environ.get("PATH", "")


class _NotClean(Exception):
    """git answered that the merge has conflicts."""
