"""JSON-able dicts for the queue engine's state, events and actions, for
the store and for the scheduler's outbox. Stored state carries
`STATE_VERSION`; a state written by another version is refused rather than
guessed at.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from trunkgate.gate.actions import Action
from trunkgate.gate.events import Event
from trunkgate.gate.state import STATE_VERSION, PipelineState


class StateVersionError(ValueError):
    """Stored queue state of a shape this trunkgate does not read."""


_STATE: TypeAdapter[PipelineState] = TypeAdapter(PipelineState)
_EVENT: TypeAdapter[Event] = TypeAdapter(Event)
_ACTION: TypeAdapter[Action] = TypeAdapter(Action)


def state_to_dict(state: PipelineState) -> dict[str, Any]:
    data: dict[str, Any] = _STATE.dump_python(state, mode="json")
    return data


def state_from_dict(data: dict[str, Any]) -> PipelineState:
    version = data.get("version")
    if version != STATE_VERSION:
        raise StateVersionError(
            f"stored queue state has version {version!r}; this trunkgate reads {STATE_VERSION}"
        )
    return _STATE.validate_python(data)


def event_to_dict(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = _EVENT.dump_python(event, mode="json")
    return data


def event_from_dict(data: dict[str, Any]) -> Event:
    return _EVENT.validate_python(data)


def action_to_dict(action: Action) -> dict[str, Any]:
    data: dict[str, Any] = _ACTION.dump_python(action, mode="json")
    return data


def action_from_dict(data: dict[str, Any]) -> Action:
    return _ACTION.validate_python(data)
