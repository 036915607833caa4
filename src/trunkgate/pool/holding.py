"""Which nodes of a finished build are held, for how long, and which older
holds are released to keep within max-held-nodes. Pure: records in, plan out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from trunkgate.config.types import parse_duration
from trunkgate.pool.records import Autohold, Node
from trunkgate.pool.states import NodeState

# A hold keeps a node from the pool: a year is longer than anyone looks at
# one, and so is a request for more holds than this.
LONGEST_HOLD = 365 * 86400.0
MOST_HOLDS = 100
# A reason is shown in every listing of the nodes it holds.
LONGEST_REASON = 500


def hold_duration(text: str) -> float:
    """A hold's length from a person (`2h`, `1d`); ValueError says what is wrong."""
    seconds = parse_duration(text)
    if not 0 < seconds <= LONGEST_HOLD:
        raise ValueError(f"a hold lasts more than 0s and at most 365d, not {text}")
    return seconds


def check_hold_reason(reason: str) -> None:
    """A hold's reason is shown with every node it holds: said, and short."""
    if not reason.strip():
        raise ValueError("say why the nodes are held (it is shown with them)")
    if len(reason) > LONGEST_REASON:
        raise ValueError(f"at most {LONGEST_REASON} characters, not {len(reason)}")


@dataclass(frozen=True)
class FinishedBuild:
    id: str
    project: str
    job: str
    change: int | None
    failed: bool


@dataclass(frozen=True)
class HoldPolicy:
    hold_failed_for: float
    max_held_nodes: int


@dataclass
class HoldPlan:
    hold: list[tuple[str, float | None, str]] = field(default_factory=list)
    """(node id, hold until or None for no expiry, reason)"""
    release: list[str] = field(default_factory=list)
    """Held nodes to delete, oldest first, to make room."""
    autohold: str | None = None
    """The autohold request that claimed the nodes."""


def matching_autohold(build: FinishedBuild, autoholds: Iterable[Autohold]) -> Autohold | None:
    for request in sorted(autoholds, key=lambda a: a.created):
        if (
            build.failed
            and request.held < request.count
            and request.project == build.project
            and request.job == build.job
            and (request.change is None or request.change == build.change)
        ):
            return request
    return None


def plan_holds(
    build: FinishedBuild,
    build_nodes: Sequence[Node],
    *,
    held: Iterable[Node],
    autoholds: Iterable[Autohold],
    policy: HoldPolicy,
    now: float,
) -> HoldPlan:
    plan = HoldPlan()
    if not build.failed or not build_nodes:
        return plan
    request = matching_autohold(build, autoholds)
    if request is not None:
        until = now + request.hold_for if request.hold_for is not None else None
        reason = f"autohold {request.id}: {request.reason}"
        plan.hold = [(n.id, until, reason) for n in build_nodes]
        plan.autohold = request.id
        return plan
    if policy.max_held_nodes <= 0 or policy.hold_failed_for <= 0:
        return plan
    reason = f"build {build.id} of {build.job} failed"
    until = now + policy.hold_failed_for
    by_provider: dict[str, list[Node]] = {}
    for node in held:
        if node.state == NodeState.HOLD and node.held_by_autohold is None:
            by_provider.setdefault(node.provider, []).append(node)
    for node in build_nodes:
        if node.state != NodeState.IN_USE:
            continue
        holds = sorted(by_provider.setdefault(node.provider, []), key=lambda n: n.state_time)
        while len(holds) >= policy.max_held_nodes:
            plan.release.append(holds.pop(0).id)
        holds.append(node)
        by_provider[node.provider] = holds
        plan.hold.append((node.id, until, reason))
    return plan
