"""What the reaper deletes, as a pure function of the pool's records, what the
providers report, and the time. Leaked instances are deleted only when seen
on two passes in a row."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from trunkgate.pool.records import Node, NodeRequest
from trunkgate.pool.states import NodeState


@dataclass(frozen=True)
class ReapPolicy:
    boot_timeout: Mapping[str, float]
    """Per provider: how long a node may stay building (all retries included)."""
    max_ready_age: Mapping[str, float | None]
    """Per label."""
    delete_timeout: float = 600.0


@dataclass(frozen=True)
class Instance:
    """Something a provider holds with our tags."""

    provider: str
    external_id: str
    node_id: str | None


@dataclass
class ReapPlan:
    delete: list[tuple[str, str]] = field(default_factory=list)
    """(node id, why)"""
    leaked: list[tuple[Instance, str]] = field(default_factory=list)
    """Instances to delete that no record claims, with why."""
    suspects: set[tuple[str, str]] = field(default_factory=set)
    """(provider, external id) seen leaked this pass, for the next."""


def plan_reap(
    nodes: Iterable[Node],
    instances: Iterable[Instance],
    *,
    now: float,
    policy: ReapPolicy,
    live_builds: set[str],
    suspects: set[tuple[str, str]],
    live_launchers: set[str] | None = None,
) -> ReapPlan:
    """`live_launchers`, when given, lets building nodes of a dead launcher go at once."""
    plan = ReapPlan()
    nodes = list(nodes)
    for node in nodes:
        reason = _why_delete(node, now, policy, live_builds)
        if (
            not reason
            and live_launchers is not None
            and node.state == NodeState.BUILDING
            and node.launcher not in live_launchers
        ):
            reason = f"its launcher {node.launcher} is gone"
        if reason:
            plan.delete.append((node.id, reason))
    known_ids = {n.id for n in nodes}
    known_external = {(n.provider, n.external_id) for n in nodes if n.external_id}
    for instance in instances:
        key = (instance.provider, instance.external_id)
        if key in known_external or (instance.node_id and instance.node_id in known_ids):
            continue
        if key in suspects:
            plan.leaked.append((instance, "no record claims it (seen on two passes)"))
        else:
            plan.suspects.add(key)
    return plan


def abandoned_requests(requests: Iterable[NodeRequest], live_builds: set[str]) -> list[str]:
    """Ids of the requests whose requester is gone: a build asks for nodes only
    after its claim is stored, and the claim goes with the build's session,
    so a request of a build without a claim will never be taken. Read the
    requests before the claims, or a new build's request looks abandoned."""
    return sorted(r.id for r in requests if r.build is not None and r.build not in live_builds)


def orphan_keys(key_ids: Iterable[str], nodes: Iterable[Node]) -> list[str]:
    """Node ids with a stored client key but no node record: secrets to delete."""
    known = {n.id for n in nodes}
    return sorted(k for k in key_ids if k not in known)


def _why_delete(node: Node, now: float, policy: ReapPolicy, live_builds: set[str]) -> str:
    age = now - node.state_time
    if node.state == NodeState.HOLD and node.hold_until is not None and node.hold_until <= now:
        return "hold expired"
    if node.state == NodeState.BUILDING and age > policy.boot_timeout.get(node.provider, 600.0):
        return f"building for {age:.0f}s"
    if node.state == NodeState.DELETING and age > policy.delete_timeout:
        return f"deleting for {age:.0f}s"
    if node.state == NodeState.IN_USE and node.build is not None and node.build not in live_builds:
        return f"build {node.build} no longer exists"
    if node.state == NodeState.FAILED:
        return "launch failed"
    max_age = policy.max_ready_age.get(node.label)
    if (
        node.state == NodeState.READY
        and node.request is None
        and max_age is not None
        and age > max_age
    ):
        return f"ready for {age:.0f}s, past max-ready-age"
    return ""
