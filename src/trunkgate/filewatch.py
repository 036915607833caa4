"""Waking when a file grows, without polling: one inotify instance per
process that follows consoles (the web, an executor serving its live
consoles; the kernel allows few per user), a watch per file that someone
follows, each follower woken by its own event."""

from __future__ import annotations

import asyncio
import ctypes
import os
import struct
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
IN_IGNORED = 0x00008000
_EVENT = struct.Struct("iIII")


class Followed:
    """One follower of a file: `woken` is set by each write or close,
    `closed` once a writer has closed it."""

    def __init__(self) -> None:
        self.woken = asyncio.Event()
        self.closed = False


class FileWatcher:
    """`async with watcher.follow(path) as followed:` then
    `await followed.woken.wait()` (and `.clear()`) after each write to the
    file or its close."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd: int | None = None
        self._by_wd: dict[int, set[Followed]] = defaultdict(set)

    def _start(self) -> int:
        if self._fd is None:
            fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
            if fd < 0:
                error = ctypes.get_errno()
                raise OSError(error, f"inotify_init1: {os.strerror(error)}")
            asyncio.get_running_loop().add_reader(fd, self._read)
            self._fd = fd
        return self._fd

    def _read(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 1 << 16)
        except BlockingIOError:
            return
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size + length
            for followed in self._by_wd.get(wd, ()):
                followed.closed |= bool(mask & IN_CLOSE_WRITE)
                followed.woken.set()

    @asynccontextmanager
    async def follow(self, path: Path) -> AsyncIterator[Followed]:
        fd = self._start()
        wd = self._libc.inotify_add_watch(fd, os.fsencode(path), IN_MODIFY | IN_CLOSE_WRITE)
        if wd < 0:
            error = ctypes.get_errno()
            raise OSError(error, f"inotify_add_watch {path}: {os.strerror(error)}")
        followed = Followed()
        self._by_wd[wd].add(followed)
        try:
            yield followed
        finally:
            followers = self._by_wd[wd]
            followers.discard(followed)
            if not followers:
                del self._by_wd[wd]
                self._libc.inotify_rm_watch(fd, wd)

    def close(self) -> None:
        if self._fd is not None:
            asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None
