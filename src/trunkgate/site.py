"""What every component of a running site starts from: the loaded config and
the store it names. Nothing here runs a component."""

from __future__ import annotations

from pathlib import Path

import pydantic

from trunkgate.config.loader import Config
from trunkgate.store import Store, StoreError, StoreSettings, TLSSettings, open_store

STORE_FILE = "state.db"


def store_settings(config: Config) -> StoreSettings:
    state = config.state
    path = config.resolve(state.path) if state.path else config.data_dir / STORE_FILE
    tls = None
    if state.tls is not None:
        tls = TLSSettings(
            ca=Path(config.resolve(state.tls.ca)),
            cert=Path(config.resolve(state.tls.cert)),
            key=Path(config.resolve(state.tls.key)),
        )
    try:
        return StoreSettings(
            backend=state.backend,
            path=path,
            lease_s=state.lease,
            hosts=state.hosts,
            chroot=state.chroot,
            tls=tls,
            session_timeout_s=state.session_timeout,
        )
    except pydantic.ValidationError as exc:
        problems = "; ".join(e["msg"] for e in exc.errors())
        raise StoreError(f"state settings of {config.files[0]}: {problems}") from None


async def open_site_store(config: Config) -> Store:
    settings = store_settings(config)
    if settings.backend == "sqlite":
        settings.path.parent.mkdir(parents=True, exist_ok=True)
    return await open_store(settings)
