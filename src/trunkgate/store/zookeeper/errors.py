"""Turning kazoo's exceptions into the store's, at the boundary, with the address in them."""

from __future__ import annotations

from kazoo import exceptions as kx

from .. import paths
from ..errors import NoRecord, NotEmpty, RecordExists, SessionLost, StoreError, VersionConflict

# Statuses kazoo gives to the operations of a failed transaction that did not
# themselves fail: the real cause is elsewhere in the list.
BYSTANDERS = (kx.RolledBackError, kx.RuntimeInconsistency)


def translate(exc: BaseException, *, action: str, path: str, address: str) -> StoreError:
    """The store error for ``exc``, raised by ``action`` (a verb) on ``path``."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, kx.NoNodeError):
        # A create fails this way only when its parent is missing.
        return NoRecord(paths.parent(path) if action == "create" else path)
    if isinstance(exc, kx.NodeExistsError):
        return RecordExists(path)
    if isinstance(exc, kx.BadVersionError):
        return VersionConflict(path)
    if isinstance(exc, kx.NotEmptyError):
        return NotEmpty(path)
    if isinstance(exc, kx.NoChildrenForEphemeralsError):
        return StoreError(f"cannot create {path}: its parent {paths.parent(path)} is ephemeral")
    if isinstance(exc, kx.SessionExpiredError):
        return SessionLost(f"the session with {address} expired during {action} {path}")
    if isinstance(exc, kx.ConnectionLoss | kx.ConnectionClosedError):
        return StoreError(
            f"the connection to {address} dropped during {action} {path}; "
            "a write may or may not have been applied"
        )
    if isinstance(exc, kx.AuthFailedError | kx.NoAuthError):
        return StoreError(f"{address} refused {action} {path}: not authorised")
    return StoreError(f"{address}: {action} {path} failed: {type(exc).__name__} {exc}")
