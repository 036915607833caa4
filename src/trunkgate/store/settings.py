"""How to reach the store: which backend, and that backend's file, address and timeouts."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pydantic


class TLSSettings(pydantic.BaseModel):
    """Client TLS for ZooKeeper: the CA to trust and, for mutual TLS, a certificate and key."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    verify: bool = True

    @pydantic.model_validator(mode="after")
    def _cert_and_key_together(self) -> TLSSettings:
        if (self.cert is None) != (self.key is None):
            raise ValueError("tls: give both cert and key, or neither")
        return self


class StoreSettings(pydantic.BaseModel):
    """The ``store:`` section of the configuration."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    backend: Literal["sqlite", "zookeeper"] = "sqlite"
    # sqlite: the database file; several processes on this host may share it.
    path: Path = Path("trunkgate-store.db")
    # sqlite: a session that has not renewed its lease for this long is dead.
    lease_s: float = pydantic.Field(default=10.0, gt=0)
    # zookeeper: comma-separated host:port list.
    hosts: str = "127.0.0.1:2181"
    # zookeeper: the node under which this deployment keeps its records.
    chroot: str = "/trunkgate"
    tls: TLSSettings | None = None
    session_timeout_s: float = pydantic.Field(default=10.0, gt=0)
    # zookeeper: how long to try to reach a server when opening the store.
    connect_timeout_s: float = pydantic.Field(default=10.0, gt=0)

    @pydantic.field_validator("chroot")
    @classmethod
    def _chroot_is_a_node_path(cls, chroot: str) -> str:
        names = chroot[1:].split("/")
        if not chroot.startswith("/") or chroot == "/" or any(n in ("", ".", "..") for n in names):
            raise ValueError(
                f"chroot {chroot!r} must be an absolute ZooKeeper path below the root, "
                "like /trunkgate"
            )
        return chroot
