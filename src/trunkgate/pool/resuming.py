"""What becomes of a launch whose launcher stopped half-way, and what of a
node exists to delete: pure functions of its record (`launch_step` above
all), whether its launcher still works on it and what the provider lists.
No store, no driver, no clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from trunkgate.pool.driver import TAG_NODE, Instance
from trunkgate.pool.records import Node
from trunkgate.pool.states import LaunchStep, NodeState


@dataclass(frozen=True)
class CleanUp:
    """Delete what the record says the launch made, then the record, at once.

    Never carried on instead: that would save one boot at best, while the
    nodes of a request are handed over together by the launcher that planned
    them, which is gone; the request goes back and is planned again, and a
    min-ready node is launched again like any other."""

    reason: str


_MADE = {
    LaunchStep.RECORDED: "before it asked the provider for anything",
    LaunchStep.CREATING: "while the provider was creating it",
    LaunchStep.CREATED: "before it answered SSH",
    LaunchStep.READY: "before it was offered",
}


def resume_launch(node: Node, *, launcher_alive: bool) -> CleanUp | None:
    """What to do with a node whose launcher may be gone; None while that
    launcher works on it, or when the node is not being launched."""
    if node.state != NodeState.BUILDING or launcher_alive:
        return None
    return CleanUp(f"its launcher {node.launcher} stopped {_MADE[node.launch_step]}")


def searches_instances(node: Node) -> bool:
    """Whether finding what exists of the node takes a listing of the
    provider: it was asked to create the node and its answer never recorded."""
    return node.external_id is None and node.launch_step == LaunchStep.CREATING


def instances_of(node: Node, listed: Iterable[Instance]) -> list[str]:
    """The external ids of what exists of a node: the one its record names;
    when a create's answer was never recorded, every listed instance tagged
    or named for the node; nothing when the provider was never asked."""
    if node.external_id is not None:
        return [node.external_id]
    if not searches_instances(node):
        return []
    return sorted(
        i.external_id
        for i in listed
        if i.tags.get(TAG_NODE) == node.id or i.external_id in (node.id, node.name)
    )
