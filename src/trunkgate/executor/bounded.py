"""Reading a stream a node fills (its output through ssh or rsync) to its
end, keeping only a bounded first part: the node decides how much it
sends, the executor how much it keeps."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol, TypeVar

__all__ = ["read_bounded"]

T = TypeVar("T", str, bytes)
T_co = TypeVar("T_co", str, bytes, covariant=True)

_CHUNK = 1 << 16


class Readable(Protocol[T_co]):
    def read(self, n: int = ..., /) -> Awaitable[T_co]: ...


async def read_bounded(stream: Readable[T], limit: int) -> tuple[list[T], int]:
    """Reads `stream` to its end: the chunks of its first `limit` characters
    or bytes, and how many more were read and dropped."""
    kept: list[T] = []
    size = dropped = 0
    while chunk := await stream.read(_CHUNK):
        room = max(limit - size, 0)
        if room:
            kept.append(chunk[:room])
        size += min(len(chunk), room)
        dropped += len(chunk) - min(len(chunk), room)
    return kept, dropped
