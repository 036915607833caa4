"""A console log read in pages of lines, for a browser: where each page
starts is found through a sparse index of line offsets (one every
INDEX_STEP lines), grown as the log grows, so the last page of a 200 MB log
costs as little as the first once the log has been indexed."""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field

#: Lines one page holds at most.
MOST_LINES = 5000
#: One offset is remembered per this many lines.
INDEX_STEP = 1000
#: Logs whose index is kept.
MOST_INDEXED = 64
_CHUNK = 1 << 20


@dataclass
class LineIndex:
    """Offsets of lines 1, 1 + STEP, 1 + 2*STEP, ... and how far it has read."""

    starts: list[int] = field(default_factory=lambda: [0])
    read_to: int = 0
    lines: int = 0  # complete lines up to read_to
    identity: tuple[int, int] = (0, 0)

    def grow(self, fd: int, size: int) -> None:
        while self.read_to < size:
            data = os.pread(fd, min(_CHUNK, size - self.read_to), self.read_to)
            if not data:
                break
            position = 0
            while (newline := data.find(b"\n", position)) >= 0:
                self.lines += 1
                position = newline + 1
                if self.lines % INDEX_STEP == 0:
                    self.starts.append(self.read_to + position)
            # Only whole lines are counted: the rest is read again next time.
            if position == 0 and len(data) == _CHUNK:
                position = len(data)  # a line longer than a chunk: counted when it ends
            self.read_to += position
            if position == 0:
                break


@dataclass(frozen=True)
class Page:
    first: int  # 1-based number of the first line
    lines: list[str]
    total: int  # complete lines in the log
    size: int  # bytes in the log now
    end: int  # byte offset after the log's last complete line: where a live stream goes on

    def as_dict(self) -> dict[str, object]:
        return {
            "first": self.first,
            "lines": self.lines,
            "total": self.total,
            "size": self.size,
            "end": self.end,
        }


class ConsolePages:
    """Pages of the console logs the web has been asked for."""

    def __init__(self) -> None:
        self._indexes: OrderedDict[str, LineIndex] = OrderedDict()

    def page(self, fd: int, key: str, first: int | None, count: int) -> Page:
        """Lines `first`.. (1-based) of the open log; None for the last page."""
        info = os.fstat(fd)
        index = self._index(key, (info.st_dev, info.st_ino))
        if info.st_size < index.read_to:
            index = self._fresh(key, (info.st_dev, info.st_ino))
        index.grow(fd, info.st_size)
        total = index.lines
        count = max(1, min(count, MOST_LINES))
        if first is None:
            first = max(1, total - count + 1)
        first = max(1, min(first, max(total, 1)))
        block = (first - 1) // INDEX_STEP
        offset = index.starts[block]
        skip = (first - 1) - block * INDEX_STEP
        lines: list[str] = []
        position = offset
        pending = b""
        while len(lines) < count and position < index.read_to:
            data = os.pread(fd, min(_CHUNK, index.read_to - position), position)
            if not data:
                break
            position += len(data)
            parts = (pending + data).split(b"\n")
            pending = parts.pop()
            for part in parts:
                if skip:
                    skip -= 1
                    continue
                lines.append(part.decode("utf-8", "replace"))
                if len(lines) == count:
                    break
        return Page(first, lines, total, info.st_size, index.read_to)

    def _index(self, key: str, identity: tuple[int, int]) -> LineIndex:
        index = self._indexes.get(key)
        if index is None or index.identity != identity:
            return self._fresh(key, identity)
        self._indexes.move_to_end(key)
        return index

    def _fresh(self, key: str, identity: tuple[int, int]) -> LineIndex:
        index = LineIndex(identity=identity)
        self._indexes[key] = index
        while len(self._indexes) > MOST_INDEXED:
            self._indexes.popitem(last=False)
        return index
