"""Failure rates per node provider and per job over a window of finished
builds, and which of them stand out: the patterns a person would otherwise
have to spot by eye in a long list of failed builds. Pure.

A failure that a later build of the same job on the same patchset passed is
counted as a likely false negative: the code did not change, the verdict did.
A provider (or job) stands out when its failure rate is above the rate of
all the others together by at least MARGIN and by at least Z_LIMIT standard
errors (a two-proportion z-test), with at least MOST_FEW builds of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from trunkgate.history.records import BuildRecord

#: Results that count as failures: the change's or the infrastructure's.
FAILED = frozenset({"FAILURE", "TIMED_OUT", "NODE_FAILURE", "ERROR"})
#: Results that count at all (a cancel or a conflict says nothing of a node).
COUNTED = FAILED | {"SUCCESS"}
MOST_FEW = 10
MARGIN = 0.10
Z_LIMIT = 3.0


@dataclass(frozen=True)
class Rate:
    """One provider's or job's builds in the window."""

    scope: str  # "provider" or "job"
    name: str
    builds: int
    failures: int
    false_negatives: int
    others_rate: float
    flagged: bool

    @property
    def rate(self) -> float:
        return self.failures / self.builds if self.builds else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "scope": self.scope,
            "name": self.name,
            "builds": self.builds,
            "failures": self.failures,
            "failure_rate": round(self.rate, 4),
            "likely_false_negatives": self.false_negatives,
            "others_failure_rate": round(self.others_rate, 4),
            "flagged": self.flagged,
        }


def false_negatives(builds: Iterable[BuildRecord]) -> set[str]:
    """Ids of the failed builds that a later build of the same job on the
    same patchset passed."""
    ordered = sorted(builds, key=lambda b: b.started)
    passed_after: set[tuple[str, int | None, int | None, str]] = set()
    found: set[str] = set()
    for build in reversed(ordered):
        key = (build.project, build.change, build.patchset, build.job)
        if build.change is None:
            continue
        if build.result == "SUCCESS":
            passed_after.add(key)
        elif build.result in FAILED and key in passed_after:
            found.add(build.id)
    return found


def stands_out(failures: int, builds: int, other_failures: int, other_builds: int) -> bool:
    if builds < MOST_FEW or other_builds < MOST_FEW:
        return False
    rate, others = failures / builds, other_failures / other_builds
    if rate - others < MARGIN:
        return False
    pooled = (failures + other_failures) / (builds + other_builds)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / builds + 1 / other_builds))
    return spread == 0 or (rate - others) / spread >= Z_LIMIT


def rates(builds: Iterable[BuildRecord]) -> list[Rate]:
    """Every provider's and job's rate, flagged where it stands out; the
    flagged first, then by rate."""
    counted = [b for b in builds if b.result in COUNTED]
    flaky = false_negatives(counted)
    found: list[Rate] = []
    keys: dict[str, Callable[[BuildRecord], str | None]] = {
        "provider": lambda b: b.node_provider,
        "job": lambda b: f"{b.project}: {b.job}",
    }
    for scope, key in keys.items():
        tally: dict[str, list[int]] = {}
        for build in counted:
            name = key(build)
            if name is None:
                continue
            row = tally.setdefault(name, [0, 0, 0])
            row[0] += 1
            row[1] += build.result in FAILED
            row[2] += build.id in flaky
        all_builds = sum(r[0] for r in tally.values())
        all_failures = sum(r[1] for r in tally.values())
        for name, (count, failures, flakes) in tally.items():
            other_builds, other_failures = all_builds - count, all_failures - failures
            others = other_failures / other_builds if other_builds else 0.0
            flagged = stands_out(failures, count, other_failures, other_builds)
            found.append(Rate(scope, name, count, failures, flakes, others, flagged))
    return sorted(found, key=lambda r: (r.scope, not r.flagged, -r.rate, r.name))
