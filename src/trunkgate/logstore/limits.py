"""How much of a build's directory a log store moves at once: the bounds, the
tally that counts against them, and a copy that stops past its size. A
build that wrote a million files or a runaway log is refused with a message,
never moved whole into a bucket or onto a web server's disk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from .errors import TooLarge

#: The most files one build's directory may hold to be published or fetched.
MAX_OBJECTS = 10_000
#: The most bytes they may hold together.
MAX_BYTES = 2 << 30
#: The deepest a file may lie below the build's directory.
MAX_DEPTH = 64
#: The bytes read or written at a time.
CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """The bounds of one publish or fetch: files and their bytes together."""

    objects: int = MAX_OBJECTS
    size: int = MAX_BYTES


def _in_units(size: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            return f"{size / (1 << shift):g} {unit}"
    return f"{size} bytes"


class Tally:
    """Files and bytes counted against `limits` as a build's directory is
    walked or listed: `add` raises TooLarge at the first file past them, so a
    listing of a million objects stops at the ten thousand and first."""

    def __init__(self, limits: Limits, what: str) -> None:
        self.limits = limits
        self.what = what
        self.objects = 0
        self.size = 0

    def add(self, size: int) -> None:
        self.objects += 1
        self.size += size
        if self.objects > self.limits.objects:
            raise TooLarge(
                f"{self.what} holds more than {self.limits.objects} files, "
                "the most a log store takes from one build"
            )
        if self.size > self.limits.size:
            raise TooLarge(
                f"{self.what} holds more than {_in_units(self.limits.size)}, "
                "the most a log store takes from one build"
            )


def copy_at_most(read: Callable[[int], bytes], target: BinaryIO, size: int, what: str) -> None:
    """Copy what `read` gives into `target`, which is `size` bytes by the
    listing: TooLarge when it gives more (it grew since it was listed)."""
    copied = 0
    while chunk := read(CHUNK):
        copied += len(chunk)
        if copied > size:
            raise TooLarge(f"{what} grew past the {size} bytes it held when listed")
        target.write(chunk)
