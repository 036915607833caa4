"""The ZooKeeper store backend, for trunkgate spread over several machines.

kazoo is optional: it is imported only when this backend is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import StoreError
from ..settings import StoreSettings

if TYPE_CHECKING:
    from .store import ZooKeeperStore

INSTALL_HINT = "pip install 'trunkgate[zookeeper]'"


async def open_zookeeper(settings: StoreSettings) -> ZooKeeperStore:
    try:
        import kazoo.client  # noqa: F401
    except ImportError:
        raise StoreError(
            f"the zookeeper store backend needs the kazoo package: {INSTALL_HINT}"
        ) from None
    from .store import ZooKeeperStore

    return await ZooKeeperStore.open(settings)


__all__ = ["INSTALL_HINT", "open_zookeeper"]
