"""The pool's stored records: nodes, node requests and autohold requests.
Plain dataclasses; the store serialises them."""

from __future__ import annotations

from dataclasses import dataclass, field

from trunkgate.pool.states import NodeState, RequestState


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
    request: str | None = None
    build: str | None = None
    hold_until: float | None = None
    hold_reason: str | None = None
    held_by_autohold: str | None = None


@dataclass
class NodeRequest:
    id: str
    labels: list[str]
    created: float
    requestor: str = ""
    priority: int = 100
    state: RequestState = RequestState.REQUESTED
    provider: str | None = None
    nodes: list[str] = field(default_factory=list)
    declined_by: list[str] = field(default_factory=list)
    reason: str | None = None
    fulfilled: float | None = None
    build: str | None = None


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
