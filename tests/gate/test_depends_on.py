"""Cross-project dependencies (Depends-On) in the queue engine: a change is
tested with the changes it needs and, in a queue that merges, never merges
before them; one whose need fails or leaves goes too, saying why; one whose
need is not ahead of it cannot enter; one refused (a cycle) is reported so."""

from __future__ import annotations

from tests.gate.simulated import SimulatedGate
from trunkgate.gate import BuildResult, ItemResult

OK = BuildResult.SUCCESS


def test_a_change_and_the_change_it_needs_merge_in_order_tested_together() -> None:
    gate = SimulatedGate()
    lib = gate.approve("org/lib", 1)
    app = gate.approve("org/app", 2, needs=(lib,))
    gate.settle()
    assert gate.merged == [lib, app]
    assert gate.trees(app) == [((lib, app), OK)]
    gate.check_done()


def test_when_the_needed_change_fails_the_dependent_leaves_unmerged() -> None:
    gate = SimulatedGate()
    lib = gate.approve("org/lib", 1)
    app = gate.approve("org/app", 2, needs=(lib,))
    other = gate.approve("org/app", 3)
    gate.fail_job("unit", lib)
    gate.settle()
    assert gate.merged == [other]
    assert gate.result(lib) is ItemResult.FAILURE
    assert gate.result(app) is ItemResult.DEQUEUED
    assert f"depends on {lib}" in gate.report(app).reason
    gate.check_done()


def test_a_dependent_of_an_abandoned_change_leaves_with_it() -> None:
    from trunkgate.gate import Dequeue

    gate = SimulatedGate()
    lib = gate.approve("org/lib", 1)
    app = gate.approve("org/app", 2, needs=(lib,))
    gate.send(Dequeue(project="org/lib", number=1, reason="abandoned"))
    gate.settle()
    assert gate.merged == []
    assert [gate.result(c) for c in (lib, app)] == [ItemResult.DEQUEUED] * 2
    assert "left the queue" in gate.report(app).reason
    gate.check_done()


def test_a_change_whose_need_is_not_ahead_of_it_cannot_enter() -> None:
    gate = SimulatedGate()
    lib = gate.approve("org/lib", 1, queue="other")
    app = gate.approve("org/app", 2, needs=(lib,))
    gate.settle()
    assert gate.merged == [lib]
    assert gate.result(app) is ItemResult.DEQUEUED
    assert "must enter first" in gate.report(app).reason
    gate.check_done()


def test_a_refused_change_is_reported_with_its_reason_and_never_queued() -> None:
    gate = SimulatedGate()
    cycle = "dependency cycle: org/app~2 -> org/lib~1 -> org/app~2"
    app = gate.approve("org/app", 2, refused=cycle)
    gate.settle()
    assert gate.merged == []
    assert gate.result(app) is ItemResult.DEQUEUED
    assert "dependency cycle" in gate.report(app).reason
    gate.check_done()


def test_check_tests_a_change_on_the_changes_it_needs() -> None:
    check = SimulatedGate(manager="independent", pipeline="check")
    lib = check.approve("org/lib", 1)
    app = check.approve("org/app", 2, needs=(lib,))
    check.settle()
    assert check.trees(app) == [((lib, app), OK)]
    assert check.trees(lib) == [((lib,), OK)]
    assert check.merged == []
    check.check_done()


def test_when_the_needed_changes_merge_is_refused_the_dependent_merging_behind_it_leaves() -> None:
    gate = SimulatedGate()
    lib = gate.approve("org/lib", 1)
    app = gate.approve("org/app", 2, needs=(lib,))
    gate.refused.add(lib)
    gate.settle()
    assert gate.merged == []
    assert gate.result(lib) is ItemResult.FAILURE
    assert gate.result(app) is ItemResult.DEQUEUED
    assert "could not be merged" in gate.report(app).reason
    gate.check_done()


def test_a_promoted_change_takes_the_changes_it_needs_along() -> None:
    from trunkgate.gate import Promote

    gate = SimulatedGate()
    other = gate.approve("org/app", 1)
    lib = gate.approve("org/lib", 2)
    app = gate.approve("org/app", 3, needs=(lib,))
    gate.send(Promote(project="org/app", number=3))
    gate.settle()
    assert gate.merged == [lib, app, other]
    gate.check_done()
