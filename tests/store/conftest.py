"""Fixtures for the store's contract suite: every test runs on SQLite and on a real ZooKeeper.

``backend`` is the parameter; ``open_store`` opens another store on the same
shared state (a second process, as far as the store can tell); ``store`` is
the first one. ZooKeeper runs once per session; each test gets its own
chroot, each SQLite test its own file.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from trunkgate.store import Store, StoreSettings
from trunkgate.store import open_store as open_any_store
from trunkgate.store.zkserver import ZooKeeperServer, ZooKeeperUnavailable, missing

BACKENDS = ["sqlite", "zookeeper"]

OpenStore = Callable[..., Awaitable[Store]]

_chroots = itertools.count()


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeperServer]:
    """A real ZooKeeper server for the whole run; a skip without one, a failure on CI."""
    reason = missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"ZooKeeper is required on CI: {reason}")
        pytest.skip(f"ZooKeeper is not available: {reason}")
    server = ZooKeeperServer(tmp_path_factory.mktemp("zookeeper"))
    try:
        server.start()
    except ZooKeeperUnavailable as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreSettings:
    """Settings for a fresh, empty store of ``backend``, with short leases for fault tests."""
    if backend == "sqlite":
        return StoreSettings(backend="sqlite", path=tmp_path / "store.db", lease_s=1.0)
    server: ZooKeeperServer = request.getfixturevalue("zookeeper")
    return StoreSettings(
        backend="zookeeper",
        hosts=server.hosts,
        chroot=f"/test{next(_chroots)}",
        session_timeout_s=1.0,
        connect_timeout_s=5.0,
    )


@pytest.fixture
async def open_store(settings: StoreSettings) -> AsyncIterator[OpenStore]:
    """Opens stores on the test's shared state; closes them all afterwards."""
    opened: list[Store] = []

    async def opener(**changes: Any) -> Store:
        store = await open_any_store(settings.model_copy(update=changes))
        opened.append(store)
        return store

    yield opener
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store()


CHILD = Path(__file__).with_name("child.py")

ChildCommand = Callable[..., list[str]]


@pytest.fixture
def child_command(settings: StoreSettings) -> ChildCommand:
    """Command lines running tests/store/child.py, another process, on the test's store."""

    def command(*args: str) -> list[str]:
        return [sys.executable, str(CHILD), settings.model_dump_json(), *args]

    return command


async def until_children(store: Store, path: str, count: int, patience: float = 10.0) -> None:
    """Wait, by the store's own watch, until ``path`` has at least ``count`` children."""
    async with asyncio.timeout(patience):
        async for _ in store.watch(path):
            if len(await store.children(path)) >= count:
                return
