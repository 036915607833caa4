"""The store: all state shared between trunkgate's components, behind one interface.

A tree of versioned JSON records with compare-and-set writes, ephemeral
records, locks, change notifications and transactions, on SQLite (one host)
or ZooKeeper (many). Components import from here, never from a backend::

    store = await open_store(settings.store)
    async for _ in store.watch("/requests"):       # at once, then on each change
        for name in await store.children("/requests"):
            request = await store.get_model(f"/requests/{name}", NodeRequest)
            ...
            async with store.lock(f"/requests/{name}/lock", identity=me, timeout=5) as held:
                ...                                # stop once held.lost is set
                await store.set(path, updated, version=request.version)  # or VersionConflict
"""

from .backends import open_store
from .base import Session, Store
from .errors import (
    LockTimeout,
    NoRecord,
    NotEmpty,
    RecordExists,
    SessionLost,
    StoreError,
    VersionConflict,
)
from .locking import HeldLock, Lock
from .records import JSON, Record
from .schema import SCHEMA_VERSION
from .settings import StoreSettings, TLSSettings
from .transaction import Transaction
from .watching import Watch

__all__ = [
    "JSON",
    "SCHEMA_VERSION",
    "HeldLock",
    "Lock",
    "LockTimeout",
    "NoRecord",
    "NotEmpty",
    "Record",
    "RecordExists",
    "Session",
    "SessionLost",
    "Store",
    "StoreError",
    "StoreSettings",
    "TLSSettings",
    "Transaction",
    "VersionConflict",
    "Watch",
    "open_store",
]
