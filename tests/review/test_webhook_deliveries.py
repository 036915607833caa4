"""The ids of GitHub deliveries kept to know one sent again: the latest
stay (a thousand on a site), the oldest go once the list has grown a
tenth past that."""

from __future__ import annotations

from pathlib import Path

from trunkgate.store import StoreSettings, open_store
from trunkgate.web.webhook_api import _forget_old

MOST = 20

PARENT = "/sources/hub/deliveries"


async def test_only_the_latest_delivery_ids_are_kept(tmp_path: Path) -> None:
    store = await open_store(StoreSettings(backend="sqlite", path=tmp_path / "state.db"))
    try:
        over = MOST * 11 // 10
        for number in range(over):
            await store.create(f"{PARENT}/d{number:05d}", float(number))
        await _forget_old(store, PARENT, MOST)
        assert len(await store.children(PARENT)) == over, "not yet a tenth over: all kept"
        await store.create(f"{PARENT}/d{over:05d}", float(over))
        await _forget_old(store, PARENT, MOST)
        kept = sorted(await store.children(PARENT))
        assert len(kept) == MOST
        assert kept[0] == f"d{over + 1 - MOST:05d}"
        assert kept[-1] == f"d{over:05d}"
    finally:
        await store.close()
