"""Builds fetched from the log store into a web server's log root, as the
web server keeps them: the place a fetch is made in, the mark that tells a
fetched build from one run on this host, and which fetched builds to evict
past a bound (`to_evict`, a pure function). Nothing here talks to the log
store or answers a request.

Below the log root, beside the builds' directories:

- `.fetching/TOKEN/`: a fetch under way, locked (flock) by the process
  making it for as long as it lives. One nobody holds is what a killed
  process left, removed by the next fetch; a build being evicted is moved
  here first, so nobody sees half of it.
- `.fetched/BUILD/JOB`: the mark of the fetched build BUILD/JOB: its size in
  bytes; its modification time is when it was last viewed. A build without
  one (run on this host) is never evicted.

Blocking calls: the web server runs them in a thread.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from trunkgate.logstore.keys import check_key

#: Where fetches under way are made, below the log root.
FETCHING = ".fetching"
#: Where fetched builds' marks are, below the log root.
FETCHED = ".fetched"
#: Names below the log root that are no build's.
OWN_PLACES = frozenset({FETCHING, FETCHED})

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Fetched:
    """A build fetched into the log root: its key, the bytes it holds and
    when it was last viewed (seconds since the epoch)."""

    key: str
    size: int
    viewed: float


def to_evict(fetched: Iterable[Fetched], most: int, *, keep: str | None = None) -> list[str]:
    """The keys of the fetched builds to evict, least recently viewed first,
    so that those left hold at most `most` bytes together. `keep` (the build
    a view has just fetched) stays even when it alone holds more: evicting
    it would take it from under the view that asked for it."""
    builds = list(fetched)
    left = sum(build.size for build in builds)
    evicted: list[str] = []
    for build in sorted(builds, key=lambda b: (b.viewed, b.key)):
        if left <= most:
            break
        if build.key != keep:
            evicted.append(build.key)
            left -= build.size
    return evicted


class FetchPlace:
    """A directory of one fetch below `.fetching`, locked while its process
    holds it: `claim` it, fetch into `path`, move `path` into place, then
    `release` it (which removes whatever is still there)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def claim(cls, root: Path) -> FetchPlace:
        fetching = root / FETCHING
        fetching.mkdir(parents=True, exist_ok=True)
        while True:
            path = fetching / secrets.token_hex(8)
            path.mkdir()
            fd = os.open(path, _DIRECTORY)
            if _lock(fd) and _is(fd, path):
                return cls(path, fd)
            # Taken for a dead process's leftover by another's `reap`
            # between mkdir and flock: it is going; make another.
            os.close(fd)

    def release(self) -> None:
        # Removed before it is unlocked: no reaper sees it unlocked.
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._fd)


def reap(root: Path) -> list[str]:
    """Remove what dead processes left below `.fetching` (every entry not
    locked); the names removed."""
    fetching = root / FETCHING
    try:
        if not stat.S_ISDIR(os.lstat(fetching).st_mode):
            # A file or a link: no fetch could be made there, nor anything
            # be removed through it.
            fetching.unlink()
            return [FETCHING]
        entries = [entry.name for entry in os.scandir(fetching)]
    except FileNotFoundError:
        return []
    removed = []
    for name in entries:
        path = fetching / name
        try:
            fd = os.open(path, _DIRECTORY)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            path.unlink(missing_ok=True)  # a file or a link: no fetch's place
            removed.append(name)
            continue
        try:
            if _lock(fd) and _is(fd, path):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(name)
        finally:
            os.close(fd)
    return removed


def _lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _is(fd: int, path: Path) -> bool:
    """Whether `path` is still the directory open as `fd`."""
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def tree_size(path: Path) -> int:
    """The bytes of the regular files below `path`, no link followed."""
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            info = os.lstat(os.path.join(directory, name))
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total


def _mark_path(root: Path, key: str) -> Path:
    return root.joinpath(FETCHED, *check_key(key).split("/"))


def mark(root: Path, key: str, size: int, now: float) -> None:
    """Mark the build `key` as fetched, `size` bytes, viewed `now`: done
    before it is moved into place, so no fetched build is ever unmarked."""
    path = _mark_path(root, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(size))
    os.utime(path, (now, now))


def viewed(root: Path, parts: tuple[str, ...], now: float) -> None:
    """Note that the build whose console is at `parts` below the root was
    viewed `now`, if it was fetched."""
    if len(parts) != 3:
        return  # no console of a build's directory
    # No mark: run on this host, or evicted meanwhile.
    with contextlib.suppress(FileNotFoundError, ValueError):
        os.utime(_mark_path(root, "/".join(parts[:2])), (now, now), follow_symlinks=False)


def scan(root: Path) -> list[Fetched]:
    """The fetched builds in the log root, by their marks. A mark whose build
    is not in place is passed over: its fetch is still moving it there, or
    was killed before."""
    found: list[Fetched] = []
    marks = root / FETCHED
    for build in _names(marks):
        for job in _names(marks / build):
            key = f"{build}/{job}"
            try:
                check_key(key)
                info = os.lstat(marks / build / job)
                in_place = os.lstat(root / build / job)
                if not (stat.S_ISREG(info.st_mode) and stat.S_ISDIR(in_place.st_mode)):
                    continue
                size = _size_of(marks / build / job, root / build / job)
            except (ValueError, FileNotFoundError, NotADirectoryError):
                continue
            found.append(Fetched(key, size, info.st_mtime))
    return found


def _names(directory: Path) -> list[str]:
    try:
        return [entry.name for entry in os.scandir(directory)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _size_of(mark_path: Path, build: Path) -> int:
    try:
        return int(mark_path.read_text())
    except ValueError:
        # Cut short when written (a killed process): counted again.
        return tree_size(build)


def evict(root: Path, key: str) -> None:
    """Take the fetched build `key` out of the log root: moved out whole
    first (a view sees all of it or nothing), unmarked, then removed."""
    parts = check_key(key).split("/")
    going = root / FETCHING / secrets.token_hex(8)
    going.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):  # evicted meanwhile by another process
        os.rename(root.joinpath(*parts), going)
    _mark_path(root, key).unlink(missing_ok=True)
    shutil.rmtree(going, ignore_errors=True)
    for empty in (root / FETCHED / parts[0], root / parts[0]):
        try:
            empty.rmdir()
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                raise
