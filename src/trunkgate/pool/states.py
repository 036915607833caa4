"""Node and node-request states and the one table of allowed transitions.
A transition that is not in the table raises; nothing else decides it."""

from __future__ import annotations

from enum import StrEnum


class NodeState(StrEnum):
    BUILDING = "building"
    READY = "ready"
    IN_USE = "in-use"
    USED = "used"
    HOLD = "hold"
    DELETING = "deleting"
    FAILED = "failed"
    #: A reusable machine being made pristine again (see `pool.resetting`).
    RESETTING = "resetting"
    #: A reusable machine whose reset failed: kept out of the pool until
    #: `trunkgate node reset` tries again.
    RESET_FAILED = "reset-failed"


class LaunchStep(StrEnum):
    """How far a building node's launch got: written before each call to the
    provider and after each answer, so that whoever takes over from a dead
    launcher knows from the record alone what exists of the node."""

    #: Only the record (and the node's key): the provider was asked for nothing.
    RECORDED = "recorded"
    #: The provider was asked to create it: an instance may exist that only
    #: its tags name.
    CREATING = "creating"
    #: The instance's id and address are recorded; SSH is not known ready.
    CREATED = "created"
    #: SSH answered and the ready command passed.
    READY = "ready"


class RequestState(StrEnum):
    REQUESTED = "requested"
    PENDING = "pending"
    FULFILLED = "fulfilled"
    FAILED = "failed"


class InvalidTransition(Exception):
    def __init__(self, what: str, old: str, new: str) -> None:
        super().__init__(f"{what} cannot go from {old} to {new}")


N = NodeState
NODE_TRANSITIONS: dict[NodeState, frozenset[NodeState]] = {
    N.BUILDING: frozenset({N.READY, N.FAILED, N.DELETING}),
    N.READY: frozenset({N.IN_USE, N.HOLD, N.DELETING}),
    N.IN_USE: frozenset({N.USED, N.HOLD, N.DELETING, N.READY, N.RESETTING}),
    N.USED: frozenset({N.DELETING, N.READY, N.RESETTING}),
    N.HOLD: frozenset({N.DELETING, N.USED}),
    N.FAILED: frozenset({N.DELETING, N.RESETTING}),
    N.DELETING: frozenset({N.RESETTING}),
    N.RESETTING: frozenset({N.RESET_FAILED, N.DELETING}),
    N.RESET_FAILED: frozenset({N.RESETTING, N.DELETING}),
}

R = RequestState
REQUEST_TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    R.REQUESTED: frozenset({R.PENDING, R.FULFILLED, R.FAILED}),
    R.PENDING: frozenset({R.FULFILLED, R.FAILED, R.REQUESTED}),
    R.FULFILLED: frozenset(),
    R.FAILED: frozenset(),
}

# Nodes that take a share of their provider's max-servers.
USES_CAPACITY = frozenset(NodeState)  # until its instance is gone, a node takes a slot
# Nodes a request may be given.
AVAILABLE = frozenset({N.READY})
# Nodes on their way to ready, counted against min-ready.
COMING = frozenset({N.BUILDING, N.READY})


def node_transition(old: NodeState, new: NodeState) -> NodeState:
    if new != old and new not in NODE_TRANSITIONS[old]:
        raise InvalidTransition("a node", old, new)
    return new


def request_transition(old: RequestState, new: RequestState) -> RequestState:
    if new != old and new not in REQUEST_TRANSITIONS[old]:
        raise InvalidTransition("a node request", old, new)
    return new
