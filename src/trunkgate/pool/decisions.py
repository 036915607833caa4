"""What a launcher does next, as pure functions of the pool's records and
its peers' health: which request to serve, which provider should fill it
(working ones first, then the least loaded, in turn), when to launch for
min-ready, when to decline. No store, no clock (the time is passed in), no
driver."""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from trunkgate.pool.backoff import backing_off, quota_paused
from trunkgate.pool.records import Node, NodeRequest, ProviderStatus
from trunkgate.pool.states import AVAILABLE, COMING, USES_CAPACITY, NodeState, RequestState

Statuses = Mapping[str, ProviderStatus]


@dataclass(frozen=True)
class ProviderView:
    """What a launcher's decisions need to know of its provider."""

    name: str
    labels: frozenset[str]
    max_servers: int
    unbootable: frozenset[str] = frozenset()
    """Labels whose image has no build ready for this provider yet."""
    zone: str | None = None
    """Where its nodes are reachable from: executors of this zone only."""


@dataclass(frozen=True)
class Decline:
    reason: str


@dataclass(frozen=True)
class Wait:
    """Not now: the provider lacks free capacity for what is missing, or
    backs off and no other provider works."""

    needed: int
    free: int
    reason: str = ""


@dataclass(frozen=True)
class Later:
    """Not by this provider now, but nothing else waits for it: it cannot
    boot the request's labels yet (their image has no build for it)."""

    reason: str


@dataclass(frozen=True)
class Defer:
    """Leave it: another provider can fill it from ready nodes, at once."""

    provider: str


@dataclass(frozen=True)
class Fill:
    """Give these ready nodes and launch nodes of these labels."""

    allocate: tuple[str, ...]
    launch: tuple[str, ...]


Plan = Decline | Defer | Later | Wait | Fill

# How long a request waits for a provider with ready nodes before any other
# provider launches for it (that provider's launcher may be down).
DEFER_LIMIT = 2.0


def used_capacity(nodes: Iterable[Node], provider: str) -> int:
    return sum(1 for n in nodes if n.provider == provider and n.state in USES_CAPACITY)


def requests_to_serve(
    requests: Iterable[NodeRequest], provider: str, zone: str | None = None
) -> list[NodeRequest]:
    """Open requests of the provider's zone it has not declined, by priority
    then age. Another zone's requests are not its to decline: a launcher
    that knows only its own host's providers would fail them."""
    waiting = [
        r
        for r in requests
        if r.state == RequestState.REQUESTED and provider not in r.declined_by and r.zone == zone
    ]
    return sorted(waiting, key=lambda r: (r.priority, r.created, r.id))


def plan_request(
    request: NodeRequest,
    provider: ProviderView,
    nodes: Sequence[Node],
    *,
    now: float | None = None,
    peers: Sequence[ProviderView] = (),
    status: Statuses | None = None,
) -> Plan:
    """Fill from this provider's ready nodes first, launching only what is
    missing. A provider that backs off declines when another works, and
    waits otherwise; while the request is young, it is left to the provider
    that should fill it (`preferred_provider`). `peers` are the other
    providers whose launchers run."""
    if request.zone != provider.zone:
        return Decline(
            f"provider {provider.name} is in {_zone(provider.zone)}, "
            f"the request's executor in {_zone(request.zone)}"
        )
    missing_labels = sorted(set(request.labels) - provider.labels)
    if missing_labels:
        return Decline(f"provider {provider.name} offers no label {', '.join(missing_labels)}")
    if len(request.labels) > provider.max_servers:
        return Decline(
            f"request needs {len(request.labels)} nodes, more than provider "
            f"{provider.name}'s max-servers {provider.max_servers}"
        )
    status = status or {}
    mine = status.get(provider.name)
    allocate, launch = _split(request, provider.name, nodes)
    waiting = sorted(set(launch) & provider.unbootable)
    if waiting:
        return Later(
            f"no build of the image of label {', '.join(waiting)} is ready "
            f"for provider {provider.name} yet"
        )
    if launch and now is not None and backing_off(mine, now):
        assert mine is not None
        why = (
            f"provider {provider.name} backs off after {mine.launches.failures} failed "
            f"launch(es): {mine.launches.cause}"
        )
        if _working(request, [p for p in peers if p.name != provider.name], status, now):
            return Decline(why)
        return Wait(needed=len(launch), free=0, reason=why)
    if now is not None and now - request.created < DEFER_LIMIT:
        best = preferred_provider(request, [provider, *peers], nodes, status, now)
        if best is not None and best != provider.name:
            return Defer(best)
    used = used_capacity(nodes, provider.name)
    if launch and now is not None and quota_paused(mine, now, used):
        assert mine is not None
        return Wait(needed=len(launch), free=0, reason=f"provider full: {mine.quota_cause}")
    free = provider.max_servers - used
    if len(launch) > free:
        return Wait(needed=len(launch), free=free)
    return Fill(tuple(allocate), tuple(launch))


