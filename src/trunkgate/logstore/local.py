"""A build's directory on this host's disk, read and written without ever
following a link: every directory below a base is opened one part at a
time with O_NOFOLLOW, so a link a build left (to /etc, to another build)
is neither uploaded nor written through. Only regular files are read and
written; links, pipes, sockets and devices are passed over.

Blocking calls: the store runs them in a thread.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import LogStoreError
from .limits import MAX_DEPTH, Tally

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a pipe put where a file was listed must not wait for a writer.
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
#: What the system says when a path goes through a link or a file, or is not there.
_NOT_A_PLACE = (errno.ELOOP, errno.ENOTDIR, errno.ENOENT, errno.EISDIR, errno.ENAMETOOLONG)
#: A file being written starts with this until it is whole.
PARTIAL = ".partial-"


class NoPlace(Exception):
    """The path goes through a link or a file, or is not there."""


@dataclass(frozen=True)
class LocalFile:
    """A regular file below a build's directory."""

    parts: tuple[str, ...]
    size: int

    @property
    def name(self) -> str:
        return "/".join(self.parts)


def _open_directory(base: Path, parts: tuple[str, ...]) -> int:
    """A descriptor of base/parts, no link followed below `base` (which may
    itself be reached through links: the site chose it)."""
    try:
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in _NOT_A_PLACE:
            raise NoPlace(str(base)) from None
        raise
    for part in parts:
        try:
            next_fd = os.open(part, _DIRECTORY, dir_fd=fd)
        except OSError as exc:
            if exc.errno in _NOT_A_PLACE:
                raise NoPlace(part) from None
            raise
        finally:
            os.close(fd)
        fd = next_fd
    return fd


def list_files(base: Path, parts: tuple[str, ...], tally: Tally) -> list[LocalFile]:
    """The regular files below base/parts, by name, each counted in `tally`
    (which stops the walk past its limits); none when it is not a directory."""
    try:
        fd = _open_directory(base, parts)
    except NoPlace:
        return []
    found: list[LocalFile] = []
    _walk(fd, (), found, tally)
    return found


def _walk(fd: int, below: tuple[str, ...], found: list[LocalFile], tally: Tally) -> None:
    try:
        directories: list[str] = []
        with os.scandir(fd) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.is_dir(follow_symlinks=False):
                    directories.append(entry.name)
                elif entry.is_file(follow_symlinks=False):
                    size = entry.stat(follow_symlinks=False).st_size
                    tally.add(size)
                    found.append(LocalFile((*below, entry.name), size))
        for name in directories:
            if len(below) >= MAX_DEPTH:
                raise LogStoreError(
                    f"{tally.what} has directories more than {MAX_DEPTH} deep "
                    f"({'/'.join((*below, name))})"
                )
            try:
                inner = os.open(name, _DIRECTORY, dir_fd=fd)
            except OSError as exc:
                if exc.errno in _NOT_A_PLACE:
                    continue  # replaced by a link or removed since listed
                raise
            _walk(inner, (*below, name), found, tally)
    finally:
        os.close(fd)


def open_file(base: Path, parts: tuple[str, ...]) -> BinaryIO:
    """base/parts opened for reading; NoPlace when it is not a regular file
    reached without links."""
    fd = _open_directory(base, parts[:-1])
    try:
        try:
            file_fd = os.open(parts[-1], _READ, dir_fd=fd)
        except OSError as exc:
            if exc.errno in (*_NOT_A_PLACE, errno.ENXIO):
                raise NoPlace(parts[-1]) from None
            raise
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(file_fd).st_mode):
        os.close(file_fd)
        raise NoPlace(parts[-1])
    return os.fdopen(file_fd, "rb")


def write_file(base: Path, parts: tuple[str, ...], fill: Callable[[BinaryIO], None]) -> None:
    """Write base/parts with what `fill` writes, making its directories.
    The file appears whole or not at all (written under a partial name, then
    renamed), so a reader never sees half of it. NoPlace when a part of the
    way is a link or a file, the file's place is a directory, or a part is
    no file's name ('..', '.', empty)."""
    if not parts or any(part in ("", ".", "..") or "/" in part or "\0" in part for part in parts):
        raise NoPlace("/".join(parts))
    base.mkdir(parents=True, exist_ok=True)
    fd = _open_directory(base, ())
    try:
        for part in parts[:-1]:
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
            except FileExistsError:
                pass
            except OSError as exc:
                if exc.errno in _NOT_A_PLACE:
                    raise NoPlace(part) from None
                raise
            try:
                inner = os.open(part, _DIRECTORY, dir_fd=fd)
            except OSError as exc:
                if exc.errno in _NOT_A_PLACE:
                    raise NoPlace(part) from None
                raise
            os.close(fd)
            fd = inner
        partial = PARTIAL + secrets.token_hex(8)
        with os.fdopen(os.open(partial, _CREATE, 0o644, dir_fd=fd), "wb") as out:
            try:
                fill(out)
            except BaseException:
                os.unlink(partial, dir_fd=fd)
                raise
        try:
            os.replace(partial, parts[-1], src_dir_fd=fd, dst_dir_fd=fd)
        except OSError as exc:
            os.unlink(partial, dir_fd=fd)
            if exc.errno in (*_NOT_A_PLACE, errno.ENOTEMPTY, errno.EEXIST):
                raise NoPlace(parts[-1]) from None
            raise
    finally:
        os.close(fd)


def remove_tree(base: Path, parts: tuple[str, ...]) -> None:
    """Remove base/parts and all below it, no link followed; nothing when
    it is not there."""
    try:
        fd = _open_directory(base, parts[:-1])
    except NoPlace:
        return
    try:
        info = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(parts[-1], dir_fd=fd)
        else:
            os.unlink(parts[-1], dir_fd=fd)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


def same_directory(one: Path, other: Path) -> bool:
    """Whether both paths are one existing directory."""
    try:
        return one.is_dir() and os.path.samefile(one, other)
    except OSError:
        return False
