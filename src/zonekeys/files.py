"""How zonekeys changes files: each whole or not at all (written beside
itself under a name no other run picks, flushed to disk, renamed over it),
with its mode from the first byte; and one run at a time per zones
directory (a lock file any other run finds taken)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from zonekeys.errors import ZonekeysError

LOCK_NAME = ".zonekeys.lock"


def write_atomically(path: Path, parts: Iterable[bytes], mode: int) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.writelines(parts)
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def write_text_atomically(path: Path, text: str, mode: int) -> None:
    write_atomically(path, [text.encode("utf-8")], mode)


@contextlib.contextmanager
def one_run_at_a_time(zones_dir: Path) -> Iterator[None]:
    """Held while a command changes anything under `zones_dir`; a second
    run meanwhile (cron overlapping a slow one, a KSK step beside cron) is
    refused at once, and the next cron run does its work."""
    if not zones_dir.is_dir():
        yield  # the command says what is missing
        return
    lock = zones_dir / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            written = os.pread(fd, 32, 0).decode("ascii", "replace").split()
            holder = written[0] if written else "?"
            raise ZonekeysError(
                f"{zones_dir}: another zonekeys run (pid {holder}) is changing it; "
                "try again once it ends"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
