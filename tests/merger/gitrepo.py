"""Real git repositories for tests: a bare upstream and working clones in
which a test writes files and commits, as a developer would."""

from __future__ import annotations

import subprocess
from pathlib import Path

from trunkgate.merger.git import isolated_env

DEV_ENV = isolated_env(
    {
        "GIT_AUTHOR_NAME": "Ada Dev",
        "GIT_AUTHOR_EMAIL": "ada@example.org",
        "GIT_COMMITTER_NAME": "Ada Dev",
        "GIT_COMMITTER_EMAIL": "ada@example.org",
    }
)


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=env or DEV_ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stdout}{result.stderr}")
    return result.stdout.strip()


class WorkRepo:
    """A developer's clone."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str) -> str:
        return git(self.path, *args)

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self.git("add", "-A")

    def commit(self, message: str, files: dict[str, str], amend: bool = False) -> str:
        self.write(files)
        self.git("commit", "--quiet", *(["--amend"] if amend else []), "-m", message)
        return self.git("rev-parse", "HEAD")

    def branch_from(self, start: str, name: str) -> None:
        self.git("checkout", "--quiet", "-B", name, start)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")


def make_upstream(
    root: Path, name: str = "upstream", branch: str = "main"
) -> tuple[Path, WorkRepo]:
    """A bare repository with one commit on `branch` (a README and a file of
    ten numbered lines) and a working clone of it."""
    bare = root / f"{name}.git"
    git(root, "init", "--quiet", "--bare", "-b", branch, str(bare))
    work = WorkRepo(root / f"{name}-work")
    git(root, "clone", "--quiet", str(bare), str(work.path))
    work.git("checkout", "--quiet", "-B", branch)
    work.commit(
        "Initial import",
        {"README": "hello\n", "lines.txt": "".join(f"line {i}\n" for i in range(10))},
    )
    work.git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}")
    return bare, work


def change_ref(number: int, patchset: int = 1) -> str:
    return f"refs/changes/{number % 100:02d}/{number}/{patchset}"


def push_change(work: WorkRepo, bare: Path, number: int, patchset: int = 1) -> str:
    """Pushes HEAD of `work` as a change ref, as a review server keeps it."""
    ref = change_ref(number, patchset)
    work.git("push", "--quiet", str(bare), f"HEAD:{ref}")
    return ref


def bare_tip(bare: Path, branch: str = "main") -> str:
    return git(bare, "rev-parse", f"refs/heads/{branch}")
