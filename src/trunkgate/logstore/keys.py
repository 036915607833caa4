"""Keys and names in a log store, as pure functions: which keys are valid,
how an object's key is made from a prefix, a build's key and a file's name,
and which names may be written below a directory when fetched. No I/O here.

A *key* names a build's directory (`BUILD/JOB`, as the executor names it);
a *name* is a file's path below it (`console.log`, `artifacts/report.txt`).
"""

from __future__ import annotations

import re

#: What one part of a key may hold: the executor's build and job names.
_KEY_PART = re.compile(r"[A-Za-z0-9_.+-]+")
#: The longest key taken: an object's whole key is at most 1024 bytes in S3.
MAX_KEY_LENGTH = 512


def check_key(key: str) -> str:
    """`key`, when it is a relative path of safe parts (letters, digits and
    . _ + -, not '.' or '..'); ValueError otherwise. A key becomes both a
    directory's path and an object's key, so nothing in it may climb out."""
    parts = key.split("/")
    if (
        not key
        or len(key) > MAX_KEY_LENGTH
        or any(part in (".", "..") or not _KEY_PART.fullmatch(part) for part in parts)
    ):
        raise ValueError(
            f"{key!r} is not a log key: a relative path whose parts are letters, digits "
            "and . _ + - (not '.' or '..', none empty)"
        )
    return key


def key_parts(key: str) -> tuple[str, ...]:
    """The parts of a valid key, as a directory's path below a root."""
    return tuple(check_key(key).split("/"))


def key_prefix(prefix: str, key: str) -> str:
    """What every object's key of the build `key` starts with, ending in '/'
    so that `b/job` never lists the objects of `b/job2`."""
    return "/".join(p for p in (prefix.strip("/"), check_key(key)) if p) + "/"


def object_key(prefix: str, key: str, name: str) -> str:
    """The object's key of file `name` of the build `key`."""
    return key_prefix(prefix, key) + name


def name_parts(name: str) -> tuple[str, ...] | None:
    """The parts of a file's `name` below a build's directory, to be written
    there; None when the name could land anywhere else or nowhere: empty,
    absolute, with a NUL, an empty part, '.' or '..'. An object's key in a
    bucket is any text that anyone with write access chose."""
    if not name or "\x00" in name or name.startswith("/"):
        return None
    parts = tuple(name.split("/"))
    if any(part in ("", ".", "..") for part in parts):
        return None
    return parts
