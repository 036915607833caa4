"""The launcher's choices, checked without a store, a driver or a clock."""

from __future__ import annotations

import dataclasses

import pytest

from trunkgate.pool import backoff
from trunkgate.pool.decisions import (
    REFILL_QUIET,
    REFILL_WAIT_MAX,
    Decline,
    Defer,
    Fill,
    Later,
    ProviderView,
    Wait,
    after_launch_failure,
    every_provider_declined,
    failure_reason,
    min_ready_launches,
    on_withdrawn_builds,
    plan_request,
    refill_from,
    requests_to_serve,
)
from trunkgate.pool.records import Node, NodeRequest, ProviderStatus
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
    east = [ProviderView("east", A.labels, max_servers=4)]
    assert plan_request(young, roomy, east_ready, now=101.0, peers=east) == Defer("east")
    # After a while any provider launches: the other's launcher may be down.
    assert plan_request(young, roomy, east_ready, now=103.0, peers=east) == Fill(
        (), ("small", "big")
    )
    # Nor does it wait for a provider whose launcher does not run.
    assert plan_request(young, roomy, east_ready, now=101.0) == Fill((), ("small", "big"))


def test_a_request_fails_only_when_every_provider_offering_its_labels_declined() -> None:
    offered = {"small": frozenset({"a", "b", "c"}), "big": frozenset({"a", "b"})}
    wanted = request("r", "small", "big")
    wanted.declined_by = ["a"]
    assert not every_provider_declined(wanted, offered)
    wanted.declined_by = ["a", "b"]  # c lacks "big", so it could never serve it
    assert every_provider_declined(wanted, offered)
    nobody = request("n", "gpu")
    assert every_provider_declined(nobody, offered)


def test_light_load_is_spread_over_providers_in_turn() -> None:
    west = ProviderView("west", frozenset({"small"}), max_servers=4)
    east = ProviderView("east", frozenset({"small"}), max_servers=4)
    spare = [node("e1", provider="east"), node("w1", provider="west")]
    takers = []
    for request_id in ("0000000001", "0000000002", "0000000003", "0000000004"):
        wanted = request(request_id, "small", created=10.0)
        plans = {
            p.name: plan_request(
                wanted, p, spare, now=10.5, peers=[o for o in (east, west) if o != p]
            )
            for p in (east, west)
        }
        (taker,) = [name for name, plan in plans.items() if isinstance(plan, Fill)]
        assert plans[{"east": "west", "west": "east"}[taker]] == Defer(taker)
        takers.append(taker)
    assert sorted(takers) == ["east", "east", "west", "west"]
    # The less loaded provider is preferred over taking turns.
    busy_east = [*spare, node("e2", state=NodeState.IN_USE, provider="east")]
    assert plan_request(request("0000000005", "small"), east, busy_east, now=0.5, peers=[west]) == (
        Defer("west")
    )


def test_min_ready_is_kept_in_each_zone() -> None:
    east = ProviderView("east", frozenset({"small"}), max_servers=4, zone="a")
    west = ProviderView("west", frozenset({"small"}), max_servers=4, zone="b")
    ready_in_b = [dataclasses.replace(node(f"w{i}", provider="west"), zone="b") for i in range(3)]
    # Zone b's ready nodes are no use to zone a's executors.
    assert min_ready_launches({"small": 2}, east, ready_in_b, peers=[west]) == ["small"] * 2
    assert min_ready_launches({"small": 2}, west, ready_in_b, peers=[east]) == []
    # Nor does zone a's provider count for zone b's missing nodes.
    assert min_ready_launches({"small": 4}, west, ready_in_b, peers=[east]) == ["small"]
    # Without zones, one count across providers, as before.
    assert min_ready_launches({"small": 3}, A, [node("b1", provider="b")]) == ["small"] * 2


