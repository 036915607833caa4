"""A console log read in pages of lines, for a browser: where each page
starts is found through a sparse index of line offsets (one every
INDEX_STEP lines), grown as the log grows, so the last page of a 200 MB log
costs as little as the first once the log has been indexed. A page holds at
most MOST_PAGE_BYTES, and a line longer than LONGEST_LINE is cut (the raw
log has it whole). Pages are read in a worker thread: one at a time."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

#: Lines one page holds at most, and bytes.
MOST_LINES = 5000
MOST_PAGE_BYTES = 2 << 20
#: Bytes of one line shown; the rest is said to be cut.
LONGEST_LINE = 8 << 10
#: One offset is remembered per this many lines.
INDEX_STEP = 1000
#: Logs whose index is kept.
MOST_INDEXED = 64
_CHUNK = 1 << 20


@dataclass
class LineIndex:
    """Offsets of lines 1, 1 + STEP, 1 + 2*STEP, ...; `read_to` is the end
    of the last complete line, `scanned` how far the log was read."""

    starts: list[int] = field(default_factory=lambda: [0])
    read_to: int = 0
    scanned: int = 0
    lines: int = 0  # complete lines up to read_to
    identity: tuple[int, int] = (0, 0)

    def grow(self, fd: int, size: int) -> None:
        while self.scanned < size:
            base = self.scanned
            data = os.pread(fd, min(_CHUNK, size - base), base)
            if not data:
                break
            position = 0
            while (newline := data.find(b"\n", position)) >= 0:
                self.lines += 1
                position = newline + 1
                if self.lines % INDEX_STEP == 0:
                    self.starts.append(base + position)
            self.scanned = base + len(data)
            if position:
                self.read_to = base + position


@dataclass(frozen=True)
class Page:
    first: int  # 1-based number of the first line
    lines: list[str]
    total: int  # complete lines in the log
    size: int  # bytes in the log now
    end: int  # after the log's last complete line: where a live stream goes on

    def as_dict(self) -> dict[str, object]:
        return {
            "first": self.first,
            "lines": self.lines,
            "total": self.total,
            "size": self.size,
            "end": self.end,
        }


def shown(line: bytes, length: int) -> str:
    """A line as a page shows it; `length` is its whole length in the log."""
    if length <= LONGEST_LINE:
        return line.decode("utf-8", "replace")
    kept = line[:LONGEST_LINE].decode("utf-8", "ignore")
    return f"{kept} [line cut: {length} bytes; the raw log has it whole]"


class ConsolePages:
    """Pages of the console logs the web has been asked for."""

    def __init__(self) -> None:
        self._indexes: OrderedDict[str, LineIndex] = OrderedDict()
        self._lock = threading.Lock()

    def page(self, fd: int, key: str, first: int | None, count: int) -> Page:
        """Lines `first`.. (1-based) of the open log; None for the last page."""
        with self._lock:
            info = os.fstat(fd)
            index = self._index(key, (info.st_dev, info.st_ino))
            if info.st_size < index.scanned:
                index = self._fresh(key, (info.st_dev, info.st_ino))
            index.grow(fd, info.st_size)
            total, end, starts = index.lines, index.read_to, list(index.starts)
        count = max(1, min(count, MOST_LINES))
        if first is None:
            first = max(1, total - count + 1)
        first = max(1, min(first, max(total, 1)))
        block = (first - 1) // INDEX_STEP
        skip = (first - 1) - block * INDEX_STEP
        lines = _lines(fd, starts[block], end, skip, count)
        return Page(first, lines, total, info.st_size, end)

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


def _lines(fd: int, offset: int, end: int, skip: int, count: int) -> list[str]:
    """`count` lines after the first `skip` lines from `offset` (up to
    `end`); at most MOST_PAGE_BYTES of them."""
    lines: list[str] = []
    taken = 0
    position = offset
    # The start of a line that goes on past the chunk, kept only as far as
    # it is shown, and its whole length so far.
    pending, length = b"", 0
    while len(lines) < count and position < end and taken < MOST_PAGE_BYTES:
        data = os.pread(fd, min(_CHUNK, end - position), position)
        if not data:
            break
        position += len(data)
        start = 0
        while (newline := data.find(b"\n", start)) >= 0:
            line = (pending + data[start:newline])[: LONGEST_LINE + 4]
            length += newline - start
            start = newline + 1
            whole, pending, length = length, b"", 0
            if skip:
                skip -= 1
                continue
            text = shown(line, whole)
            lines.append(text)
            taken += len(text)
            if len(lines) == count or taken >= MOST_PAGE_BYTES:
                break
        else:
            pending = (pending + data[start:])[: LONGEST_LINE + 4]
            length += len(data) - start
    return lines
