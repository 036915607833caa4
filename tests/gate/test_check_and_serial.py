"""The other two managers over the same engine: independent (check), where
each change is tested alone and nothing merges, and serial, where one change
at a time is tested on the branch tip.
"""

from __future__ import annotations

from tests.gate.simulated import SimulatedGate
from trunkgate.gate import BuildResult, ItemResult, Merge

OK = BuildResult.SUCCESS
FAILED = BuildResult.FAILURE


def test_check_tests_each_change_alone_and_merges_nothing() -> None:
    check = SimulatedGate(manager="independent", pipeline="check")
    a = check.approve("org/app", 1)
    b = check.approve("org/app", 2)
    c = check.approve("org/lib", 3)
    check.fail_job("unit", b)
    check.settle()

    assert check.merged == []
    assert not [action for action in check.actions if isinstance(action, Merge)]
    assert [check.result(x) for x in (a, b, c)] == [
        ItemResult.SUCCESS,
        ItemResult.FAILURE,
        ItemResult.SUCCESS,
    ]
    assert check.trees(a) == [((a,), OK)]
    assert check.trees(b) == [((b,), FAILED)]
    assert check.trees(c) == [((c,), OK)]
    assert not check.report(a).merged
    assert check.window_of() is None


def test_check_reports_each_change_when_its_own_jobs_are_done() -> None:
    check = SimulatedGate(manager="independent", pipeline="check")
    a = check.approve("org/app", 1)
    b = check.approve("org/app", 2)
    check.settle(hold=frozenset({(a, "unit")}))

    assert [r.change for r in check.reports] == [b]
    check.settle()
    assert check.result(a) is ItemResult.SUCCESS


def test_check_has_no_window() -> None:
    check = SimulatedGate(manager="independent", pipeline="check")
    changes = [check.approve("org/app", n) for n in range(1, 31)]
    assert check.preparing() == changes


def test_check_reports_a_conflict_with_the_branch_tip() -> None:
    check = SimulatedGate(manager="independent", pipeline="check")
    a = check.approve("org/app", 1)
    b = check.approve("org/app", 2)
    check.conflict(a)
    check.settle()

    assert check.result(a) is ItemResult.MERGE_CONFLICT
    assert check.result(b) is ItemResult.SUCCESS


def test_check_recheck_of_a_reported_change_tests_it_again() -> None:
    check = SimulatedGate(manager="independent", pipeline="check")
    a = check.approve("org/app", 1)
    check.fail_job("unit", a)
    check.settle()
    check.failing.clear()
    check.approve("org/app", 1)  # "recheck"
    check.settle()

    assert [r.result for r in check.reports] == [ItemResult.FAILURE, ItemResult.SUCCESS]


def test_serial_tests_one_change_at_a_time_on_the_branch_tip() -> None:
    gate = SimulatedGate(manager="serial")
    a = gate.approve("org/app", 1)
    b = gate.approve("org/app", 2)
    c = gate.approve("org/app", 3)
    assert gate.preparing() == [a]
    gate.fail_job("unit", b)
    gate.settle()

    assert gate.merged == [a, c]
    assert gate.trees(a) == [((a,), OK)]
    assert gate.trees(b) == [((b,), FAILED)]
    assert gate.trees(c) == [((c,), OK)]
    assert gate.windows == [1, 1, 1]
