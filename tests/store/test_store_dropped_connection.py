"""Writes to ZooKeeper whose connection drops midway, for real, through a
proxy that cuts it: a write the server applied is not applied twice, one it
never saw is sent again, and a session that ends meanwhile is reported."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from trunkgate.store import SessionLost, Store, StoreSettings, open_store
from trunkgate.store.zkserver import ZooKeeperServer

from .tcpproxy import CREATE, DELETE, MULTI, SET_DATA, ZooKeeperProxy

PATIENCE = 20.0


@pytest.fixture
def proxy(zookeeper: ZooKeeperServer) -> Iterator[ZooKeeperProxy]:
    with ZooKeeperProxy(("127.0.0.1", zookeeper.port)) as proxy:
        yield proxy


@pytest.fixture
async def stores(
    zookeeper: ZooKeeperServer, proxy: ZooKeeperProxy, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Store, Store]]:
    """A store through the proxy, and one that talks to the server directly."""
    chroot = f"/dropped-{request.node.name.replace('[', '-').rstrip(']')}"
    common = {"backend": "zookeeper", "chroot": chroot, "connect_timeout_s": 5.0}
    cut = await open_store(
        StoreSettings.model_validate({**common, "hosts": proxy.hosts, "session_timeout_s": 4.0})
    )
    direct = await open_store(StoreSettings.model_validate({**common, "hosts": zookeeper.hosts}))
    yield cut, direct
    await cut.close()
    await direct.close()


async def test_a_compare_and_set_answered_on_a_dropped_connection_is_applied_once(
    stores: tuple[Store, Store], proxy: ZooKeeperProxy
) -> None:
    store, other = stores
    await store.create("/counter", 1)
    proxy.cut_after(SET_DATA)
    assert await store.set("/counter", 2, version=0) == 1
    assert proxy.cuts == 1
    record = await other.get("/counter")
    assert record is not None
    assert (record.value, record.version) == (2, 1)


async def test_a_compare_and_set_the_server_never_saw_is_sent_again(
    stores: tuple[Store, Store], proxy: ZooKeeperProxy
) -> None:
    store, other = stores
    await store.create("/counter", 1)
    proxy.cut_before(SET_DATA)
    assert await store.set("/counter", 2, version=0) == 1
    assert proxy.cuts == 1
    record = await other.get("/counter")
    assert record is not None
    assert record.value == 2


async def test_creates_and_deletes_answered_on_a_dropped_connection_succeed(
    stores: tuple[Store, Store], proxy: ZooKeeperProxy
) -> None:
    store, other = stores
    await store.ensure_path("/a")
    proxy.cut_after(CREATE)
    assert await store.create("/a/plain", {"x": 1}) == "/a/plain"
    proxy.cut_after(CREATE)
    assert await store.create("/a/mine", "me", ephemeral=True) == "/a/mine"
    proxy.cut_after(CREATE)
    contender = await store.create("/a/lock-", "me", ephemeral=True, sequential=True)
    assert proxy.cuts == 3
    assert await other.children("/a") == sorted(["plain", "mine", contender.rsplit("/", 1)[1]])
    proxy.cut_after(DELETE)
    await store.delete("/a/plain")
    assert proxy.cuts == 4
    assert "plain" not in await other.children("/a")
    # The ephemerals are the session's: they go with it, not before.
    await store.close()
    assert await other.children("/a") == []


async def test_a_transaction_answered_on_a_dropped_connection_is_applied_once(
    stores: tuple[Store, Store], proxy: ZooKeeperProxy
) -> None:
    store, other = stores
    await store.create("/state", 1)
    await store.create("/input", "event")
    proxy.cut_after(MULTI)
    transaction = store.transaction().set("/state", 2, version=0).delete("/input")
    assert await transaction.commit() == [1, None]
    assert proxy.cuts == 1
    record = await other.get("/state")
    assert record is not None
    assert (record.value, record.version) == (2, 1)
    assert await other.get("/input") is None


async def test_an_ephemeral_write_across_a_lost_session_is_not_retried(
    stores: tuple[Store, Store], proxy: ZooKeeperProxy
) -> None:
    store, other = stores
    await store.ensure_path("/launchers")
    lost = store.session_lost
    proxy.refusing = True
    proxy.cut_before(CREATE)
    creating = asyncio.ensure_future(store.create("/launchers/me", "me", ephemeral=True))
    # The server ends the silent session after its timeout; only then come back.
    async with asyncio.timeout(PATIENCE):
        await lost.wait()
    proxy.refusing = False
    with pytest.raises(SessionLost):
        async with asyncio.timeout(PATIENCE):
            await creating
    assert await other.children("/launchers") == []


async def test_a_reconnect_whose_handshake_goes_unanswered_tries_again_within_the_session(
    stores: tuple[Store, Store], proxy: ZooKeeperProxy
) -> None:
    """A server that is starting can take a connection and never answer it:
    the store must try again soon enough to find its session still there."""
    store, other = stores
    await store.create("/launchers/me", "me", ephemeral=True)
    session = store.session_id
    proxy.silent = 1
    proxy.drop_all()
    async with asyncio.timeout(PATIENCE):
        await store.create("/launchers/again", "me")
    assert proxy.silent == 0
    assert store.session_id == session
    assert not store.session_lost.is_set()
    assert await other.children("/launchers") == ["again", "me"]