def test_min_ready_launches_go_to_the_least_loaded_working_provider() -> None:
    east = ProviderView("east", frozenset({"small"}), max_servers=4)
    west = ProviderView("west", frozenset({"small"}), max_servers=4)
    want = {"small": 3}
    assert min_ready_launches(want, east, [], now=0.0, peers=[west]) == ["small", "small"]
    assert min_ready_launches(want, west, [], now=0.0, peers=[east]) == ["small"]
    # A provider that backs off launches nothing; the working one makes up for it.
    failing = {"west": backoff.launch_failed(ProviderStatus("west"), 0.0, "refused")}
    assert min_ready_launches(want, west, [], now=0.5, peers=[east], status=failing) == []
    assert (
        min_ready_launches(want, east, [], now=0.5, peers=[west], status=failing) == ["small"] * 3
    )


def test_backoff_grows_exponentially_is_capped_and_resets_on_success() -> None:
    status = ProviderStatus("lab")
    now = 1000.0
    waits = []
    for _ in range(9):
        status = backoff.launch_failed(status, now, "connection refused", host="h1")
        waits.append(status.launches.until - now)
        assert backoff.backing_off(status, now)
        assert backoff.hosts_backing_off(status, now + 0.5) == {"h1"}
        now = status.launches.until
        assert not backoff.backing_off(status, now)
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert (
        "9 failed launches in a row; last: connection refused"
        in backoff.describe(status, now - 1)[0]
    )
    status = backoff.launch_succeeded(status, host="h1")
    assert backoff.launch_failed(status, now, "again", host="h1").launches.until == now + 1
    assert status.hosts == {}
    # Hosts that failed once, long ago, are forgotten rather than kept forever.
    for index in range(100):
        status = backoff.launch_failed(status, now + index * 100, "gone", host=f"node-{index}")
    assert len(status.hosts) == 1


def test_a_failing_provider_declines_while_another_works_and_waits_when_alone() -> None:
    bad = ProviderView("bad", frozenset({"small"}), max_servers=2)
    good = ProviderView("good", frozenset({"small"}), max_servers=2)
    failing = {
        "bad": backoff.launch_failed(ProviderStatus("bad"), 100.0, "ready command 'false' exited 1")
    }
    wanted = request("7", "small", created=50.0)
    plan = plan_request(wanted, bad, [], now=100.5, peers=[good], status=failing)
    assert isinstance(plan, Decline)
    assert "ready command 'false' exited 1" in plan.reason
    # Alone, it keeps the request and tries again once its backoff ends.
    alone = plan_request(wanted, bad, [], now=100.5, status=failing)
    assert isinstance(alone, Wait)
    assert "ready command 'false' exited 1" in alone.reason
    assert plan_request(wanted, bad, [], now=101.0, status=failing) == Fill((), ("small",))
    # A ready node it still gives at once.
    spare = [node("b1", provider="bad")]
    assert plan_request(wanted, bad, spare, now=100.5, peers=[good], status=failing) == Fill(
        ("b1",), ()
    )


def test_after_a_failed_launch_a_request_goes_to_a_working_provider_at_once() -> None:
    bad = ProviderView("bad", frozenset({"small"}), max_servers=2)
    good = ProviderView("good", frozenset({"small"}), max_servers=2)
    failing = {"bad": backoff.launch_failed(ProviderStatus("bad"), 100.0, "exited 1")}
    wanted = request("7", "small")
    wanted.attempts = {"bad": 1}
    wanted.causes = {"bad": "node 3: exited 1"}
    decline = after_launch_failure(
        wanted, bad, peers=[good], status=failing, now=100.0, launch_retries=3
    )
    assert decline is not None
    assert "node 3: exited 1" in decline.reason
    # With no other provider working, it tries launch-retries times.
    for tries, declines in ((1, False), (2, False), (3, True)):
        wanted.attempts = {"bad": tries}
        alone = after_launch_failure(
            wanted, bad, peers=[], status=failing, now=100.0, launch_retries=3
        )
        assert (alone is not None) == declines
    wanted.declined_by = ["bad", "good"]
    wanted.causes["good"] = "request needs 1 nodes"
    assert failure_reason(wanted) == (
        "every provider declined: bad: node 3: exited 1; good: request needs 1 nodes"
    )


