"""The pipeline managers: small policies over the one queue engine in
`trunkgate.gate.queue`, and the function that picks one for a pipeline of
the config.
"""

from __future__ import annotations

from trunkgate.config.sections import PipelineSection
from trunkgate.gate.changes import Tree
from trunkgate.gate.queue import QueueManager
from trunkgate.gate.state import Item, PipelineState
from trunkgate.gate.window import SERIAL_WINDOW, WindowPolicy


class DependentManager(QueueManager):
    """Gate: each change is tested on the non-failing changes ahead of it,
    and merged when it reaches the head having passed."""

    kind = "dependent"


class SerialManager(QueueManager):
    """A dependent queue with a window of one: each change is tested alone on
    the branch tip after the one ahead of it has merged or failed."""

    kind = "serial"
    window_policy = SERIAL_WINDOW

    def __init__(self, state: PipelineState, window: WindowPolicy | None = None) -> None:
        super().__init__(state, SERIAL_WINDOW)


class IndependentManager(QueueManager):
    """Check: each change is tested alone on its branch tip, in no order,
    nothing merges, and there is no window."""

    kind = "independent"
    merges = False
    window_policy = None

    def __init__(self, state: PipelineState, window: WindowPolicy | None = None) -> None:
        super().__init__(state, None)

    def tree_for(self, ahead: Tree, item: Item) -> Tree:
        """Alone on its branch tip, with the changes it needs under it."""
        return (*item.needs, item.change)


MANAGERS: dict[str, type[QueueManager]] = {
    "dependent": DependentManager,
    "serial": SerialManager,
    "independent": IndependentManager,
}


def new_state(pipeline: str) -> PipelineState:
    return PipelineState(pipeline=pipeline)


def manager_for(section: PipelineSection, state: PipelineState | None = None) -> QueueManager:
    """The engine of a configured pipeline, over its stored state (or a new one)."""
    if state is None:
        state = new_state(section.name)
    elif state.pipeline != section.name:
        raise ValueError(f"state of pipeline {state.pipeline!r} given for {section.name!r}")
    return MANAGERS[section.manager](state, WindowPolicy.from_config(section.window))
