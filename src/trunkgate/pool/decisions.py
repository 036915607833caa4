"""What a launcher does next, as pure functions of the pool's records:
which request to serve, how to fill it, when to launch for min-ready.
No store, no clock, no driver."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from trunkgate.pool.records import Node, NodeRequest
from trunkgate.pool.states import AVAILABLE, COMING, USES_CAPACITY, RequestState


@dataclass(frozen=True)
class ProviderView:
    """What a launcher's decisions need to know of its provider."""

    name: str
    labels: frozenset[str]
    max_servers: int


@dataclass(frozen=True)
class Decline:
    reason: str


@dataclass(frozen=True)
class Wait:
    """Not now: the provider lacks free capacity for what is missing."""

    needed: int
    free: int


@dataclass(frozen=True)
class Defer:
    """Leave it: another provider can fill it from ready nodes, at once."""

    provider: str


@dataclass(frozen=True)
class Fill:
    """Give these ready nodes and launch nodes of these labels."""

    allocate: tuple[str, ...]
    launch: tuple[str, ...]


Plan = Decline | Defer | Wait | Fill

# How long a request waits for a provider with ready nodes before any other
# provider launches for it (that provider's launcher may be down).
DEFER_LIMIT = 2.0


def used_capacity(nodes: Iterable[Node], provider: str) -> int:
    return sum(1 for n in nodes if n.provider == provider and n.state in USES_CAPACITY)


def requests_to_serve(requests: Iterable[NodeRequest], provider: str) -> list[NodeRequest]:
    """Open requests this provider has not declined, by priority then age."""
    waiting = [
        r for r in requests if r.state == RequestState.REQUESTED and provider not in r.declined_by
    ]
    return sorted(waiting, key=lambda r: (r.priority, r.created, r.id))


def plan_request(
    request: NodeRequest, provider: ProviderView, nodes: Sequence[Node], *, now: float | None = None
) -> Plan:
    """Fill from this provider's ready nodes first, launching only what is missing;
    while the request is young, leave it to a provider that has every node ready."""
    missing_labels = sorted(set(request.labels) - provider.labels)
    if missing_labels:
        return Decline(f"provider {provider.name} offers no label {', '.join(missing_labels)}")
    if len(request.labels) > provider.max_servers:
        return Decline(
            f"request needs {len(request.labels)} nodes, more than provider "
            f"{provider.name}'s max-servers {provider.max_servers}"
        )
    ready = sorted(
        (
            n
            for n in nodes
            if n.provider == provider.name and n.state in AVAILABLE and n.request is None
        ),
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
    if launch and now is not None and now - request.created < DEFER_LIMIT:
        other = _provider_with_all_ready(request, provider.name, nodes)
        if other is not None:
            return Defer(other)
    free = provider.max_servers - used_capacity(nodes, provider.name)
    if len(launch) > free:
        return Wait(needed=len(launch), free=free)
    return Fill(tuple(allocate), tuple(launch))


def _provider_with_all_ready(
    request: NodeRequest, exclude: str, nodes: Sequence[Node]
) -> str | None:
    ready: dict[str, Counter[str]] = {}
    for node in nodes:
        if node.provider != exclude and node.state in AVAILABLE and node.request is None:
            ready.setdefault(node.provider, Counter())[node.label] += 1
    wanted = Counter(request.labels)
    for name, labels in sorted(ready.items()):
        if all(labels[label] >= count for label, count in wanted.items()):
            return name
    return None


def min_ready_launches(
    min_ready: dict[str, int], provider: ProviderView, nodes: Sequence[Node]
) -> list[str]:
    """Labels to launch one unallocated node of, to keep min-ready across providers."""
    coming = Counter(n.label for n in nodes if n.state in COMING and n.request is None)
    free = provider.max_servers - used_capacity(nodes, provider.name)
    launches: list[str] = []
    for label in sorted(min_ready):
        if label not in provider.labels:
            continue
        for _ in range(max(0, min_ready[label] - coming[label])):
            if len(launches) >= free:
                return launches
            launches.append(label)
    return launches


def every_provider_declined(
    request: NodeRequest, providers_by_label: dict[str, frozenset[str]]
) -> bool:
    """A request fails only when each provider offering all its labels declined it."""
    offering = [providers_by_label.get(label, frozenset()) for label in request.labels]
    could_serve = frozenset.intersection(*offering) if offering else frozenset()
    return could_serve <= set(request.declined_by)
