"""git in a benchmark's working repository, as a benchmark's author."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(repo: Path, *args: str) -> str:
    """`git -C repo ARGS`, its output stripped; a failure raises."""
    return subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@localhost",
            *args,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
