"""The log store: where builds' directories (console log and artifacts) are
kept for the web to read, on this host's disk or in an S3 bucket. An
executor publishes a build's directory under its key (`BUILD/JOB`); a web
server on any host fetches it::

    store = open_log_store(config)
    await store.publish(build_dir, "change-12-3f2a9c1e/unit")
    if await store.fetch("change-12-3f2a9c1e/unit", cache_dir):
        ...
    await store.close()

Components import from here, never from a backend. The S3 backend (and
boto3) is imported only when first named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import LogStore, StoredObject
from .directory import DirectoryLogStore
from .errors import LogStoreError, TooLarge
from .keys import check_key
from .limits import MAX_BYTES, MAX_OBJECTS, Limits
from .opening import open_log_store

if TYPE_CHECKING:
    from .s3 import S3LogStore, S3Settings

__all__ = [
    "MAX_BYTES",
    "MAX_OBJECTS",
    "DirectoryLogStore",
    "Limits",
    "LogStore",
    "LogStoreError",
    "S3LogStore",
    "S3Settings",
    "StoredObject",
    "TooLarge",
    "check_key",
    "open_log_store",
]


def __getattr__(name: str) -> object:
    if name in ("S3LogStore", "S3Settings"):
        from . import s3

        return getattr(s3, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
