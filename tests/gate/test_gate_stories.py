"""The dependent (gate) pipeline, told as stories: changes approved in
order, some failing, conflicting, dequeued, replaced or promoted, and what
merges in the end on which tree.
"""

from __future__ import annotations

from tests.gate.simulated import SimulatedGate
from trunkgate.gate import (
    BuildFinished,
    BuildResult,
    ItemMerged,
    ItemResult,
    JobResult,
    Merge,
    MergePrepared,
    StartJob,
)
from trunkgate.gate.changes import format_tree

OK = BuildResult.SUCCESS
FAILED = BuildResult.FAILURE
CANCELED = BuildResult.CANCELED


def test_three_approved_changes_are_tested_together_and_merge_in_order() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    b = gate.approve("org/app", 2)
    c = gate.approve("org/app", 3)
    gate.settle()

    assert gate.merged == [a, b, c]
    assert gate.trees(a) == [((a,), OK)]
    assert gate.trees(b) == [((a, b), OK)]
    assert gate.trees(c) == [((a, b, c), OK)]
    assert [gate.result(x) for x in (a, b, c)] == [ItemResult.SUCCESS] * 3
    assert gate.window_of() == 23  # grew by one per merge, past where it started


def test_changes_that_passed_while_the_head_merges_are_merged_right_behind_it() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    b = gate.approve("org/app", 2)
    c = gate.approve("org/app", 3)
    gate.settle(hold=frozenset({(a, "merge")}))

    # The head's merge is under way; the two behind it passed on its tree:
    # their merges are asked for now, not one answer at a time.
    assert [m.change for m in gate.pending if isinstance(m, Merge)] == [a, b, c]
    assert gate.merged == []
    gate.settle()
    assert gate.merged == [a, b, c]
    assert [gate.result(x) for x in (a, b, c)] == [ItemResult.SUCCESS] * 3


def test_a_refused_merge_resets_the_items_merging_behind_it_untried() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    b = gate.approve("org/app", 2)
    gate.refused.add(a)
    gate.settle(hold=frozenset({(a, "merge")}))
    assert [m.change for m in gate.pending if isinstance(m, Merge)] == [a, b]

    gate.settle()
    # b's merge on a tree holding a was dropped, never tried; b was tested
    # again without a and merged.
    assert gate.result(a) is ItemResult.FAILURE
    assert gate.merged == [b]
    assert gate.trees(b) == [((a, b), OK), ((b,), OK)]


def test_failed_change_is_left_out_and_the_change_behind_is_retested_without_it() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    b = gate.approve("org/app", 2)
    c = gate.approve("org/app", 3)
    gate.fail_job("unit", b)
    gate.settle()

    assert gate.merged == [a, c]
    assert gate.result(b) is ItemResult.FAILURE
    assert gate.report(b).reason == "failed: unit"
    assert gate.report(b).tree == (a, b)  # the tree it failed on; a merged since
    assert gate.trees(b) == [((a, b), FAILED)]
    # c's first build (on a + b + c) was cancelled when b failed; it was
    # tested again on a + c and merged on that.
    assert gate.trees(c) == [((a, b, c), CANCELED), ((a, c), OK)]
    assert [r.change for r in gate.reports] == [a, b, c]


def test_the_change_behind_a_failure_does_not_wait_for_it() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1, jobs=("unit", "slow"))
    b = gate.approve("org/app", 2)
    gate.fail_job("unit", a)
    gate.settle(hold=frozenset({(a, "slow")}))

    # a failed its unit job and still runs its slow one; b went ahead.
    assert gate.merged == [b]
    assert gate.reports[0].change == b
    assert [build.job for build in gate.builds(a)] == ["slow"]
    gate.settle()
    assert gate.result(a) is ItemResult.FAILURE
    assert [(j.job, j.result) for j in gate.report(a).jobs] == [("unit", FAILED), ("slow", OK)]


def test_merge_conflict_fails_the_change_without_running_jobs() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    b = gate.approve("org/app", 2)
    c = gate.approve("org/app", 3)
    gate.conflict(c, with_change=b)
    gate.settle()

    assert gate.merged == [a, b]
    assert gate.result(c) is ItemResult.MERGE_CONFLICT
    assert gate.trees(c) == []
    assert gate.report(c).jobs == (JobResult(job="unit", voting=True, result=None),)


