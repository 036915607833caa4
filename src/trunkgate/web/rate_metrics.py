"""Failure rates per provider and per job in /metrics, with a gauge that is
1 for each one that stands out (see `flakiness`), so an alert can fire on
a flaky provider before people learn to distrust the gate."""

from __future__ import annotations

from prometheus_client import Gauge

FAILURE_RATE = Gauge(
    "trunkgate_failure_rate",
    "Failed builds / counted builds in the window, per provider or job",
    ["scope", "name"],
)
STANDS_OUT = Gauge(
    "trunkgate_failure_rate_outlier",
    "1 when the failure rate stands out from the others' (per provider or job)",
    ["scope", "name"],
)
FALSE_NEGATIVES = Gauge(
    "trunkgate_likely_false_negatives",
    "Failures a later build of the same job on the same patchset passed",
    ["scope", "name"],
)


def publish(rows: list[dict[str, object]]) -> None:
    for gauge in (FAILURE_RATE, STANDS_OUT, FALSE_NEGATIVES):
        gauge.clear()
    for row in rows:
        labels = (str(row["scope"]), str(row["name"]))
        FAILURE_RATE.labels(*labels).set(float(str(row["failure_rate"])))
        STANDS_OUT.labels(*labels).set(1.0 if row["flagged"] else 0.0)
        FALSE_NEGATIVES.labels(*labels).set(float(str(row["likely_false_negatives"])))
