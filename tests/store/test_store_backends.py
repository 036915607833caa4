"""Backends are found by name; settings pick one."""

from __future__ import annotations

from pathlib import Path

import pytest

from trunkgate.store import SCHEMA_VERSION, StoreError, StoreSettings, open_store
from trunkgate.store.backends import backend_names, find_backend
from trunkgate.store.sqlite import SqliteStore


def test_the_built_in_backends_are_known() -> None:
    assert {"sqlite", "zookeeper"} <= set(backend_names())
    assert SCHEMA_VERSION >= 1


def test_an_unknown_backend_is_named_with_the_known_ones() -> None:
    with pytest.raises(StoreError, match=r"unknown store backend 'etcd'.*sqlite"):
        find_backend("etcd")


async def test_sqlite_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with await open_store(StoreSettings()) as store:
        assert isinstance(store, SqliteStore)
        await store.create("/x", 1)
    assert (tmp_path / "trunkgate-store.db").is_file()


def test_tls_needs_a_certificate_and_its_key_together() -> None:
    with pytest.raises(ValueError, match="both cert and key"):
        StoreSettings.model_validate({"backend": "zookeeper", "tls": {"cert": "client.pem"}})