def test_change_conflicting_only_with_a_failing_change_ahead_merges_without_it() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    b = gate.approve("org/app", 2)
    c = gate.approve("org/app", 3)
    gate.fail_job("unit", b)
    gate.conflict(c, with_change=b)
    gate.settle()

    assert gate.merged == [a, c]
    assert gate.result(b) is ItemResult.FAILURE
    assert gate.trees(c) == [((a, c), OK)]


def test_conflict_behind_the_head_is_reported_once_the_changes_ahead_merge() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    b = gate.approve("org/app", 2)
    gate.conflict(b, with_change=a)
    (_, prepare_b) = gate.pending
    gate.answer(prepare_b)

    assert gate.reports == []  # a may still fail, and b then merge alone
    gate.settle()
    assert gate.merged == [a]
    assert gate.result(b) is ItemResult.MERGE_CONFLICT


def test_non_voting_job_failure_does_not_keep_a_change_out() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1, jobs=("unit",), nonvoting=("experimental",))
    b = gate.approve("org/app", 2)
    gate.fail_job("experimental", a)
    gate.settle()

    assert gate.merged == [a, b]
    assert gate.trees(b) == [((a, b), OK)]
    report = gate.report(a)
    assert report.result is ItemResult.SUCCESS
    assert [(j.job, j.voting, j.result) for j in report.jobs] == [
        ("unit", True, OK),
        ("experimental", False, FAILED),
    ]
    assert report.jobs[0].url == "logs/gate#1/unit"


def test_any_unsuccessful_voting_result_fails_the_change() -> None:
    for result in (BuildResult.TIMED_OUT, BuildResult.NODE_FAILURE, BuildResult.ERROR):
        gate = SimulatedGate()
        a = gate.approve("org/app", 1)
        gate.answer(gate.pending[0])
        (build,) = gate.builds(a)
        gate.answer(build, result)
        assert gate.result(a) is ItemResult.FAILURE
        assert gate.merged == []


def test_refused_merge_at_the_head_fails_it_and_resets_the_changes_behind() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    b = gate.approve("org/app", 2)
    gate.refused.add(a)
    gate.settle()

    assert gate.merged == [b]
    assert gate.result(a) is ItemResult.FAILURE
    assert gate.report(a).reason == "refused"
    assert gate.trees(b) == [((a, b), OK), ((b,), OK)]


def test_dequeued_change_in_the_middle_is_left_out_and_reported() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    b = gate.approve("org/app", 2)
    c = gate.approve("org/app", 3)
    for prepare in list(gate.pending):
        gate.answer(prepare)
    gate.dequeue(b)

    assert gate.result(b) is ItemResult.DEQUEUED
    started = [s for s in gate.actions if isinstance(s, StartJob)]
    assert gate.canceled == {(s.buildset, s.job) for s in started if s.change in (b, c)}
    gate.settle()
    assert gate.merged == [a, c]
    assert gate.trees(b) == [((a, b), CANCELED)]
    assert gate.trees(c) == [((a, b, c), CANCELED), ((a, c), OK)]


def test_new_patchset_dequeues_the_old_one_and_the_new_one_goes_to_the_end() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    b1 = gate.approve("org/app", 2)
    c = gate.approve("org/app", 3)
    b2 = gate.new_patchset(b1)
    assert gate.result(b1) is ItemResult.DEQUEUED
    assert gate.report(b1).reason == "patchset 2 was uploaded"
    gate.approve("org/app", 2, patchset=2)
    gate.settle()

    assert gate.merged == [a, c, b2]
    assert gate.trees(b2) == [((a, c, b2), OK)]


def test_promote_moves_a_change_to_the_head_and_retests_the_rest() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    b = gate.approve("org/app", 2)
    c = gate.approve("org/app", 3)
    gate.promote(c)
    gate.settle()

    assert gate.merged == [c, a, b]
    assert gate.trees(c) == [((c,), OK)]
    assert gate.trees(a) == [((c, a), OK)]
    assert gate.trees(b) == [((c, a, b), OK)]


def test_promote_after_builds_started_cancels_them() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    b = gate.approve("org/app", 2)
    for prepare in list(gate.pending):
        gate.answer(prepare)
    gate.promote(b)
    gate.settle()

    assert gate.merged == [b, a]
    assert gate.trees(a) == [((a,), CANCELED), ((b, a), OK)]
    assert gate.trees(b) == [((a, b), CANCELED), ((b,), OK)]


