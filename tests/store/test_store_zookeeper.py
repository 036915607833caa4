"""The ZooKeeper backend's own promises: its address, its chroot, its sessions, reconnects."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pydantic
import pytest
from kazoo.client import KazooClient

from trunkgate.store import Store, StoreError, StoreSettings, TLSSettings, open_store
from trunkgate.store.zkserver import ServerTLS, ZooKeeperServer, free_port

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


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_certificates(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all PEM."""
    files = {name: directory / f"{name}.pem" for name in ["ca", "server", "client", "other-ca"]}
    keys = {name: directory / f"{name}.key" for name in files}
    new_key = ["-newkey", "rsa:2048", "-nodes", "-days", "2"]
    for ca in ["ca", "other-ca"]:
        subject = f"/CN=trunkgate test {ca}"
        openssl("req", "-x509", *new_key, "-subj", subject, "-keyout", keys[ca], "-out", files[ca])
    extensions = directory / "ext.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ["server", "client"]:
        request = directory / f"{name}.csr"
        openssl("req", *new_key, "-subj", f"/CN={name}", "-keyout", keys[name], "-out", request)
        signer = ["-CA", files["ca"], "-CAkey", keys["ca"], "-CAcreateserial"]
        openssl(
            "x509", "-req", "-in", request, *signer, "-days", "2",
            "-extfile", extensions, "-out", files[name],
        )  # fmt: skip
    bundle = directory / "server-bundle.pem"
    bundle.write_text(files["server"].read_text() + keys["server"].read_text())
    return {**files, "client-key": keys["client"], "server-bundle": bundle}


@pytest.fixture(scope="module")
def tls_zookeeper(
    zookeeper: ZooKeeperServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ZooKeeperServer, dict[str, Path]]]:
    """A ZooKeeper that speaks only TLS with client certificates on its secure port."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    directory = tmp_path_factory.mktemp("tls")
    files = make_certificates(directory)
    tls = ServerTLS(cert_and_key=files["server-bundle"], ca=files["ca"], client_ca=files["ca"])
    server = ZooKeeperServer(directory / "zk", tls=tls)
    server.start()
    yield server, files
    server.stop()


async def test_tls_with_a_client_certificate(
    tls_zookeeper: tuple[ZooKeeperServer, dict[str, Path]],
) -> None:
    server, files = tls_zookeeper
    tls = TLSSettings(ca=files["ca"], cert=files["client"], key=files["client-key"])
    settings = StoreSettings(backend="zookeeper", hosts=server.secure_hosts, tls=tls)
    async with await open_store(settings) as store:
        await store.create("/secret", {"over": "tls"})
        assert (await store.children("/")) == ["secret"]


@pytest.mark.parametrize("trouble", ["no client certificate", "server not trusted"])
async def test_a_failed_tls_handshake_is_named(
    tls_zookeeper: tuple[ZooKeeperServer, dict[str, Path]], trouble: str
) -> None:
    server, files = tls_zookeeper
    if trouble == "no client certificate":
        tls = TLSSettings(ca=files["ca"])
    else:
        tls = TLSSettings(ca=files["other-ca"], cert=files["client"], key=files["client-key"])
    settings = StoreSettings(
        backend="zookeeper", hosts=server.secure_hosts, tls=tls, connect_timeout_s=1.0
    )
    with pytest.raises(StoreError, match=r"cannot reach ZooKeeper at .* \(TLS\)") as raised:
        await open_store(settings)
    assert server.secure_hosts in str(raised.value)
    assert "last error" in str(raised.value)
