"""The launcher's choices, checked without a store, a driver or a clock."""

from __future__ import annotations

import pytest

from trunkgate.pool.decisions import (
    Decline,
    Defer,
    Fill,
    ProviderView,
    Wait,
    every_provider_declined,
    min_ready_launches,
    plan_request,
    requests_to_serve,
)
from trunkgate.pool.records import Node, NodeRequest
from trunkgate.pool.states import InvalidTransition, NodeState, node_transition

A = ProviderView("a", frozenset({"small", "big"}), max_servers=3)


def node(
    id_: str,
    label: str = "small",
    state: NodeState = NodeState.READY,
    *,
    provider: str = "a",
    t: float = 0.0,
    request: str | None = None,
) -> Node:
    return Node(
        id=id_,
        provider=provider,
        label=label,
        image="host",
        created=0.0,
        state=state,
        state_time=t,
        request=request,
    )


def request(id_: str, *labels: str, priority: int = 100, created: float = 0.0) -> NodeRequest:
    return NodeRequest(id=id_, labels=list(labels), created=created, priority=priority)


def test_requests_are_served_by_priority_then_age_and_skip_declined() -> None:
    old_low = request("1", "small", priority=200, created=1)
    new_high = request("2", "small", priority=50, created=5)
    old_high = request("3", "small", priority=50, created=2)
    declined = request("4", "small", priority=0)
    declined.declined_by.append("a")
    order = requests_to_serve([old_low, new_high, old_high, declined], "a")
    assert [r.id for r in order] == ["3", "2", "1"]


def test_ready_nodes_are_used_first_and_only_the_rest_launched() -> None:
    nodes = [node("n1", t=5), node("n2", t=1), node("n3", "big", request="other")]
    roomy = ProviderView("a", A.labels, max_servers=4)
    plan = plan_request(request("r", "small", "big"), roomy, nodes)
    assert plan == Fill(allocate=("n2",), launch=("big",))


def test_a_label_the_provider_lacks_is_declined() -> None:
    plan = plan_request(request("r", "gpu"), A, [])
    assert isinstance(plan, Decline)
    assert "offers no label gpu" in plan.reason


def test_a_request_larger_than_max_servers_is_declined() -> None:
    plan = plan_request(request("r", "small", "small", "small", "small"), A, [])
    assert isinstance(plan, Decline)
    assert "max-servers 3" in plan.reason


def test_no_launch_beyond_max_servers_counting_every_state() -> None:
    nodes = [
        node("b", state=NodeState.BUILDING),
        node("h", state=NodeState.HOLD),
        node("d", state=NodeState.DELETING),
        node("other-provider", provider="b", state=NodeState.BUILDING),
    ]
    assert plan_request(request("r", "small"), A, nodes) == Wait(needed=1, free=0)
    assert plan_request(request("r", "small"), A, nodes[:2]) == Fill((), ("small",))


def test_min_ready_counts_coming_nodes_across_providers_and_free_slots() -> None:
    nodes = [
        node("x", provider="b", state=NodeState.BUILDING),
        node("y", state=NodeState.READY, request="taken"),
    ]
    assert min_ready_launches({"small": 3, "big": 1, "gpu": 2}, A, nodes) == [
        "big",
        "small",
    ]
    full = [node(str(i), state=NodeState.IN_USE) for i in range(3)]
    assert min_ready_launches({"small": 1}, A, full) == []


def test_transitions_outside_the_table_raise() -> None:
    assert node_transition(NodeState.BUILDING, NodeState.READY) == NodeState.READY
    with pytest.raises(InvalidTransition, match="a node cannot go from deleting to ready"):
        node_transition(NodeState.DELETING, NodeState.READY)


def test_a_young_request_is_left_to_a_provider_with_every_node_ready() -> None:
    east_ready = [node("e1", provider="east"), node("e2", "big", provider="east")]
    young = request("r", "small", "big", created=100.0)
    roomy = ProviderView("a", A.labels, max_servers=4)
    assert plan_request(young, roomy, east_ready, now=101.0) == Defer("east")
    # After a while any provider launches: the other's launcher may be down.
    assert plan_request(young, roomy, east_ready, now=103.0) == Fill((), ("small", "big"))
    # Partly ready elsewhere is no reason to wait.
    assert plan_request(young, roomy, east_ready[:1], now=101.0) == Fill((), ("small", "big"))


def test_a_request_fails_only_when_every_provider_offering_its_labels_declined() -> None:
    offered = {"small": frozenset({"a", "b", "c"}), "big": frozenset({"a", "b"})}
    wanted = request("r", "small", "big")
    wanted.declined_by = ["a"]
    assert not every_provider_declined(wanted, offered)
    wanted.declined_by = ["a", "b"]  # c lacks "big", so it could never serve it
    assert every_provider_declined(wanted, offered)
    nobody = request("n", "gpu")
    assert every_provider_declined(nobody, offered)
