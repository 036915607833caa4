"""How a provider, or one host of it, backs off after failed launches:
exponentially, capped, reset on success; and how a provider pauses after
saying it is full. Pure functions of a `ProviderStatus` and the time, which
is passed in; the launcher stores the result."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from trunkgate.pool.records import Backoff, ProviderStatus

# The first failure waits BASE seconds, each next one twice as long, up to CAP.
BASE = 1.0
CAP = 60.0
# Longest pause after the provider said it is full; it ends sooner when one
# of its nodes goes.
QUOTA_PAUSE = 30.0


def delay(failures: int) -> float:
    """Seconds to wait after `failures` failed launches in a row."""
    if failures <= 0:
        return 0.0
    return float(min(CAP, BASE * 2 ** min(failures - 1, 32)))


def failed(previous: Backoff, now: float, cause: str) -> Backoff:
    failures = previous.failures + 1
    return Backoff(failures, now + delay(failures), cause)


def launch_failed(
    status: ProviderStatus, now: float, cause: str, host: str | None = None
) -> ProviderStatus:
    """The provider, and the host the launch was on when known, back off.
    A host quiet for CAP past its backoff is forgotten: a driver whose every
    node is a new instance would otherwise pile up entries."""
    hosts = {name: b for name, b in status.hosts.items() if b.until + CAP > now}
    if host is not None:
        hosts[host] = failed(hosts.get(host, Backoff()), now, cause)
    return dataclasses.replace(status, launches=failed(status.launches, now, cause), hosts=hosts)


def launch_succeeded(status: ProviderStatus, host: str | None = None) -> ProviderStatus:
    """A success resets the provider's backoff and its host's, and ends a quota pause."""
    hosts = {name: b for name, b in status.hosts.items() if name != host}
    return dataclasses.replace(
        status, launches=Backoff(), hosts=hosts, quota_until=0.0, quota_used=0, quota_cause=""
    )


def quota_exceeded(status: ProviderStatus, now: float, used: int, cause: str) -> ProviderStatus:
    """Pause launches, not fail them: until a node of the provider goes or
    QUOTA_PAUSE passes, or sooner if a host comes back from its backoff."""
    until = now + QUOTA_PAUSE
    backing_off = [b.until for b in status.hosts.values() if b.until > now]
    if backing_off:
        until = min(until, *backing_off)
    return dataclasses.replace(status, quota_until=until, quota_used=used, quota_cause=cause)


def backing_off(status: ProviderStatus | None, now: float) -> bool:
    return status is not None and status.launches.until > now


def quota_paused(status: ProviderStatus | None, now: float, used: int) -> bool:
    return status is not None and status.quota_until > now and used >= status.quota_used


def hosts_backing_off(status: ProviderStatus, now: float) -> frozenset[str]:
    return frozenset(name for name, b in status.hosts.items() if b.until > now)


def next_change(status: ProviderStatus, now: float) -> float | None:
    """When the next backoff or pause of this provider ends, if one runs."""
    ends = [
        t
        for t in (
            status.launches.until,
            status.quota_until,
            *(b.until for b in status.hosts.values()),
        )
        if t > now
    ]
    return min(ends) if ends else None


def describe(status: ProviderStatus, now: float, labels: Iterable[str] | None = None) -> list[str]:
    """Why the provider holds back launches now, one line a reason, for
    people; of the labels it cannot boot yet, only those of `labels` (all
    when None)."""
    lines = []
    if status.launches.until > now:
        lines.append(
            f"provider {status.provider} backing off for {status.launches.until - now:.0f}s "
            f"after {_failures(status.launches.failures)}; last: {status.launches.cause}"
        )
    for name, host in sorted(status.hosts.items()):
        if host.until > now:
            lines.append(
                f"provider {status.provider} host {name} backing off for "
                f"{host.until - now:.0f}s after {_failures(host.failures)}; last: {host.cause}"
            )
    if status.quota_until > now:
        lines.append(
            f"provider {status.provider} paused for at most {status.quota_until - now:.0f}s: "
            f"full ({status.quota_cause})"
        )
    wanted = set(status.unbootable) if labels is None else set(labels)
    for label in sorted(set(status.unbootable) & wanted):
        lines.append(
            f"provider {status.provider} launches no {label} node yet: its image has no "
            "build ready for it (trunkgate images)"
        )
    return lines


def _failures(count: int) -> str:
    return f"{count} failed launch{'' if count == 1 else 'es'} in a row"
