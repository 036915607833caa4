"""The SOA serial of each newly signed version, by the zone's serial format
(RFC 1982 arithmetic: always ahead of the one published before). Pure."""

from __future__ import annotations

import time

MODULUS = 1 << 32
HALF = 1 << 31


def is_ahead(new: int, old: int) -> bool:
    """RFC 1982: whether `new` follows `old`."""
    return new != old and (new - old) % MODULUS < HALF


def next_serial(style: str, previous: int | None, unsigned: int, now: int) -> int:
    """The serial for a version signed at `now`, after `previous` (the
    last one published; None for the first) of a zone whose unsigned file
    says `unsigned`: the format's wish (the time; the date and a counter;
    the file's own serial), or one more than `previous` when that wish is
    not ahead of it."""
    if style == "unixtime":
        wanted = now % MODULUS
    elif style == "date":
        wanted = int(time.strftime("%Y%m%d", time.gmtime(now))) * 100
    else:
        wanted = unsigned
    if previous is None or is_ahead(wanted, previous):
        return wanted
    return (previous + 1) % MODULUS
