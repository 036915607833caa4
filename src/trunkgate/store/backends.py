"""Finding a store backend by name, and opening a store from settings.

The built-in backends are named here; others register under the entry point
group ``trunkgate.store_backends``. A backend module is imported only when
chosen, so an optional dependency (kazoo) is needed only by those who use it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Awaitable, Callable
from typing import cast

from .base import Store
from .errors import StoreError
from .settings import StoreSettings

ENTRY_POINT_GROUP = "trunkgate.store_backends"

Opener = Callable[[StoreSettings], Awaitable[Store]]

_BUILTIN = {
    "sqlite": "trunkgate.store.sqlite.store:open_sqlite",
    "zookeeper": "trunkgate.store.zookeeper:open_zookeeper",
}


def backend_names() -> list[str]:
    found = {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(found | set(_BUILTIN))


def find_backend(name: str) -> Opener:
    """The function that opens a store of backend ``name``."""
    target = _BUILTIN.get(name)
    if target is None:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == name:
                target = ep.value
                break
    if target is None:
        raise StoreError(f"unknown store backend {name!r}; known: {', '.join(backend_names())}")
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return cast(Opener, getattr(module, attr))


async def open_store(settings: StoreSettings) -> Store:
    """Open the store the settings describe, with a fresh session."""
    return await find_backend(settings.backend)(settings)