def test_promote_goes_behind_a_merge_under_way_even_one_behind_a_failing_item() -> None:
    gate = SimulatedGate()
    f = gate.approve("org/app", 1, jobs=("unit", "lint"))
    a = gate.approve("org/app", 2)
    p = gate.approve("org/app", 3)
    gate.fail_job("unit", f)
    # f failed a vote but its lint still runs: it stays, out of every tree,
    # and a, tested alone, passes and merges while p waits on its job.
    gate.settle(hold=frozenset({(f, "lint"), (a, "merge"), (p, "unit")}))
    assert [m.change for m in gate.pending if isinstance(m, Merge)] == [a]
    gate.promote(p)
    gate.settle()

    # a's merge was not taken back: p was tested again on top of it.
    assert gate.merged == [a, p]
    assert gate.trees(a) == [((f, a), CANCELED), ((a,), OK)]
    assert gate.trees(p)[-1] == ((a, p), OK)
    assert gate.result(f) is ItemResult.FAILURE


def test_promote_while_the_head_is_merging_puts_the_change_right_behind_it() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    b = gate.approve("org/app", 2)
    c = gate.approve("org/app", 3)
    gate.settle(hold=frozenset({(a, "merge"), (b, "unit"), (c, "unit")}))
    assert [m.change for m in gate.pending if isinstance(m, Merge)] == [a]
    gate.promote(c)
    gate.settle()

    assert gate.merged == [a, c, b]
    assert gate.trees(c) == [((a, b, c), CANCELED), ((a, c), OK)]
    assert gate.trees(b) == [((a, b), CANCELED), ((a, c, b), OK)]


def test_a_change_being_merged_cannot_be_dequeued_or_replaced() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    gate.answer(gate.pending[0])
    (build,) = gate.builds(a)
    gate.answer(build)
    (merge,) = gate.pending
    gate.dequeue(a)
    gate.new_patchset(a)
    a2 = gate.approve("org/app", 1, patchset=2)
    assert gate.result(a2) is ItemResult.DEQUEUED
    assert gate.report(a2).reason == "patchset 1 is being merged"

    gate.answer(merge)
    assert gate.merged == [a]
    assert gate.result(a) is ItemResult.SUCCESS


def test_results_for_a_stale_tree_are_ignored() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    b = gate.approve("org/app", 2)
    gate.fail_job("unit", a)
    for prepare in list(gate.pending):
        gate.answer(prepare)
    (old_b,) = gate.builds(b)
    (build_a,) = gate.builds(a)
    gate.answer(build_a)  # a fails: b is reset onto the branch tip
    assert gate.result(a) is ItemResult.FAILURE

    # The executor did not honour the cancel: b's build on a + b passes late.
    gate.finish(old_b, OK)
    assert gate.merged == []
    gate.answer(gate.pending[-1])  # b prepared alone
    (new_b,) = gate.builds(b)
    assert new_b.tree == (b,)
    gate.answer(new_b, FAILED)
    assert gate.merged == []
    assert gate.result(b) is ItemResult.FAILURE


def test_late_start_and_repeated_answers_change_nothing() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    (prepare,) = gate.pending
    gate.answer(prepare)
    assert gate.send(MergePrepared(buildset=prepare.buildset)) == []
    (build,) = gate.builds(a)
    gate.finish(build, OK)
    (merge,) = gate.pending
    gate.start(build)  # the start arrives after the finish
    failed_late = BuildFinished(buildset=build.buildset, job=build.job, result=FAILED)
    assert gate.send(failed_late) == []
    gate.answer(merge)
    assert gate.merged == [a]
    assert gate.send(ItemMerged(buildset=merge.buildset)) == []
    assert gate.reported[a] == 1


def test_projects_naming_the_same_queue_are_gated_together() -> None:
    gate = SimulatedGate()
    app = gate.approve("org/app", 1, queue="integrated")
    lib = gate.approve("org/lib", 2, queue="integrated")
    docs = gate.approve("org/docs", 3, queue="docs")
    gate.fail_job("unit", app)
    gate.settle()

    assert gate.trees(lib) == [((app, lib), CANCELED), ((lib,), OK)]
    assert gate.trees(docs) == [((docs,), OK)]
    assert gate.merged == [docs, lib]
    assert gate.window_of("integrated") == 11  # halved for app, one more for lib
    assert gate.window_of("docs") == 21  # one more for docs


def test_tree_is_described_for_people() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    b = gate.approve("org/lib", 7, patchset=3)
    assert format_tree((a, b)) == "org/app~1,1 + org/lib~7,3"
