"""Record paths: how they are spelled, checked and taken apart.

A path is absolute, ``/``-separated, without a trailing slash; ``/`` is the
root, which holds records but is not one itself.
"""

from __future__ import annotations

from .errors import StoreError

ROOT = "/"

# ZooKeeper appends a ten-digit counter to sequential records; the SQLite
# backend does the same so that names sort alike on both.
SEQUENCE_DIGITS = 10


def check_path(path: str) -> str:
    """Return ``path`` if it is a valid record path, else raise StoreError."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise StoreError(f"invalid record path {path!r}: it must start with '/'")
    if path == ROOT:
        return path
    if path.endswith("/"):
        raise StoreError(f"invalid record path {path!r}: it must not end with '/'")
    for name in path[1:].split("/"):
        if name in ("", ".", ".."):
            raise StoreError(f"invalid record path {path!r}: empty, '.' or '..' component")
        # ZooKeeper refuses control characters; refuse them everywhere so a
        # path valid on one backend is valid on the other.
        if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name):
            raise StoreError(f"invalid record path {path!r}: control character")
    return path


def check_record_path(path: str) -> str:
    """Like check_path, but the root is refused: it cannot be written."""
    if check_path(path) == ROOT:
        raise StoreError("the root '/' is not a record; use a path below it")
    return path


def check_create_path(path: str, *, sequential: bool) -> str:
    """Like check_record_path; a sequential record's path may end with '/', to
    be named by its number alone."""
    if sequential and path.endswith("/") and path != ROOT:
        check_record_path(path[:-1])
        return path
    return check_record_path(path)


def parent(path: str) -> str:
    """The parent of ``path``; the root's parent is the root."""
    head = path.rsplit("/", 1)[0]
    return head or ROOT


def name(path: str) -> str:
    """The last component of ``path``."""
    return path.rsplit("/", 1)[1]


def join(base: str, child: str) -> str:
    """``child`` (one name) below ``base``."""
    return f"{base.rstrip('/')}/{child}"


def sequence_of(child_name: str) -> int | None:
    """The counter a sequential create appended to ``child_name``, if it has one."""
    tail = child_name[-SEQUENCE_DIGITS:]
    if len(tail) == SEQUENCE_DIGITS and tail.isdigit():
        return int(tail)
    return None


def format_sequence(number: int) -> str:
    return f"{number:0{SEQUENCE_DIGITS}d}"
