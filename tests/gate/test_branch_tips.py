"""Branch-tip items (periodic runs, pushes that are no change) in the engine:
named by branch and pushed commit, so tips of two branches and two pushes to
one branch are separate items, while the same tip asked for twice is one."""

from __future__ import annotations

from trunkgate.gate import Enqueue, IndependentManager, JobSpec, Report, new_state
from trunkgate.gate.changes import BRANCH_TIP, ChangeRef

JOBS = (JobSpec("unit"),)


def tip(branch: str, commit: str = "") -> ChangeRef:
    return ChangeRef("org/app", BRANCH_TIP, BRANCH_TIP, branch, commit)


def queued(manager: IndependentManager) -> list[ChangeRef]:
    return [item.change for queue in manager.state.queues.values() for item in queue.items]


def test_tips_of_two_branches_and_two_pushes_to_one_are_each_queued() -> None:
    post = IndependentManager(new_state("post"))
    pushes = [tip("main", "a1"), tip("stable", "b1"), tip("main", "a2")]
    reports = [a for p in pushes for a in post.handle(Enqueue(change=p, queue="q", jobs=JOBS))]
    assert queued(post) == pushes
    assert not [a for a in reports if isinstance(a, Report)]  # nothing replaced


def test_the_same_tip_asked_for_twice_is_one_item() -> None:
    periodic = IndependentManager(new_state("periodic"))
    for _ in range(2):
        periodic.handle(Enqueue(change=tip("main"), queue="q", jobs=JOBS))
    assert queued(periodic) == [tip("main")]
