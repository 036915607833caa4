"""Which merges go next: a run is the merges at the front of a queue's list
that share a project and branch, merged together in one push where the
review source can. Merges whose items were reset meanwhile, or that were
tested on a change whose merge failed, are dropped on the way."""

from __future__ import annotations

from trunkgate.gate.actions import Merge
from trunkgate.gate.changes import ChangeRef
from trunkgate.gate.state import ChangeQueue, Item, Phase, PipelineState
from trunkgate.scheduler.merging import next_run


def passed(
    number: int,
    *,
    project: str = "acme/app",
    branch: str = "main",
    ahead: tuple[Item, ...] = (),
    phase: Phase = Phase.MERGING,
) -> Item:
    """An item that passed (by default) on a tree of the items `ahead` and itself."""
    change = ChangeRef(project, number, 1, branch)
    tree = (*(a.change for a in ahead), change)
    return Item(change, (), phase=phase, tree=tree, prepared_tree=tree, buildset=f"bs-{number}")


def queued(*items: Item) -> PipelineState:
    return PipelineState("gate", {"shared": ChangeQueue("shared", None, list(items))})


def merge(item: Item) -> Merge:
    assert item.buildset is not None
    return Merge(buildset=item.buildset, queue="shared", change=item.change)


def test_a_run_stops_where_the_project_changes() -> None:
    first = passed(1)
    second = passed(2, ahead=(first,))
    lib = passed(3, project="acme/lib", ahead=(first, second))
    last = passed(4, ahead=(first, second, lib))
    state = queued(first, second, lib, last)
    waiting = [merge(first), merge(second), merge(lib), merge(last)]

    assert next_run(state, set(), waiting) == ([(waiting[0], first), (waiting[1], second)], 2)
    assert next_run(state, set(), waiting[2:]) == ([(waiting[2], lib)], 1)
    assert next_run(state, set(), waiting[3:]) == ([(waiting[3], last)], 1)


def test_a_run_stops_where_the_branch_changes() -> None:
    main = passed(1)
    stable = passed(2, branch="stable", ahead=(main,))
    state = queued(main, stable)
    waiting = [merge(main), merge(stable)]

    assert next_run(state, set(), waiting) == ([(waiting[0], main)], 1)


def test_merges_whose_items_were_reset_meanwhile_are_dropped() -> None:
    first = passed(1)
    # Reset after its merge was asked for: testing again, under a new buildset.
    retried = passed(2, ahead=(first,), phase=Phase.TESTING)
    gone = merge(retried)
    retried.buildset = "bs-2-again"
    # Reset, and the same buildset not merging any more.
    waiting_again = passed(3, ahead=(first,), phase=Phase.WAITING)
    last = passed(4, ahead=(first,))
    state = queued(first, retried, waiting_again, last)
    waiting = [merge(first), gone, merge(waiting_again), merge(last)]

    run, taken = next_run(state, set(), waiting)

    assert run == [(waiting[0], first), (waiting[3], last)]
    assert taken == 4


def test_merges_tested_on_a_failed_merge_are_dropped() -> None:
    failed = passed(1)
    behind = passed(2, ahead=(failed,))
    further = passed(3, ahead=(failed, behind))
    apart = passed(4)  # tested on its own tree, not on the failed change
    state = queued(failed, behind, further, apart)
    waiting = [merge(behind), merge(further), merge(apart)]

    run, taken = next_run(state, {"bs-1"}, waiting)

    assert run == [(waiting[2], apart)]
    assert taken == 3
    # The same merges, none having failed, make one run.
    assert next_run(state, set(), waiting) == (
        [(waiting[0], behind), (waiting[1], further), (waiting[2], apart)],
        3,
    )
