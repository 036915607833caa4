"""Did a write land? What a re-read after a dropped connection says about a
compare-and-set, decided without I/O.

Two writers putting the same bytes at the same version cannot be told apart
by a read; such writes have the same effect, so either answer is right.
"""

from __future__ import annotations

from typing import Final

from ..errors import StoreError, VersionConflict


class _Unsent:
    def __repr__(self) -> str:
        return "UNSENT"


UNSENT: Final = _Unsent()
"""The write did not land: send it again."""


def set_outcome(
    path: str, found: bytes, found_version: int, data: bytes, version: int | None
) -> int | _Unsent:
    """The new version if a set of ``data`` (at ``version``, None: any) landed,
    UNSENT if it did not; VersionConflict when another writer got there first,
    StoreError when nothing can tell."""
    if version is None:
        # A blind write is sent again unless the record already says it.
        return found_version if found == data else UNSENT
    if found_version == version:
        return UNSENT
    if found_version == version + 1 and found == data:
        return found_version
    if found_version == version + 1:
        raise VersionConflict(path, version)
    # Moved on by more than one write: ours may be among them, or not.
    raise StoreError(
        f"the record at {path} moved on while the connection was down; "
        f"a write of version {version} may or may not have been applied"
    )
