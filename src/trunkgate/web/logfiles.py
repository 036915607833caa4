"""Files under the log root, as the web serves them: a path from a request
is taken only when it stays inside the root and passes through no link, so
a build that left a link to /etc in its artifacts shows nothing of /etc.
Directories are listed the same way, links shown as links, never followed."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: Bytes of a file shown inline as text; a larger one is only downloaded.
INLINE_LIMIT = 1 << 20
#: Entries one artifacts listing shows.
MOST_ENTRIES = 5000
#: Extensions shown inline as text whatever their first bytes say.
TEXT_SUFFIXES = frozenset(
    {".txt", ".log", ".json", ".yaml", ".yml", ".conf", ".ini", ".py", ".sh", ".xml", ".html"}
)


class NotServed(Exception):
    """The path names nothing the web may show: outside the root, through a
    link, or missing. Always answered 404, whichever it was."""


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
    empty or NUL parts are refused."""
    if "\x00" in text or text.startswith("/"):
        raise NotServed(text)
    parts = tuple(p for p in PurePosixPath(text).parts if p not in ("", "."))
    if any(p == ".." for p in parts):
        raise NotServed(text)
    return parts


def open_under(root: Path, parts: tuple[str, ...]) -> int:
    """A read-only descriptor of root/parts, opened one component at a time
    with O_NOFOLLOW: no link on the way is followed, whoever made it."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(root, flags | os.O_DIRECTORY)
    except OSError:
        raise NotServed(str(root)) from None
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            try:
                next_fd = os.open(part, flags if last else flags | os.O_DIRECTORY, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT, errno.EACCES):
                    raise NotServed("/".join(parts)) from None
                raise
            os.close(fd)
            fd = next_fd
        return fd
    except BaseException:
        os.close(fd)
        raise


def is_under(root: Path, path: Path) -> tuple[str, ...]:
    """The parts of `path` below `root` (both absolute); NotServed when it is
    not below it. A record's path is checked so before it is read."""
    try:
        relative = Path(os.path.normpath(path)).relative_to(os.path.normpath(root))
    except ValueError:
        raise NotServed(str(path)) from None
    return relative_parts(str(relative)) if str(relative) != "." else ()


def read_file(root: Path, parts: tuple[str, ...], *, offset: int = 0, limit: int) -> bytes:
    """Up to `limit` bytes of a regular file under root, from `offset`."""
    fd = open_under(root, parts)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotServed("/".join(parts))
        return os.pread(fd, limit, offset)
    finally:
        os.close(fd)


def file_size(root: Path, parts: tuple[str, ...]) -> int:
    fd = open_under(root, parts)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotServed("/".join(parts))
        return info.st_size
    finally:
        os.close(fd)


def stream_file(root: Path, parts: tuple[str, ...], chunk: int = 1 << 16) -> Iterator[bytes]:
    """A regular file under root, in chunks: opened (and checked) before the
    first chunk is asked for, so a refusal comes before any answer starts."""
    fd = open_under(root, parts)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotServed("/".join(parts))

    def chunks() -> Iterator[bytes]:
        with os.fdopen(fd, "rb") as handle:
            while data := handle.read(chunk):
                yield data

    return chunks()


def list_tree(root: Path, parts: tuple[str, ...], *, most: int = MOST_ENTRIES) -> list[Entry]:
    """Every entry below root/parts, depth first, in name order, at most
    `most`; links are listed, not followed."""
    found: list[Entry] = []
    top = open_under(root, parts)

    def walk(fd: int, prefix: str) -> None:
        try:
            with os.scandir(fd) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if len(found) >= most:
                return
            path = f"{prefix}{entry.name}"
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                found.append(Entry(path, "link", 0))
            elif stat.S_ISDIR(info.st_mode):
                found.append(Entry(path, "directory", 0))
                try:
                    child = os.open(
                        entry.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY, dir_fd=fd
                    )
                except OSError:
                    continue
                try:
                    walk(child, f"{path}/")
                finally:
                    os.close(child)
            elif stat.S_ISREG(info.st_mode):
                found.append(Entry(path, "file", info.st_size))

    try:
        if not stat.S_ISDIR(os.fstat(top).st_mode):
            raise NotServed("/".join(parts))
        walk(top, "")
    finally:
        os.close(top)
    return found


def looks_like_text(name: str, head: bytes) -> bool:
    """Shown inline when its name says text or its first bytes decode as UTF-8
    without NULs."""
    if PurePosixPath(name).suffix.lower() in TEXT_SUFFIXES:
        return True
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        return exc.start >= len(head) - 3
    return True
