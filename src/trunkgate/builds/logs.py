"""Where a build's console and artifacts are: a directory per buildset
attempt and job below a log root, `<buildset>-<attempt>/<job>/console.log`.
The directory's path below the root is the build's key in the log store, the
same on every host, whatever each host's root."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

CONSOLE = "console.log"


def safe_name(name: str) -> str:
    """A file name from a buildset or job name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "build"


def build_key(buildset: str, attempt: str, job: str) -> str:
    return f"{safe_name(buildset)}-{attempt}/{safe_name(job)}"


def key_of_console(log_path: str) -> str:
    """The key of the build whose console is at `log_path` on whichever
    host ran it: the console's two parent directories."""
    path = PurePosixPath(log_path)
    if path.name != CONSOLE or len(path.parts) < 3:
        raise ValueError(f"{log_path!r} is no build's console log")
    return f"{path.parent.parent.name}/{path.parent.name}"
