"""The queue state as the store keeps it: it survives a restart, carries a
version, and tells a restarted scheduler which actions are still awaited.
"""

from __future__ import annotations

import json

import pytest

from tests.gate.simulated import SimulatedGate
from trunkgate.config.sections import PipelineSection
from trunkgate.gate import (
    STATE_VERSION,
    ChangeRef,
    DependentManager,
    Enqueue,
    IndependentManager,
    JobSpec,
    SerialManager,
    StateVersionError,
    event_from_dict,
    event_to_dict,
    manager_for,
    new_state,
    state_from_dict,
    state_to_dict,
)


def test_after_a_crash_the_outstanding_actions_are_carried_out_again() -> None:
    gate = SimulatedGate()
    a = gate.approve("org/app", 1)
    b = gate.approve("org/app", 2)
    gate.answer(gate.pending[0])
    # The scheduler saved the state and died before it carried out anything.
    gate.pending.clear()
    stored = json.dumps(state_to_dict(gate.engine.state))

    restarted = DependentManager(state_from_dict(json.loads(stored)))
    gate.engine = restarted
    redo = restarted.outstanding()
    assert [(type(x).__name__, x.change) for x in redo] == [
        ("StartJob", a),
        ("PrepareMerge", b),
    ]
    gate.pending.extend(redo)
    gate.settle()
    assert gate.merged == [a, b]
    assert gate.engine.outstanding() == []


def test_stored_state_of_another_version_is_refused() -> None:
    data = state_to_dict(new_state("gate"))
    assert data["version"] == STATE_VERSION
    data["version"] = STATE_VERSION + 1
    with pytest.raises(StateVersionError, match="version"):
        state_from_dict(data)


def test_events_travel_as_json() -> None:
    event = Enqueue(
        change=ChangeRef("org/app", 4, 2, "stable"),
        queue="integrated",
        jobs=(JobSpec("unit"), JobSpec("lint", voting=False)),
    )
    assert event_from_dict(json.loads(json.dumps(event_to_dict(event)))) == event


def test_manager_for_a_configured_pipeline() -> None:
    def section(manager: str) -> PipelineSection:
        return PipelineSection.model_validate(
            {"name": "gate", "manager": manager, "window": {"start": 8, "floor": 2}}
        )

    dependent = manager_for(section("dependent"))
    assert isinstance(dependent, DependentManager)
    assert dependent.window_policy is not None
    assert (dependent.window_policy.start, dependent.window_policy.floor) == (8, 2)
    serial = manager_for(section("serial"))
    assert isinstance(serial, SerialManager)
    assert serial.window_policy is not None
    assert serial.window_policy.ceiling == 1
    independent = manager_for(section("independent"))
    assert isinstance(independent, IndependentManager)
    assert independent.window_policy is None
    with pytest.raises(ValueError, match="check"):
        manager_for(section("dependent"), new_state("check"))


def test_a_job_named_twice_is_refused() -> None:
    engine = DependentManager(new_state("gate"))
    change = ChangeRef("org/app", 1, 1)
    with pytest.raises(ValueError, match="twice"):
        engine.handle(Enqueue(change=change, queue="q", jobs=(JobSpec("unit"), JobSpec("unit"))))
