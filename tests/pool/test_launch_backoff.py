"""A static provider whose host fails: the launcher backs off (exponential,
capped, reset on success) instead of launching again at once, and says why
in `trunkgate nodes`, `trunkgate requests` and its log; a provider that is
full pauses and keeps the request rather than failing it. Time is a clock
the test moves."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import asyncssh
import pytest

from tests.pool.site import PoolSite, launches
from tests.pool.test_pool_commands import trunkgate
from tests.pool.test_serve import free_port
from trunkgate.pool.backoff import QUOTA_PAUSE
from trunkgate.pool.driver import NodeSpec
from trunkgate.pool.drivers.namespace import NamespaceDriver, NamespaceSettings
from trunkgate.pool.launcher import Launcher
from trunkgate.pool.states import RequestState


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def answers_ssh(address: str) -> None:
    """Wait (bounded) until a machine just made accepts connections."""
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection(address, 22)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise AssertionError(f"{address} never answered")


async def passes(launcher: Launcher, count: int) -> None:
    """Let the launcher look at the pool `count` times, each pass's work done."""
    for _ in range(count):
        await launcher.step()
        await launcher.drain()


async def test_a_host_refusing_connections_is_backed_off_not_stormed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site = PoolSite(
        tmp_path,
        f"""\
        labels:
          - name: bare
            min-ready: 1
        providers:
          - name: lab
            driver: static
            hosts:
              - {{name: dead, address: 127.0.0.1, port: {free_port()}, labels: [bare]}}
            labels: [{{name: bare}}]
        """,
    )
    await site.open()
    try:
        # Ahead of the wall clock, so `trunkgate nodes` sees the backoff still run.
        clock = Clock(time.time() + 600)
        launcher = site.launcher("lab", clock=clock)
        await site.records.ensure_layout()
        failed_before = launches("lab", "failure")

        def failures() -> float:
            return launches("lab", "failure") - failed_before

        with caplog.at_level(logging.WARNING, logger="trunkgate.pool.launcher"):
            await passes(launcher, 10)
        assert failures() == 1
        assert "backing off 1s after 1 failed launch" in caplog.text
        assert "host dead: [Errno 111] Connect call failed" in caplog.text
        code, out, _ = await trunkgate(site, "nodes")
        assert code == 0
        assert "provider lab backing off for" in out
        assert (
            "after 1 failed launch in a row; last: node 0000000000: host dead: [Errno 111]" in out
        )
        assert "provider lab host dead backing off" in out
        # Each failure doubles the wait; nothing is launched meanwhile.
        expected = 1
        for wait in (1.0, 2.0, 4.0, 8.0):
            clock.now += wait - 0.5
            await passes(launcher, 5)
            assert failures() == expected
            clock.now += 0.5
            await passes(launcher, 5)
            expected += 1
            assert failures() == expected
        assert site.records is not None
        (status,) = (await site.records.provider_statuses()).values()
        assert status.launches.failures == 5
        assert status.launches.until == clock.now + 16.0
    finally:
        await site.close()


async def test_a_full_provider_keeps_the_request_and_serves_it_once_room_frees(
    tmp_path: Path,
) -> None:
    # One machine that "already exists", opened by the operator's key.
    (tmp_path / "site" / "data").mkdir(parents=True)
    operator = asyncssh.generate_private_key("ssh-ed25519")
    operator.write_private_key(tmp_path / "site" / "data" / "operator_key")
    machines = NamespaceDriver("machines", NamespaceSettings(state_dir=tmp_path / "machines"))
    machine = await machines.create(
        NodeSpec(
            node_id="m0",
            name="machine-0",
            provider="machines",
            label="x",
            image="host",
            client_key=operator.export_public_key().decode(),
        )
    )
    await answers_ssh(machine.address)
    site = PoolSite(
        tmp_path / "site",
        "labels:\n  - name: bare\nproviders:\n  - name: lab\n    driver: static\n"
        f"    hosts:\n      - {{name: m0, address: '{machine.address}', labels: [bare], "
        "key: data/operator_key}\n    labels: [{name: bare}]\n",
    )
    await site.open()
    try:
        # Another launcher on this host has the only machine: the provider is full.
        someone_else = await site.drivers["lab"].create(
            NodeSpec(
                "elsewhere",
                "elsewhere",
                "lab",
                "bare",
                "host",
                operator.export_public_key().decode(),
            )
        )
        clock = Clock(time.time() + 600)
        site.start("lab", clock=clock)
        wanted = asyncio.ensure_future(
            site.client.request_nodes(["bare"], requestor="test", build="b")
        )

        async def paused() -> None:
            assert site.store is not None
            async with site.store.watch("/pool/providers") as watch:
                while True:
                    statuses = (await site.records.provider_statuses()).values()
                    if any(s.quota_until for s in statuses):
                        return
                    await watch.changed(1.0)

        await asyncio.wait_for(paused(), timeout=30)
        (request,) = await site.records.requests()
        assert request.state == RequestState.REQUESTED
        assert request.declined_by == []
        assert not wanted.done()
        code, out, _ = await trunkgate(site, "requests")
        assert code == 0
        assert "lab paused" in out, out
        # The machine comes back; the pause ends and the request is served.
        await site.drivers["lab"].delete(someone_else.external_id)
        clock.now += QUOTA_PAUSE
        grant = await asyncio.wait_for(wanted, timeout=30)
        assert grant.nodes[0].provider == "lab"
        assert grant.request.declined_by == []
    finally:
        await site.close()
        await machines.delete(machine.external_id)
