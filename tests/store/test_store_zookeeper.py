"""The ZooKeeper backend's own promises: its address, its chroot, its sessions, reconnects."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pydantic
import pytest
from kazoo.client import KazooClient

from trunkgate.store import Store, StoreError, StoreSettings, open_store
from trunkgate.store.zkserver import ZooKeeperServer, free_port

PATIENCE = 10.0


@pytest.fixture
def kazoo(zookeeper: ZooKeeperServer) -> Iterator[KazooClient]:
    """A plain ZooKeeper client, to set the scene behind the store's back."""
    client = KazooClient(hosts=zookeeper.hosts)
    client.start(timeout=PATIENCE)
    yield client
    client.stop()
    client.close()


def settings_for(server: ZooKeeperServer, chroot: str, **more: object) -> StoreSettings:
    return StoreSettings.model_validate(
        {"backend": "zookeeper", "hosts": server.hosts, "chroot": chroot, **more}
    )


async def test_an_unreachable_server_is_named(tmp_path: Path) -> None:
    hosts = f"127.0.0.1:{free_port()}"
    settings = StoreSettings(backend="zookeeper", hosts=hosts, connect_timeout_s=0.5)
    with pytest.raises(StoreError, match="cannot reach ZooKeeper") as raised:
        await open_store(settings)
    assert hosts in str(raised.value)


async def test_a_chroot_that_holds_something_else_is_refused(
    zookeeper: ZooKeeperServer, kazoo: KazooClient
) -> None:
    kazoo.create("/nodepool/nodes/0001", b"{}", makepath=True)
    with pytest.raises(StoreError, match="other than a trunkgate store") as raised:
        await open_store(settings_for(zookeeper, "/nodepool"))
    assert "/nodepool" in str(raised.value)
    assert zookeeper.hosts in str(raised.value)
    # ZooKeeper's own node is no place for a store either.
    with pytest.raises(StoreError, match="other than a trunkgate store"):
        await open_store(settings_for(zookeeper, "/zookeeper"))
    kazoo.set("/nodepool", b"not json")
    with pytest.raises(StoreError, match="other than a trunkgate store"):
        await open_store(settings_for(zookeeper, "/nodepool"))
    assert kazoo.get_children("/nodepool") == ["nodes"]


async def test_a_chroot_that_is_not_a_node_path_is_refused() -> None:
    for chroot in ["trunkgate", "/", "/a//b", "/a/"]:
        with pytest.raises(pydantic.ValidationError, match="chroot"):
            StoreSettings(backend="zookeeper", chroot=chroot)
    with pytest.raises(StoreError, match="chroot"):
        await open_store(StoreSettings(backend="zookeeper", hosts="127.0.0.1:2181/trunkgate"))


async def test_a_missing_chroot_is_created_and_deployments_stay_apart(
    zookeeper: ZooKeeperServer, kazoo: KazooClient
) -> None:
    async with (
        await open_store(settings_for(zookeeper, "/ci/east")) as east,
        await open_store(settings_for(zookeeper, "/ci/west")) as west,
    ):
        await east.create("/nodes/n1", 1)
        assert await west.children("/") == []
    marker = json.loads(kazoo.get("/ci/east")[0])
    assert marker["store"] == "trunkgate"
    assert kazoo.get_children("/ci/east/nodes") == ["n1"]


async def test_an_empty_chroot_made_by_an_operator_is_adopted(
    zookeeper: ZooKeeperServer, kazoo: KazooClient
) -> None:
    kazoo.create("/prepared", b"")
    async with await open_store(settings_for(zookeeper, "/prepared")) as store:
        await store.create("/x", 1)
    assert json.loads(kazoo.get("/prepared")[0])["store"] == "trunkgate"


async def test_a_store_from_a_newer_trunkgate_is_refused(
    zookeeper: ZooKeeperServer, kazoo: KazooClient
) -> None:
    kazoo.create("/future", json.dumps({"store": "trunkgate", "schema": 99}).encode())
    with pytest.raises(StoreError, match=r"newer trunkgate.*schema 99"):
        await open_store(settings_for(zookeeper, "/future"))


async def test_without_kazoo_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "kazoo", None)
    monkeypatch.setitem(sys.modules, "kazoo.client", None)
    with pytest.raises(StoreError, match=r"pip install 'trunkgate\[zookeeper\]'"):
        await open_store(StoreSettings(backend="zookeeper"))


def expire_session(server: ZooKeeperServer, store: Store) -> None:
    """End the store's session on the server, as a long network partition would.

    A second client joining the same session and closing it is ZooKeeper's
    documented way to expire a session on purpose.
    """
    client_id = store._client.client_id  # type: ignore[attr-defined]
    twin = KazooClient(hosts=server.hosts, client_id=client_id)
    twin.start(timeout=PATIENCE)
    twin.stop()
    twin.close()


async def test_an_expired_session_is_reported_and_replaced(zookeeper: ZooKeeperServer) -> None:
    settings = settings_for(zookeeper, "/expiry")
    async with (
        await open_store(settings) as store,
        await open_store(settings) as other,
    ):
        held = await store.lock("/l", identity="first", timeout=PATIENCE).acquire()
        await store.create("/launchers/l1", 1, ephemeral=True)
        old_session = store.session_id
        await asyncio.to_thread(expire_session, zookeeper, store)

        async with asyncio.timeout(PATIENCE):
            await held.lost.wait()
        assert held.session_id == old_session
        async with asyncio.timeout(PATIENCE):
            async with other.lock("/l", identity="second", timeout=PATIENCE):
                assert await other.children("/launchers") == []
        # The store carries on in a new session; ephemeral writes wait for it.
        await store.create("/launchers/l1", 2, ephemeral=True)
        assert store.session_id != old_session
        assert not store.session_lost.is_set()
        assert await other.children("/launchers") == ["l1"]


async def test_a_restarted_server_keeps_sessions_and_watches(tmp_path: Path) -> None:
    server = ZooKeeperServer(tmp_path / "zk")
    server.start()
    try:
        settings = settings_for(server, "/restart", session_timeout_s=20.0)
        async with await open_store(settings) as store:
            await store.create("/launchers/l1", 1, ephemeral=True)
            session = store.session_id
            async with store.watch("/launchers") as watch:
                await watch.arm()
                await asyncio.to_thread(server.restart)
                # Reconnecting wakes the watch: changes may have been missed.
                assert await watch.changed(PATIENCE)
                async with await open_store(settings) as other:
                    await other.create("/launchers/l2", 2)
                    assert await watch.changed(PATIENCE)
            assert store.session_id == session
            assert not store.session_lost.is_set()
            assert await store.children("/launchers") == ["l1", "l2"]
    finally:
        server.stop()
