"""SOA serials of successive signed versions: each format's own value,
always ahead of the one published before (RFC 1982), wrapping at 2^32."""

from __future__ import annotations

import calendar

from zonekeys.serial import is_ahead, next_serial

NOON = calendar.timegm((2026, 12, 7, 12, 0, 0))


def test_unixtime_serials_follow_the_clock_and_never_go_back() -> None:
    assert next_serial("unixtime", None, 1, NOON) == NOON
    assert next_serial("unixtime", NOON - 10, 1, NOON) == NOON
    # Signed twice in one second, or the clock stepped back: one more.
    assert next_serial("unixtime", NOON, 1, NOON) == NOON + 1
    assert next_serial("unixtime", NOON + 50, 1, NOON) == NOON + 51


def test_date_serials_count_within_a_day() -> None:
    assert next_serial("date", None, 1, NOON) == 2026120700
    assert next_serial("date", 2026120700, 1, NOON) == 2026120701
    assert next_serial("date", 2026120699, 1, NOON) == 2026120700
    assert next_serial("date", 2026120612, 1, NOON) == 2026120700


def test_incremental_serials_take_the_files_own_when_ahead_else_count_on() -> None:
    assert next_serial("incremental", None, 41, NOON) == 41
    assert next_serial("incremental", 41, 41, NOON) == 42
    assert next_serial("incremental", 42, 100, NOON) == 100
    # Wrapping past 2^32 - 1 is still ahead (RFC 1982).
    assert next_serial("incremental", 0xFFFFFFFF, 5, NOON) == 5
    assert next_serial("incremental", 0xFFFFFFFF, 0xFFFFFFFF, NOON) == 0
    assert is_ahead(0, 0xFFFFFFFF)
    assert not is_ahead(0xFFFFFFFF, 0)
