"""Which provider or job stands out by its failure rate, and which failures
were likely false negatives: what a person used to spot by eye."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from trunkgate.history.records import BuildRecord
from trunkgate.web.flakiness import false_negatives, rates, stands_out

START = datetime(2026, 12, 1, tzinfo=UTC)


def build(
    n: int,
    result: str,
    provider: str = "east",
    *,
    job: str = "unit",
    change: int | None = None,
    minutes: int | None = None,
) -> BuildRecord:
    return BuildRecord(
        id=f"b{n}",
        job=job,
        project="acme/app",
        change=change if change is not None else n,
        patchset=1,
        pipeline="check",
        result=result,
        node_provider=provider,
        log_path=None,
        started=START + timedelta(minutes=minutes if minutes is not None else n),
        ended=None,
        buildset=f"s{n}",
    )


def test_a_failure_passed_later_on_the_same_patchset_is_a_likely_false_negative() -> None:
    builds = [
        build(1, "FAILURE", change=7, minutes=1),
        build(2, "SUCCESS", change=7, minutes=5),  # the retrigger passed
        build(3, "FAILURE", change=8, minutes=2),
        build(4, "FAILURE", change=8, minutes=6),  # failed again: a real failure
        build(5, "SUCCESS", change=9, minutes=1),
        build(6, "FAILURE", change=9, minutes=3),  # passed before, not after
    ]
    assert false_negatives(builds) == {"b1"}


def test_a_provider_failing_far_more_often_than_the_others_is_flagged() -> None:
    builds = [build(n, "SUCCESS", "east") for n in range(40)]
    builds += [build(100 + n, "FAILURE" if n < 2 else "SUCCESS", "west") for n in range(40)]
    builds += [build(200 + n, "NODE_FAILURE" if n < 14 else "SUCCESS", "north") for n in range(40)]
    found = {(r.scope, r.name): r for r in rates(builds)}
    north = found[("provider", "north")]
    assert north.flagged
    assert north.failures == 14
    assert round(north.others_rate, 3) == round(2 / 80, 3)
    assert not found[("provider", "east")].flagged
    assert not found[("provider", "west")].flagged
    assert next(r.name for r in rates(builds) if r.scope == "provider") == "north"  # first


def test_few_builds_or_a_small_difference_flag_nothing() -> None:
    assert not stands_out(3, 5, 0, 100)  # too few builds of its own
    assert not stands_out(6, 100, 4, 100)  # 6% against 4%: within the margin
    assert stands_out(30, 100, 5, 100)
    assert not stands_out(14, 40, 0, 5)  # too few builds to compare with


def test_canceled_and_conflicting_builds_say_nothing_of_a_provider() -> None:
    builds = [build(n, "CANCELED", "east") for n in range(30)]
    builds += [build(100 + n, "MERGE_CONFLICT", "east") for n in range(30)]
    builds += [build(200, "SUCCESS", "east")]
    [east] = [r for r in rates(builds) if r.scope == "provider"]
    assert east.builds == 1
    assert east.failures == 0
