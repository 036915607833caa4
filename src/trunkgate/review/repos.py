"""The review source's bare repositories, one per project under a git root
(`<data>/git/<project>.git`), and the hook that turns a push to
`refs/for/<branch>` into a change."""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from trunkgate.merger.cache import project_dirname
from trunkgate.merger.git import Git, isolated_env

FOR_PREFIX = "refs/for/"
HOOK_NAME = "proc-receive"


def repo_path(git_root: Path, project: str) -> Path:
    return git_root / f"{project_dirname(project)}.git"


def hook_command(factory: str, argument: str, project: str) -> list[str]:
    """The command a project's push hook runs: this Python, the hook module,
    and how to reach the review source from a fresh process (a
    `module:function` that is given `argument`, see `review.hook`)."""
    return [
        sys.executable,
        "-m",
        "trunkgate.review.hook",
        "--factory",
        factory,
        "--argument",
        argument,
        "--project",
        project,
    ]


def _write_hook(path: Path, command: Sequence[str]) -> None:
    path.write_text(
        "#!/bin/sh\n"
        "# Installed by trunkgate: pushes to refs/for/<branch> become changes.\n"
        f"exec {shlex.join(command)}\n"
    )
    path.chmod(0o755)


async def init_repo(path: Path, branch: str, command: Sequence[str] | None) -> None:
    """Creates (or, run again, reconfigures) a bare repository. With a hook
    command, pushes to `refs/for/*` go to it through git's proc-receive
    protocol instead of creating refs, and push options are accepted."""
    await asyncio.to_thread(path.mkdir, parents=True, exist_ok=True)
    git = Git(path, isolated_env())
    if not await asyncio.to_thread((path / "HEAD").exists):
        await git.run("init", "--quiet", "--bare", f"--initial-branch={branch}", ".")
    if command is None:
        return
    await git.run("config", "--replace-all", "receive.procReceiveRefs", FOR_PREFIX.rstrip("/"))
    await git.run("config", "receive.advertisePushOptions", "true")
    await asyncio.to_thread(_write_hook, path / "hooks" / HOOK_NAME, command)
