"""The pool's stored records: nodes, node requests, autohold requests and
what each launcher says of its provider's health. Plain dataclasses; the
store serialises them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from trunkgate.pool.states import LaunchStep, NodeState, RequestState, request_transition


@dataclass
class Node:
    id: str
    provider: str
    label: str
    image: str
    created: float
    state: NodeState = NodeState.BUILDING
    state_time: float = 0.0
    image_build: str | None = None
    name: str = ""
    external_id: str | None = None
    address: str | None = None
    port: int = 22
    username: str = "root"
    host_key: str | None = None
    launch_attempt: int = 1
    launcher: str | None = None
    #: Its provider's zone: min-ready is kept in each zone.
    zone: str | None = None
    #: How far its launch got (see `LaunchStep`). A record stored before
    #: steps were kept may have asked the provider: `creating`, the worst case.
    launch_step: LaunchStep = LaunchStep.CREATING
    request: str | None = None
    #: The launcher that keeps it for `request` (claimed or launched for
    #: it): only that one, or whoever finds the request gone or put back,
    #: lets it go.
    filler: str | None = None
    build: str | None = None
    hold_until: float | None = None
    hold_reason: str | None = None
    held_by_autohold: str | None = None
    #: Why its reset failed, for a reusable machine kept out of the pool.
    reset_failure: str | None = None


@dataclass
class NodeRequest:
    id: str
    labels: list[str]
    created: float
    requestor: str = ""
    priority: int = 100
    state: RequestState = RequestState.REQUESTED
    provider: str | None = None
    #: The launcher filling it, while pending: only it may say how that ended.
    filler: str | None = None
    nodes: list[str] = field(default_factory=list)
    declined_by: list[str] = field(default_factory=list)
    reason: str | None = None
    fulfilled: float | None = None
    build: str | None = None
    attempts: dict[str, int] = field(default_factory=dict)
    """Failed launches for this request, by provider."""
    causes: dict[str, str] = field(default_factory=dict)
    """By provider, why its last launch for this request failed or why it declined."""
    zone: str | None = None
    """The zone of the executor that asked: only a provider of the same zone
    (both none included) serves it, since only its nodes are reachable."""

    def reopen(self) -> None:
        """Open again for any launcher: no provider, filler or nodes."""
        self.state = request_transition(self.state, RequestState.REQUESTED)
        self.provider = None
        self.filler = None
        self.nodes = []


@dataclass
class Autohold:
    id: str
    project: str
    job: str
    reason: str
    created: float
    change: int | None = None
    count: int = 1
    held: int = 0
    hold_for: float | None = None
    nodes: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    """OpenSSH public keys of the people let into the nodes this holds."""


@dataclass
class Backoff:
    """Failed launches in a row of a provider, or of one host of it, and until
    when it launches nothing; `cause` is what the last failure said."""

    failures: int = 0
    until: float = 0.0
    cause: str = ""


@dataclass
class ProviderStatus:
    """A launcher's account of its provider: its backoff, its hosts' (by
    external id), a pause after the provider said it was full, which
    ends at `quota_until` or once it holds fewer than `quota_used` nodes,
    and the labels it cannot boot yet."""

    provider: str
    launches: Backoff = field(default_factory=Backoff)
    hosts: dict[str, Backoff] = field(default_factory=dict)
    quota_until: float = 0.0
    quota_used: int = 0
    quota_cause: str = ""
    unbootable: list[str] = field(default_factory=list)
    """Labels whose image has no build ready for the provider yet."""


def unclaimed_from(request_id: str, filler: str | None = None) -> Callable[[Node], None]:
    """A change that puts a node back in the pool if that request still
    holds it (and, given a filler, for that launcher): a request put back
    meanwhile may have let it go, and another launcher kept it again, for
    the same request or another."""

    def unclaim(node: Node) -> None:
        # Taken into use meanwhile (by a requester that still lives), it is
        # no longer kept: it belongs to its build now.
        if node.state not in (NodeState.BUILDING, NodeState.READY):
            return
        if node.request == request_id and filler in (None, node.filler):
            node.request = None
            node.filler = None

    return unclaim
