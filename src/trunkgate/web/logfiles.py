"""Files under the log root, as the web serves them: a path from a request
is taken only when it stays inside the root and passes through no link, so
a build that left a link to /etc in its artifacts shows nothing of /etc.
Only regular files are read (a named pipe would wait for a writer);
directories are listed the same way, links shown as links, never followed."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from trunkgate.logstore.content import looks_like_text

__all__ = ["looks_like_text"]

#: Entries one artifacts listing shows, and how deep it goes.
MOST_ENTRIES = 5000
DEEPEST = 32
_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_REFUSED = (errno.ELOOP, errno.ENOTDIR, errno.ENOENT, errno.EACCES, errno.ENXIO, errno.EISDIR)


class NotServed(Exception):
    """The path names nothing the web may show: outside the root, through a
    link, not a regular file, or missing. Always answered 404."""


@dataclass(frozen=True)
class Entry:
    """One entry of an artifacts listing, its path relative to the build's directory."""

    path: str
    kind: str  # "file", "directory" or "link"
    size: int

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "kind": self.kind, "size": self.size}


def relative_parts(text: str) -> tuple[str, ...]:
    """The parts of a relative path from a request; `..`, absolute paths and
    NUL are refused."""
    if "\x00" in text or text.startswith("/"):
        raise NotServed(text)
    parts = tuple(p for p in PurePosixPath(text).parts if p not in ("", "."))
    if any(p == ".." for p in parts):
        raise NotServed(text)
    return parts


def is_under(root: Path, path: Path) -> tuple[str, ...]:
    """The parts of `path` below `root` (both absolute); NotServed when it is
    not below it. A record's path is checked so before it is read."""
    try:
        relative = Path(os.path.normpath(path)).relative_to(os.path.normpath(root))
    except ValueError:
        raise NotServed(str(path)) from None
    return relative_parts(str(relative)) if str(relative) != "." else ()


def _open_directory(root: Path, parts: tuple[str, ...]) -> int:
    """A descriptor of the directory root/parts, opened one component at a
    time with O_NOFOLLOW: no link on the way is followed, whoever made it."""
    try:
        fd = os.open(root, _FLAGS | os.O_DIRECTORY)
    except OSError:
        raise NotServed(str(root)) from None
    for part in parts:
        try:
            next_fd = os.open(part, _FLAGS | os.O_DIRECTORY, dir_fd=fd)
        except OSError as exc:
            os.close(fd)
            if exc.errno in _REFUSED:
                raise NotServed(part) from None
            raise
        os.close(fd)
        fd = next_fd
    return fd


class OpenFile:
    """A regular file under the log root, open for reading; close it (or use
    it as a context manager)."""

    def __init__(self, root: Path, parts: tuple[str, ...]) -> None:
        if not parts:
            raise NotServed("the log root itself")
        directory = _open_directory(root, parts[:-1])
        try:
            # O_NONBLOCK: opening a named pipe must not wait for a writer.
            self.fd = os.open(parts[-1], _FLAGS | os.O_NONBLOCK, dir_fd=directory)
        except OSError as exc:
            if exc.errno in _REFUSED:
                raise NotServed(parts[-1]) from None
            raise
        finally:
            os.close(directory)
        info = os.fstat(self.fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(self.fd)
            raise NotServed(parts[-1])
        self.size = info.st_size
        self.name = parts[-1]

    def read(self, limit: int, offset: int = 0) -> bytes:
        return os.pread(self.fd, limit, offset)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> OpenFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def read_file(root: Path, parts: tuple[str, ...], *, offset: int = 0, limit: int) -> bytes:
    """Up to `limit` bytes of a regular file under root, from `offset`."""
    with OpenFile(root, parts) as opened:
        return opened.read(limit, offset)


def list_tree(root: Path, parts: tuple[str, ...], *, most: int = MOST_ENTRIES) -> list[Entry]:
    """Every entry below root/parts, depth first, in name order, at most
    `most` and DEEPEST levels down; links are listed, not followed."""
    found: list[Entry] = []
    # (descriptor, prefix, entries left to look at, in reverse order)
    stack: list[tuple[int, str, list[os.DirEntry[str]]]] = []

    def enter(fd: int, prefix: str) -> None:
        try:
            with os.scandir(fd) as listing:
                entries = sorted(listing, key=lambda e: e.name, reverse=True)
        except OSError:
            entries = []
        stack.append((fd, prefix, entries))

    enter(_open_directory(root, parts), "")
    try:
        while stack and len(found) < most:
            fd, prefix, entries = stack[-1]
            if not entries:
                os.close(fd)
                stack.pop()
                continue
            entry = entries.pop()
            path = f"{prefix}{entry.name}"
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                found.append(Entry(path, "link", 0))
            elif stat.S_ISREG(info.st_mode):
                found.append(Entry(path, "file", info.st_size))
            elif stat.S_ISDIR(info.st_mode):
                found.append(Entry(path, "directory", 0))
                if len(stack) <= DEEPEST:
                    with contextlib.suppress(OSError):
                        enter(os.open(entry.name, _FLAGS | os.O_DIRECTORY, dir_fd=fd), f"{path}/")
    finally:
        for fd, _, _ in stack:
            os.close(fd)
    return found


async def chunks(opened: OpenFile, size: int = 1 << 16) -> AsyncIterator[bytes]:
    """The file's bytes in chunks, from its start (reads of a local file's
    page cache: on the loop, never left running in a thread once the
    answer is given up)."""
    offset = 0
    while data := opened.read(size, offset):
        offset += len(data)
        yield data
