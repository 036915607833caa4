"""The contract between the pool framework and a provider driver: what a node
to create looks like, what a driver reports back, the exceptions it may raise,
and the `Driver` protocol itself. Readiness checks, retries, quota and state
writes belong to the framework, not here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = [
    "TAG_NODE",
    "TAG_PROVIDER",
    "Driver",
    "DriverError",
    "DriverUnavailable",
    "GroupsNodes",
    "Instance",
    "LaunchFailed",
    "NodeSpec",
    "NodeUnreachable",
    "QuotaExceeded",
]

#: The tags the framework puts in every `NodeSpec`: what was made for which
#: node record, found again by them after a crash.
TAG_NODE = "trunkgate-node"
TAG_PROVIDER = "trunkgate-provider"


class DriverError(Exception):
    """Base of every error a driver raises; the framework maps it to a state.

    `external_id` names the instance the error is about when the driver
    knows it (a static host, say), so the framework can back off from it.
    """

    def __init__(self, message: str, *, external_id: str | None = None) -> None:
        super().__init__(message)
        self.external_id = external_id


class DriverUnavailable(DriverError):
    """The driver cannot work on this host at all (e.g. it needs root)."""


class QuotaExceeded(DriverError):
    """The provider has no room for another node now; pause, do not fail."""


class LaunchFailed(DriverError):
    """Creating one node failed; the framework may delete it and try again."""


class NodeUnreachable(DriverError):
    """A node exists but cannot be reached or controlled."""


@dataclass(frozen=True)
class NodeSpec:
    """One node the framework asks a driver to create.

    `image_path` is a built image's directory (`trunkgate.images.ondisk`);
    None means the host's own system (the `host` image). `client_key` is
    the public half, in OpenSSH form, of a key made for this node alone, to
    be authorized for `root` on it.
    `tags` are written onto everything the driver creates, so the reaper can
    find it again. `avoid` names instances (external ids) that failed lately:
    a driver choosing among existing hosts takes none of them.
    """

    node_id: str
    name: str
    provider: str
    label: str
    image: str
    client_key: str
    image_path: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    avoid: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Instance:
    """What exists in a provider for one node, as the driver reports it.

    `host_key` is the node's SSH host public key (OpenSSH form), recorded at
    creation so the framework can verify it on connect; it is empty for a
    leftover whose key is unknown.
    """

    external_id: str
    address: str
    port: int
    username: str
    host_key: str
    tags: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Driver(Protocol):
    """A provider driver: create a node, delete one, list what exists."""

    async def create(self, node: NodeSpec) -> Instance:
        """Create the node and return at once, without waiting for SSH.

        Anything created is tagged or named so that a crash halfway leaves
        nothing `list_instances` cannot find. Raises `LaunchFailed` or
        `QuotaExceeded`.
        """
        ...

    async def delete(self, external_id: str) -> None:
        """Delete everything of one instance; deleting what is gone is fine."""
        ...

    async def list_instances(self) -> list[Instance]:
        """Everything in the provider that carries our tags, half-built included."""
        ...


@runtime_checkable
class ResetsMachines(Protocol):
    """A driver whose `delete` of some instances is a reset of a reusable
    machine (kept, made pristine, offered again)."""

    def resets(self, external_id: str) -> bool: ...


def resets_machine(driver: object, external_id: str) -> bool:
    return isinstance(driver, ResetsMachines) and driver.resets(external_id)


@runtime_checkable
class GroupsNodes(Protocol):
    """A driver that keeps nodes apart unless told they serve one request."""

    async def connect(self, external_ids: Sequence[str]) -> None:
        """Let exactly these nodes reach each other, before their request is fulfilled.

        Each node starts alone; nodes grouped before and not listed now lose
        their links to the listed ones. Raises `DriverError`.
        """
        ...
