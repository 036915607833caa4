"""The store's exceptions: every error a backend can raise, as the components see it.

Backends translate their library's errors (sqlite3, kazoo) into these at the
boundary; nothing from those libraries reaches a caller.
"""

from __future__ import annotations


class StoreError(Exception):
    """Something went wrong with the store; the message names the file or address."""


class RecordExists(StoreError):
    """A record was created at a path that already holds one."""

    def __init__(self, path: str) -> None:
        super().__init__(f"a record already exists at {path}")
        self.path = path


class NoRecord(StoreError):
    """An operation needed a record (or its parent) that does not exist."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no record at {path}")
        self.path = path


class NotEmpty(StoreError):
    """A record with children was deleted without ``recursive=True``."""

    def __init__(self, path: str) -> None:
        super().__init__(f"the record at {path} has children")
        self.path = path


class VersionConflict(StoreError):
    """A compare-and-set write or check found a version other than the expected one."""

    def __init__(self, path: str, expected: int | None = None) -> None:
        detail = f" (expected version {expected})" if expected is not None else ""
        super().__init__(f"the record at {path} has moved on{detail}")
        self.path = path
        self.expected = expected


class LockTimeout(StoreError):
    """A lock was not acquired within its timeout."""

    def __init__(self, path: str, timeout: float, owner: str | None) -> None:
        held = f"; held by {owner}" if owner is not None else ""
        super().__init__(f"lock {path} not acquired within {timeout:g} s{held}")
        self.path = path
        self.timeout = timeout
        self.owner = owner


class SessionLost(StoreError):
    """The session ended: its ephemeral records and locks are gone."""
