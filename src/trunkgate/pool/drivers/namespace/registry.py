"""The host-wide record of which directory (a provider's own, inside a
trunkgate state dir) each provider key belongs to. It lives in the run dir,
gone at reboot like the kernel objects it describes, and lets anyone on the
host tell whose a `tg-KEY...` namespace, link or process is.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["register", "state_dir_of", "unregister"]


def register(run_dir: Path, key: str, state_dir: Path) -> None:
    path = run_dir / "providers" / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"state_dir": str(state_dir)}) + "\n")
    tmp.replace(path)


def unregister(run_dir: Path, key: str) -> None:
    (run_dir / "providers" / f"{key}.json").unlink(missing_ok=True)


def state_dir_of(run_dir: Path, key: str) -> Path | None:
    """The state dir of provider `key`, or None when no one on the host registered it."""
    try:
        record = json.loads((run_dir / "providers" / f"{key}.json").read_text())
        return Path(record["state_dir"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
