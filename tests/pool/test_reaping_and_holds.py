"""Hold expiry, max-ready-age, stuck nodes and leaks, decided with a moved clock."""

from __future__ import annotations

from tests.pool.test_decisions import node
from trunkgate.pool.holding import FinishedBuild, HoldPolicy, plan_holds
from trunkgate.pool.reaping import Instance, ReapPolicy, abandoned_requests, plan_reap
from trunkgate.pool.records import Autohold, NodeRequest
from trunkgate.pool.states import NodeState

HOUR = 3600.0
POLICY = ReapPolicy(boot_timeout={"a": 60.0}, max_ready_age={"small": 2 * HOUR})


def reaped(nodes, now, live_builds=frozenset()):  # type: ignore[no-untyped-def]
    plan = plan_reap(
        nodes, [], now=now, policy=POLICY, live_builds=set(live_builds), suspects=set()
    )
    return dict(plan.delete)


def test_a_hold_is_kept_until_it_expires() -> None:
    held = node("h", state=NodeState.HOLD, t=0)
    held.hold_until = 24 * HOUR
    assert reaped([held], now=24 * HOUR - 1) == {}
    assert reaped([held], now=24 * HOUR) == {"h": "hold expired"}


def test_a_hold_without_expiry_stays() -> None:
    held = node("h", state=NodeState.HOLD)
    assert reaped([held], now=1000 * HOUR) == {}


def test_ready_nodes_past_max_ready_age_are_replaced() -> None:
    fresh = node("fresh", t=HOUR)
    stale = node("stale", t=0)
    given = node("given", t=0, request="r1")
    assert reaped([fresh, stale, given], now=2 * HOUR + 1) == {
        "stale": "ready for 7201s, past max-ready-age"
    }


def test_stuck_and_orphaned_nodes_are_deleted() -> None:
    stuck = node("stuck", state=NodeState.BUILDING, t=0)
    booting = node("booting", state=NodeState.BUILDING, t=30)
    orphan = node("orphan", state=NodeState.IN_USE)
    orphan.build = "gone"
    busy = node("busy", state=NodeState.IN_USE)
    busy.build = "running"
    assert reaped([stuck, booting, orphan, busy], now=61, live_builds={"running"}) == {
        "stuck": "building for 61s",
        "orphan": "build gone no longer exists",
    }


def test_a_leaked_instance_is_deleted_only_on_the_second_pass() -> None:
    known = node("n1")
    known.external_id = "tg-n1"
    leak = Instance("a", "tg-zz", "zz")
    claimed = Instance("a", "tg-n1", "n1")
    first = plan_reap(
        [known], [leak, claimed], now=0, policy=POLICY, live_builds=set(), suspects=set()
    )
    assert first.leaked == []
    assert first.suspects == {("a", "tg-zz")}
    second = plan_reap(
        [known], [leak, claimed], now=60, policy=POLICY, live_builds=set(), suspects=first.suspects
    )
    assert [i.external_id for i, _ in second.leaked] == ["tg-zz"]


def failed_build(job: str = "unit", change: int | None = 7) -> FinishedBuild:
    return FinishedBuild(id="b1", project="app", job=job, change=change, failed=True)


def test_failed_build_nodes_are_held_per_policy_and_the_oldest_hold_released() -> None:
    policy = HoldPolicy(hold_failed_for=24 * HOUR, max_held_nodes=2)
    older = node("old", state=NodeState.HOLD, t=10)
    newer = node("new", state=NodeState.HOLD, t=20)
    other_provider = node("elsewhere", state=NodeState.HOLD, t=0, provider="b")
    used = node("n", state=NodeState.IN_USE)
    plan = plan_holds(
        failed_build(),
        [used],
        held=[newer, older, other_provider],
        autoholds=[],
        policy=policy,
        now=100.0,
    )
    assert plan.hold == [("n", 100.0 + 24 * HOUR, "build b1 of unit failed")]
    assert plan.release == ["old"]


def test_successful_builds_hold_nothing() -> None:
    ok = FinishedBuild(id="b", project="app", job="unit", change=1, failed=False)
    plan = plan_holds(
        ok,
        [node("n", state=NodeState.IN_USE)],
        held=[],
        autoholds=[],
        policy=HoldPolicy(24 * HOUR, 2),
        now=0,
    )
    assert plan.hold == []


def test_autohold_matches_project_job_and_change_beyond_the_cap() -> None:
    autohold = Autohold(
        id="0000000001", project="app", job="unit", reason="debug", created=0, change=7
    )
    other_change = Autohold(
        id="0000000002", project="app", job="unit", reason="x", created=0, change=8
    )
    plan = plan_holds(
        failed_build(),
        [node("n", state=NodeState.IN_USE)],
        held=[],
        autoholds=[other_change, autohold],
        policy=HoldPolicy(hold_failed_for=0, max_held_nodes=0),
        now=5.0,
    )
    assert plan.autohold == "0000000001"
    assert plan.hold == [("n", None, "autohold 0000000001: debug")]
    used_up = Autohold(id="3", project="app", job="unit", reason="x", created=0, held=1)
    plan = plan_holds(
        failed_build(),
        [node("n", state=NodeState.IN_USE)],
        held=[],
        autoholds=[used_up],
        policy=HoldPolicy(hold_failed_for=0, max_held_nodes=0),
        now=5.0,
    )
    assert plan.hold == []


def test_requests_of_builds_without_a_claim_are_abandoned() -> None:
    def request(request_id: str, build: str | None) -> NodeRequest:
        return NodeRequest(id=request_id, labels=["small"], created=0.0, build=build)

    requests = [request("r1", "running"), request("r2", "gone"), request("r3", None)]
    assert abandoned_requests(requests, {"running"}) == ["r2"]
