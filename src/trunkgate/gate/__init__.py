"""The pure decision core of the pipelines: queue state, the events that
drive it, the actions it asks for, and the managers (independent, dependent,
serial) that decide. No I/O here; the scheduler carries out the actions.
"""

from trunkgate.builds.results import BuildResult
from trunkgate.gate.actions import (
    Action,
    Awaited,
    CancelBuild,
    JobResult,
    Merge,
    PrepareMerge,
    Report,
    StartJob,
)
from trunkgate.gate.changes import ChangeRef, JobSpec, Tree, format_tree
from trunkgate.gate.codec import (
    StateVersionError,
    action_from_dict,
    action_to_dict,
    event_from_dict,
    event_to_dict,
    state_from_dict,
    state_to_dict,
)
from trunkgate.gate.events import (
    BuildFinished,
    BuildStarted,
    Dequeue,
    Enqueue,
    Event,
    ItemMerged,
    MergeConflict,
    MergeFailed,
    MergePrepared,
    NewPatchset,
    Promote,
)
from trunkgate.gate.manager import (
    MANAGERS,
    DependentManager,
    IndependentManager,
    SerialManager,
    manager_for,
    new_state,
)
from trunkgate.gate.queue import QueueManager
from trunkgate.gate.results import ItemResult
from trunkgate.gate.state import STATE_VERSION, PipelineState, TransitionError
from trunkgate.gate.window import SERIAL_WINDOW, WindowPolicy

__all__ = [
    "MANAGERS",
    "SERIAL_WINDOW",
    "STATE_VERSION",
    "Action",
    "Awaited",
    "BuildFinished",
    "BuildResult",
    "BuildStarted",
    "CancelBuild",
    "ChangeRef",
    "DependentManager",
    "Dequeue",
    "Enqueue",
    "Event",
    "IndependentManager",
    "ItemMerged",
    "ItemResult",
    "JobResult",
    "JobSpec",
    "Merge",
    "MergeConflict",
    "MergeFailed",
    "MergePrepared",
    "NewPatchset",
    "PipelineState",
    "PrepareMerge",
    "Promote",
    "QueueManager",
    "Report",
    "SerialManager",
    "StartJob",
    "StateVersionError",
    "TransitionError",
    "Tree",
    "WindowPolicy",
    "action_from_dict",
    "action_to_dict",
    "event_from_dict",
    "event_to_dict",
    "format_tree",
    "manager_for",
    "new_state",
    "state_from_dict",
    "state_to_dict",
]