def _split(
    request: NodeRequest, provider: str, nodes: Sequence[Node]
) -> tuple[list[str], list[str]]:
    """The provider's ready nodes the request would get (oldest first), and
    the labels it would have to launch."""
    ready = sorted(
        (n for n in nodes if n.provider == provider and n.state in AVAILABLE and n.request is None),
        key=lambda n: (n.state_time, n.id),
    )
    allocate: list[str] = []
    launch: list[str] = []
    for label in request.labels:
        match = next((n for n in ready if n.label == label), None)
        if match is None:
            launch.append(label)
        else:
            ready.remove(match)
            allocate.append(match.id)
    return allocate, launch


def _zone(zone: str | None) -> str:
    return f"zone {zone}" if zone is not None else "no zone"


def _can_serve(request: NodeRequest, provider: ProviderView) -> bool:
    return (
        request.zone == provider.zone
        and set(request.labels) <= provider.labels
        and len(request.labels) <= provider.max_servers
        and provider.name not in request.declined_by
    )


def _working(
    request: NodeRequest, providers: Sequence[ProviderView], status: Statuses, now: float
) -> bool:
    """Could one of `providers` serve the request, its last launch a success?"""
    return any(_can_serve(request, p) and not failing(status.get(p.name), now) for p in providers)


def failing(status: ProviderStatus | None, now: float) -> bool:
    """Backing off, or its last launch failed and none has worked since."""
    return status is not None and (backing_off(status, now) or status.launches.failures > 0)


def load(nodes: Sequence[Node], provider: ProviderView) -> float:
    """The share of the provider's max-servers taken by nodes other than
    spare ready ones."""
    busy = sum(
        1
        for n in nodes
        if n.provider == provider.name
        and n.state in USES_CAPACITY
        and not (n.state in AVAILABLE and n.request is None)
    )
    return busy / max(provider.max_servers, 1)


def preferred_provider(
    request: NodeRequest,
    providers: Sequence[ProviderView],
    nodes: Sequence[Node],
    status: Statuses,
    now: float,
) -> str | None:
    """The provider that should fill the request: working before failing
    (backing off, then failed last), not paused for quota, with every node
    ready before launching, then the least loaded; ties are taken in turn by
    request, so light load is spread over the providers rather than piling
    on one."""

    def rank(p: ProviderView) -> tuple[bool, bool, bool, bool, float]:
        _, launch = _split(request, p.name, nodes)
        mine = status.get(p.name)
        return (
            bool(launch) and backing_off(mine, now),
            bool(launch) and failing(mine, now),
            bool(launch) and quota_paused(mine, now, used_capacity(nodes, p.name)),
            bool(launch),
            load(nodes, p),
        )

    candidates = sorted(
        {p.name: p for p in providers if _can_serve(request, p)}.values(), key=lambda p: p.name
    )
    if not candidates:
        return None
    best = min(rank(p) for p in candidates)
    tied = [p for p in candidates if rank(p) == best]
    turn = int(request.id) if request.id.isdigit() else zlib.crc32(request.id.encode())
    return tied[turn % len(tied)].name


