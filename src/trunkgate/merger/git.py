"""Running the `git` command from asyncio: one isolated environment, results
as plain values, and a record of each command for the console log. Knows
nothing about changes, builds or review."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from trunkgate.merger.errors import GitError

#: A full git object id (SHA-1 or SHA-256), lower-case hex.
OBJECT_ID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")

# The identity of commits the merger makes (merge commits, cherry-picks).
MERGER_NAME = "trunkgate"
MERGER_EMAIL = "trunkgate@localhost"


#: How git reaches the site's review systems, set once for the process (see
#: `review.code_urls.use_site_git_access`): their SSH keys, their tokens.
_ACCESS: dict[str, str] = {}


def set_git_access(env: Mapping[str, str]) -> None:
    _ACCESS.clear()
    _ACCESS.update(env)


def isolated_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment git runs in: the caller's, minus anything that would
    point git at another repository (as a hook's environment does), minus
    the user's and the system's git config (a `commit.gpgsign` there must
    not break merges), and never a prompt for credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "LC_ALL": "C",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_AUTHOR_NAME": MERGER_NAME,
            "GIT_AUTHOR_EMAIL": MERGER_EMAIL,
            "GIT_COMMITTER_NAME": MERGER_NAME,
            "GIT_COMMITTER_EMAIL": MERGER_EMAIL,
        }
    )
    env.update(_ACCESS)
    if extra:
        env.update(extra)
    return env


@dataclass(frozen=True)
class GitResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def output(self) -> str:
        """stdout and stderr together, as a person would have seen them."""
        return "\n".join(part for part in (self.stdout.strip(), self.stderr.strip()) if part)


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


class Git:
    """Runs git in one directory. Every command is appended to `commands`
    (as `git ...`, shell-quoted) so a build's console can show what ran."""

    def __init__(
        self, cwd: Path, env: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> None:
        self.cwd = cwd
        self.env = dict(env) if env is not None else isolated_env()
        self.timeout = timeout
        self.commands: list[str] = []

    async def run(
        self,
        *args: str,
        check: bool = True,
        stdin: bytes | None = None,
        record: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> GitResult:
        if record:
            self.commands.append(shlex.join(("git", *args)))
        try:
            proc = await asyncio.create_subprocess_exec(
                "git",
                *args,
                cwd=self.cwd,
                env={**self.env, **env} if env else self.env,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise GitError(args, -1, f"cannot run git in {self.cwd}: {exc}") from exc
        try:
            async with asyncio.timeout(self.timeout):
                out, err = await proc.communicate(stdin)
        except TimeoutError:
            await _kill(proc)
            raise GitError(args, -1, f"timed out after {self.timeout:g} s") from None
        except asyncio.CancelledError:
            # A cancelled build must not leave a git process behind.
            await _kill(proc)
            raise
        assert proc.returncode is not None
        result = GitResult(
            tuple(args),
            proc.returncode,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
        )
        if check and not result.ok:
            raise GitError(result.args, result.returncode, result.output)
        return result

    async def out(self, *args: str, record: bool = False) -> str:
        """stdout of a command that must succeed, stripped; queries are not
        recorded unless asked, since they change nothing."""
        return (await self.run(*args, record=record)).stdout.strip()

    async def rev(self, rev: str) -> str | None:
        """The commit `rev` names, or None when it names no commit."""
        result = await self.run(
            "rev-parse", "-q", "--verify", f"{rev}^{{commit}}", check=False, record=False
        )
        return result.stdout.strip() if result.ok else None

    async def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        result = await self.run(
            "merge-base", "--is-ancestor", ancestor, descendant, check=False, record=False
        )
        if result.returncode not in (0, 1):
            raise GitError(result.args, result.returncode, result.output)
        return result.returncode == 0

    async def all_in(self, commits: Iterable[str], tip: str) -> bool:
        """Whether every commit is `tip` or an ancestor of it, in one git
        call: the only commit none of the others reaches is then `tip`.
        False too when git does not know one of them."""
        result = await self.run(
            "merge-base", "--independent", tip, *commits, check=False, record=False
        )
        return result.ok and result.stdout.split() == [tip]

    async def lacking(self, commits: Iterable[str]) -> set[str]:
        """Those of `commits` the repository has no commit for, in one git call."""
        wanted = list(dict.fromkeys(commits))
        if not wanted:
            return set()
        result = await self.run(
            "cat-file",
            "--batch-check=%(objectname) %(objecttype)",
            stdin="".join(f"{c}\n" for c in wanted).encode(),
            record=False,
        )
        found = {
            words[0]
            for words in (line.split() for line in result.stdout.splitlines())
            if words[-1:] == ["commit"]
        }
        return {c for c in wanted if c not in found}

    async def parents(self, commits: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Each commit's parents, in one git call; empty when git does not
        know one of them."""
        wanted = list(dict.fromkeys(commits))
        if not wanted:
            return {}
        result = await self.run(
            "rev-list", "--no-walk=unsorted", "--parents", *wanted, check=False, record=False
        )
        if not result.ok:
            return {}
        lines = (line.split() for line in result.stdout.splitlines())
        return {words[0]: tuple(words[1:]) for words in lines if words}
