"""The active window of a dependent queue: only the changes inside it are
tested; it grows on each merge and is halved on each failure, within its
floor and ceiling.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.helpers import LABELS, load
from tests.gate.simulated import SimulatedGate
from trunkgate.config.sections import Window
from trunkgate.gate import ChangeRef, PrepareMerge, WindowPolicy, manager_for

SMALL = WindowPolicy(start=4, floor=2, ceiling=6)


def prepared(gate: SimulatedGate) -> list[ChangeRef]:
    """Every change the merger was asked about so far, once each, in order."""
    seen: list[ChangeRef] = []
    for action in gate.actions:
        if isinstance(action, PrepareMerge) and action.change not in seen:
            seen.append(action.change)
    return seen


def test_only_changes_inside_the_window_are_tested_and_it_grows_and_halves() -> None:
    gate = SimulatedGate(window=SMALL)
    changes = [gate.approve("org/app", n) for n in range(1, 9)]
    first, second, *rest = changes
    assert prepared(gate) == changes[:4]

    gate.settle(hold=frozenset((c, "unit") for c in changes[1:]))
    assert gate.merged == [first]
    assert gate.window_of() == 5
    assert prepared(gate) == changes[:6]  # seven left, five of them in the window

    gate.fail_job("unit", second)
    gate.settle(hold=frozenset((c, "unit") for c in rest))
    assert gate.result(second).value == "FAILURE"
    assert gate.window_of() == 2
    # Only the two changes the window now holds are tested again, without
    # the failed one; the ones that were under test beyond it wait.
    assert [c for c in rest if gate.builds(c)] == rest[:2]
    assert all(build.tree[0] != second for c in rest for build in gate.builds(c))

    gate.settle()
    assert gate.merged == [first, *rest]
    assert gate.windows == [5, 2, 3, 4, 5, 6, 6, 6]


def test_a_failure_that_halves_the_window_leaves_only_that_many_under_test() -> None:
    """Seen in real use: a window of 4 halved to 2 and three changes behind
    were re-tested at once."""
    gate = SimulatedGate(window=WindowPolicy(start=4, floor=2, ceiling=4))
    first, *rest = [gate.approve("org/app", n) for n in range(1, 7)]
    assert prepared(gate) == [first, *rest[:3]]

    gate.fail_job("unit", first)
    gate.settle(hold=frozenset((c, "unit") for c in rest))

    assert gate.result(first).value == "FAILURE"
    assert gate.window_of() == 2
    under_test = [c for c in rest if gate.builds(c)]
    assert under_test == rest[:2]
    # The third was not asked to prepare again either: the merger's time counts.
    assert prepared(gate) == [first, *rest[:3]]
    assert [a.change for a in gate.actions if isinstance(a, PrepareMerge)].count(rest[2]) == 1

    gate.settle()
    assert gate.merged == rest


def test_a_lower_ceiling_in_the_config_bounds_the_queue_at_the_next_event() -> None:
    gate = SimulatedGate(window=WindowPolicy(start=8, floor=2))
    changes = [gate.approve("org/app", n) for n in range(1, 9)]
    gate.reconfigure(WindowPolicy(start=4, floor=2, ceiling=4))
    gate.answer(gate.pending[0])

    assert gate.window_of() == 4
    queue = gate.engine.state.queues["integrated"]
    assert [item.change for item in queue.items if item.busy] == changes[:4]


def test_the_window_never_drops_below_its_floor() -> None:
    gate = SimulatedGate(window=SMALL)
    changes = [gate.approve("org/app", n) for n in range(1, 5)]
    for change in changes[:3]:
        gate.fail_job("unit", change)
    gate.settle()

    assert gate.merged == [changes[3]]
    assert gate.windows == [2, 2, 2, 3]


def test_default_window_starts_at_twenty() -> None:
    gate = SimulatedGate()
    changes = [gate.approve("org/app", n) for n in range(1, 26)]
    assert prepared(gate) == changes[:20]
    gate.settle()
    assert gate.merged == changes


def test_the_builtin_gate_window_grows_past_its_start(tmp_path: Path) -> None:
    config = load(tmp_path, LABELS)
    engine = manager_for(config.pipelines["gate"])
    gate = SimulatedGate(window=engine.window_policy)
    changes = [gate.approve("org/app", n) for n in range(1, 23)]
    assert prepared(gate) == changes[:20]
    gate.settle()
    assert gate.merged == changes
    assert gate.windows == list(range(21, 43))


def test_growth_and_shrinking_are_linear_or_exponential() -> None:
    window = Window.model_validate(
        {
            "start": 4,
            "floor": 1,
            "ceiling": 20,
            "increase-type": "exponential",
            "decrease-type": "linear",
            "decrease-factor": 3,
        }
    )
    policy = WindowPolicy.from_config(window)
    gate = SimulatedGate(window=policy)
    changes = [gate.approve("org/app", n) for n in range(1, 9)]
    for change in changes[:3]:
        gate.fail_job("unit", change)
    gate.settle()
    # Three less on each failure down to its floor, doubled on each merge up
    # to its ceiling.
    assert gate.windows == [1, 1, 1, 2, 4, 8, 16, 20]
    assert (policy.grown(16), policy.shrunk(20)) == (20, 17)
    linear = WindowPolicy.from_config(Window.model_validate({"increase-factor": 5}))
    assert (linear.grown(20), linear.shrunk(20), linear.ceiling) == (25, 10, None)


def test_window_from_config() -> None:
    policy = WindowPolicy.from_config(Window())
    assert policy == WindowPolicy(
        start=20,
        floor=3,
        ceiling=None,
        increase_type="linear",
        increase_factor=1,
        decrease_type="exponential",
        decrease_factor=2,
    )
    # A factor left out is the one that suits its type.
    flipped = WindowPolicy.from_config(
        Window.model_validate({"increase-type": "exponential", "decrease-type": "linear"})
    )
    assert (flipped.increase_factor, flipped.decrease_factor) == (2, 1)
    assert (flipped.grown(20), flipped.shrunk(20)) == (40, 19)


def test_window_settings_out_of_order_are_refused() -> None:
    with pytest.raises(ValueError, match="floor"):
        WindowPolicy(start=2, floor=3, ceiling=20)
