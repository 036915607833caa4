"""Cron times for timer triggers: five fields (minute, hour, day of month,
month, day of week) with `*`, numbers, lists, ranges and steps. Pure."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_LOOKAHEAD_MINUTES = 60 * 24 * 8


class CronError(ValueError):
    pass


def _field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            start, end = low, high
        elif "-" in body:
            first, last = body.split("-", 1)
            start, end = int(first), int(last)
        else:
            start = end = int(body)
        if step < 1 or start < low or end > high or start > end:
            raise CronError(f"'{part}' is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Cron:
        fields = text.split()
        if len(fields) != 5:
            raise CronError(f"'{text}' is not a cron time: write five fields, like '0 3 * * *'")
        try:
            parsed = [_field(f, low, high) for f, (low, high) in zip(fields, _RANGES, strict=True)]
        except ValueError as exc:
            raise CronError(f"'{text}' is not a cron time: {exc}") from None
        return cls(*parsed)

    def matches(self, moment: datetime.datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7  # cron counts from Sunday = 0
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.day in self.days
            and moment.month in self.months
            and weekday in self.weekdays
        )

    def fired_between(self, after: float, until: float) -> bool:
        """Whether a minute the time names lies in (after, until], UTC seconds."""
        moment = datetime.datetime.fromtimestamp(after, tz=datetime.UTC).replace(
            second=0, microsecond=0
        ) + datetime.timedelta(minutes=1)
        end = datetime.datetime.fromtimestamp(until, tz=datetime.UTC)
        for _ in range(_LOOKAHEAD_MINUTES):
            if moment > end:
                return False
            if self.matches(moment):
                return True
            moment += datetime.timedelta(minutes=1)
        return True  # asleep for more than a week: it surely fired
