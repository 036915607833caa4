"""Timer trigger times, read and matched like cron's."""

from __future__ import annotations

import datetime

import pytest

from trunkgate.cron import Cron, CronError


def at(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp()


def test_a_daily_time_fires_once_a_day() -> None:
    cron = Cron.parse("0 3 * * *")
    assert cron.fired_between(at("2026-11-24T02:59:30"), at("2026-11-24T03:00:10"))
    assert not cron.fired_between(at("2026-11-24T03:00:10"), at("2026-11-24T03:59:00"))
    assert cron.fired_between(at("2026-11-24T03:00:10"), at("2026-11-25T03:00:00"))


def test_lists_ranges_steps_and_weekdays() -> None:
    cron = Cron.parse("*/15 9-17 * * 1-5")
    monday = datetime.datetime(2026, 11, 23, 9, 45, tzinfo=datetime.UTC)
    assert cron.matches(monday)
    assert not cron.matches(monday.replace(minute=50))
    assert not cron.matches(monday.replace(day=22))  # a Sunday
    assert Cron.parse("0 0 1,15 * *").matches(monday.replace(day=15, hour=0, minute=0))


@pytest.mark.parametrize("text", ["0 3 * *", "61 * * * *", "* * * * 9", "a b c d e"])
def test_bad_times_are_refused_with_the_reason(text: str) -> None:
    with pytest.raises(CronError, match="is not a cron time"):
        Cron.parse(text)