def test_a_full_provider_waits_until_a_node_goes_or_the_pause_ends() -> None:
    full = {"a": backoff.quota_exceeded(ProviderStatus("a"), 100.0, 1, "no room")}
    one = [node("n1", state=NodeState.IN_USE)]
    wanted = request("8", "small")
    plan = plan_request(wanted, A, one, now=101.0, status=full)
    assert isinstance(plan, Wait)
    assert "no room" in plan.reason
    assert plan_request(wanted, A, [], now=101.0, status=full) == Fill((), ("small",))
    later = 100.0 + backoff.QUOTA_PAUSE
    assert plan_request(wanted, A, one, now=later, status=full) == Fill((), ("small",))


def test_refills_wait_while_nodes_are_handed_out_and_not_for_ever() -> None:
    # Nothing handed out lately: refill now.
    assert refill_from(100.0, None, None) is None
    assert refill_from(100.0, 100.0 - REFILL_QUIET, None) is None
    # Handed out a moment ago: wait for the pause.
    assert refill_from(100.0, 99.9, None) == 99.9 + REFILL_QUIET
    # Nodes handed out again and again: the refill waits at most REFILL_WAIT_MAX.
    assert refill_from(101.0, 100.9, 99.0) == 100.9 + REFILL_QUIET
    assert refill_from(101.9, 101.8, 99.0) == 99.0 + REFILL_WAIT_MAX
    assert refill_from(99.0 + REFILL_WAIT_MAX, 99.0 + REFILL_WAIT_MAX - 0.1, 99.0) is None


def test_a_label_whose_image_has_no_ready_build_waits_and_is_not_kept_ready() -> None:
    waiting = dataclasses.replace(A, unbootable=frozenset({"big"}))
    plan = plan_request(request("r", "small", "big"), waiting, [])
    # Later, not Wait: the provider goes on with other requests.
    assert isinstance(plan, Later)
    assert "image of label big" in plan.reason
    # A ready node of that label is still handed out: nothing to boot.
    assert plan_request(request("r", "big"), waiting, [node("n1", "big")]) == Fill(("n1",), ())
    assert min_ready_launches({"small": 1, "big": 1}, waiting, []) == ["small"]
    # A peer that cannot boot a label (as its launcher says) keeps none of
    # it ready: this provider does.
    b = ProviderView("b", frozenset({"big"}), max_servers=3)
    said = {"b": ProviderStatus("b", unbootable=["big"])}
    assert min_ready_launches({"big": 1}, A, [], peers=[b], status=said) == ["big"]


def test_ready_nodes_of_a_build_being_deleted_are_withdrawn() -> None:
    def booted(id_: str, build: str, **changes: object) -> Node:
        return dataclasses.replace(node(id_, **changes), image="tools", image_build=build)  # type: ignore[arg-type]

    nodes = [
        booted("n1", "b2"),
        booted("n2", "b2", request="r1"),
        booted("n3", "b2", state=NodeState.IN_USE),
        booted("n4", "b1"),
        booted("n5", "b2", provider="b"),
    ]
    assert [n.id for n in on_withdrawn_builds(nodes, "a", {("tools", "b2")})] == ["n1"]


def test_a_request_is_served_only_by_a_provider_of_its_executors_zone() -> None:
    east = dataclasses.replace(A, name="east", zone="east")
    west = dataclasses.replace(A, name="west", zone="west")
    wanted = dataclasses.replace(request("1", "small"), zone="east")
    # A ready node of the other zone is never given: the executor cannot reach it.
    ready_west = [node("w1", provider="west")]
    plan = plan_request(wanted, west, ready_west, now=10.0, peers=[east])
    assert isinstance(plan, Decline)
    assert plan.reason == "provider west is in zone west, the request's executor in zone east"
    # Nor is the request left to the other zone's provider while it is young.
    assert plan_request(wanted, east, ready_west, now=0.5, peers=[west]) == Fill((), ("small",))
    # Nor does it look at the other zone's requests: they are not its to decline.
    assert requests_to_serve([wanted], "west", zone="west") == []
    assert requests_to_serve([wanted], "east", zone="east") == [wanted]
    # A provider with no zone serves only executors with none.
    assert isinstance(plan_request(wanted, A, [], now=10.0), Decline)
    unzoned = request("2", "small")
    assert isinstance(plan_request(unzoned, east, [], now=10.0), Decline)
    assert plan_request(unzoned, A, [], now=10.0) == Fill((), ("small",))