def min_ready_launches(
    min_ready: dict[str, int],
    provider: ProviderView,
    nodes: Sequence[Node],
    *,
    now: float | None = None,
    peers: Sequence[ProviderView] = (),
    status: Statuses | None = None,
) -> list[str]:
    """Labels this provider should launch one unallocated node of, to keep
    min-ready in its zone (an executor takes nodes of its own zone only)
    across the zone's providers: each missing node goes to a provider of
    the zone offering its label that neither backs off nor is paused,
    working ones first, then the least loaded."""
    status = status or {}
    used = {p.name: used_capacity(nodes, p.name) for p in [provider, *peers]}

    def launching(p: ProviderView) -> bool:
        if now is None:
            return True
        mine = status.get(p.name)
        return not backing_off(mine, now) and not quota_paused(mine, now, used[p.name])

    if not launching(provider):
        return []
    zone = provider.zone
    providers = [
        provider,
        *(p for p in peers if p.name != provider.name and p.zone == zone and launching(p)),
    ]
    coming = Counter(
        n.label for n in nodes if n.state in COMING and n.request is None and n.zone == zone
    )
    launches: list[str] = []
    for label in sorted(min_ready):
        for _ in range(max(0, min_ready[label] - coming[label])):
            offering = [
                p
                for p in providers
                if label in p.labels
                and label not in p.unbootable
                and label not in _unbootable(status, p.name)
                and used[p.name] < p.max_servers
            ]
            if not offering:
                break
            chosen = min(
                offering,
                key=lambda p: (
                    failing(status.get(p.name), now or 0.0),
                    used[p.name] / max(p.max_servers, 1),
                    p.name,
                ),
            )
            used[chosen.name] += 1
            if chosen.name == provider.name:
                launches.append(label)
    return launches


def after_launch_failure(
    request: NodeRequest,
    provider: ProviderView,
    *,
    peers: Sequence[ProviderView],
    status: Statuses,
    now: float,
    launch_retries: int,
) -> Decline | None:
    """After a failed launch for the request (counted in `request.attempts`):
    decline when the provider has tried launch-retries times, or at once
    when another provider works; else None, to try again after the backoff."""
    cause = request.causes.get(provider.name, "launch failed")
    attempts = request.attempts.get(provider.name, 0)
    if attempts >= launch_retries:
        return Decline(f"{attempts} failed launch(es); last: {cause}")
    others = [p for p in peers if p.name != provider.name]
    if _working(request, others, status, now):
        return Decline(f"launch failed, another provider works: {cause}")
    return None


def failure_reason(request: NodeRequest) -> str:
    """Why a request every provider declined failed: each provider's cause."""
    causes = "; ".join(
        f"{name}: {request.causes.get(name, 'declined')}" for name in request.declined_by
    )
    return f"every provider declined: {causes}" if causes else "no provider offers its labels"


def _unbootable(status: Statuses, provider: str) -> list[str]:
    """What a provider's launcher says it cannot boot yet."""
    said = status.get(provider)
    return said.unbootable if said is not None else []


def every_provider_declined(
    request: NodeRequest, providers_by_label: dict[str, frozenset[str]]
) -> bool:
    """A request fails only when each provider offering all its labels declined it."""
    offering = [providers_by_label.get(label, frozenset()) for label in request.labels]
    could_serve = frozenset.intersection(*offering) if offering else frozenset()
    return could_serve <= set(request.declined_by)


#: Refills wait until the provider has handed out no node for this long...
REFILL_QUIET = 0.5
#: ...but never longer than this after they were first due.
REFILL_WAIT_MAX = 3.0


def refill_from(now: float, handed_out: float | None, due_since: float | None) -> float | None:
    """When min-ready launches may start: None for now, else the time.

    While a provider hands out ready nodes (a gate queue's builds starting,
    say), the nodes that replace them wait: on one host, booting them takes
    the cores the builds start on. They wait until the handing out pauses
    for REFILL_QUIET, and at most REFILL_WAIT_MAX after they were first due.
    """
    if handed_out is None or now - handed_out >= REFILL_QUIET:
        return None
    since = now if due_since is None else due_since
    if now - since >= REFILL_WAIT_MAX:
        return None
    return min(handed_out + REFILL_QUIET, since + REFILL_WAIT_MAX)


def on_withdrawn_builds(
    nodes: Iterable[Node], provider: str, withdrawn: set[tuple[str, str]]
) -> list[Node]:
    """The provider's ready, unclaimed nodes booted from an image build that
    is being deleted (`withdrawn`: image, build): they go, so no build runs
    on an image someone took back."""
    return [
        n
        for n in nodes
        if n.provider == provider
        and n.state == NodeState.READY
        and n.request is None
        and n.image_build is not None
        and (n.image, n.image_build) in withdrawn
    ]
