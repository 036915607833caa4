"""Letting go of a node kept for a request (`unclaimed_from`): only the
request that keeps it, only its own launcher when one is named, and never a
node already taken into use, whatever the list it was read from said."""

from __future__ import annotations

import dataclasses

from trunkgate.pool.records import Node, unclaimed_from
from trunkgate.pool.states import NodeState

KEPT = Node(
    id="7",
    provider="east",
    label="small",
    image="host",
    created=0.0,
    state=NodeState.READY,
    request="r1",
    filler="one:1:east",
)


def after(node: Node, request: str, filler: str | None = None) -> tuple[str | None, str | None]:
    changed = dataclasses.replace(node)
    unclaimed_from(request, filler)(changed)
    return changed.request, changed.filler


def test_the_request_that_keeps_a_ready_node_lets_it_go() -> None:
    assert after(KEPT, "r1") == (None, None)
    assert after(KEPT, "r1", "one:1:east") == (None, None)


def test_another_request_or_launcher_leaves_it_kept() -> None:
    assert after(KEPT, "r2") == ("r1", "one:1:east")
    assert after(KEPT, "r1", "two:2:east") == ("r1", "one:1:east")


def test_a_building_node_is_let_go_as_a_ready_one_is() -> None:
    building = dataclasses.replace(KEPT, state=NodeState.BUILDING)
    assert after(building, "r1", "one:1:east") == (None, None)


def test_a_node_in_use_stays_with_its_build() -> None:
    for state in (NodeState.IN_USE, NodeState.USED, NodeState.HOLD):
        node = dataclasses.replace(KEPT, state=state, build="b1")
        assert after(node, "r1") == ("r1", "one:1:east")
