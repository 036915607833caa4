"""Launchers on real namespace nodes, reached over real SSH: min-ready across
providers, max-servers under load, multi-node nodesets, failing providers."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from tests.pool.site import PoolSite, launches
from trunkgate.pool import launcher as launcher_module
from trunkgate.pool import layout
from trunkgate.pool.client import NodeRequestFailed
from trunkgate.pool.decisions import REFILL_QUIET
from trunkgate.pool.holding import FinishedBuild, HoldPolicy
from trunkgate.pool.states import USES_CAPACITY, NodeState, RequestState
from trunkgate.store.locking import contenders

TWO_PROVIDERS = """\
labels:
  - name: small
    min-ready: {min_ready}
providers:
  - name: east
    driver: namespace
    max-servers: {max_servers}
    labels: [{{name: small}}]
  - name: west
    driver: namespace
    max-servers: {max_servers}
    labels: [{{name: small}}]
"""


@pytest.fixture
async def make_site(tmp_path: Path) -> AsyncIterator[object]:
    sites: list[PoolSite] = []

    async def make(text: str) -> PoolSite:
        site = PoolSite(tmp_path / f"site{len(sites)}", text)
        sites.append(site)
        await site.open()
        return site

    yield make
    for site in sites:
        await site.close()


def ready(nodes: list) -> list:  # type: ignore[type-arg]
    return [n for n in nodes if n.state == NodeState.READY and n.request is None]


async def test_min_ready_is_kept_across_two_providers(make_site) -> None:  # type: ignore[no-untyped-def]
    site = await make_site(TWO_PROVIDERS.format(min_ready=3, max_servers=2))
    site.start("east")
    site.start("west")
    nodes = await site.wait_for(lambda nodes: len(ready(nodes)) == 3)
    assert Counter(n.provider for n in nodes) <= Counter(east=2, west=2)
    grant = await site.client.request_nodes(["small"], requestor="test", build="b1")
    assert grant.nodes[0].state == NodeState.IN_USE
    # One node left the ready set: the pool makes another.
    await site.wait_for(lambda nodes: len(ready(nodes)) == 3)
    assert len(await site.nodes()) == 4


async def test_max_servers_holds_while_fifty_requests_are_served(make_site) -> None:  # type: ignore[no-untyped-def]
    site = await make_site(TWO_PROVIDERS.format(min_ready=0, max_servers=3))
    site.start("east")
    site.start("west")
    assert site.store is not None
    peak: Counter[str] = Counter()
    done = asyncio.Event()

    async def watch_capacity() -> None:
        async with site.store.watch("/pool/nodes") as watch:
            while not done.is_set():
                nodes = await site.records.nodes()
                counts = Counter(n.provider for n in nodes if n.state in USES_CAPACITY)
                for provider, count in counts.items():
                    peak[provider] = max(peak[provider], count)
                await watch.changed(0.5)

    async def one_build(index: int) -> str:
        grant = await site.client.request_nodes(["small"], requestor="test", build=f"build-{index}")
        build = FinishedBuild(f"build-{index}", "app", "unit", None, failed=False)
        await site.client.return_nodes(grant.nodes, build, HoldPolicy(0, 0))
        return grant.nodes[0].provider

    monitor = asyncio.ensure_future(watch_capacity())
    providers = await asyncio.wait_for(
        asyncio.gather(*(one_build(i) for i in range(50))), timeout=240
    )
    done.set()
    await monitor
    assert len(providers) == 50
    assert set(providers) == {"east", "west"}
    assert peak["east"] <= 3
    assert peak["west"] <= 3
    assert await site.records.requests() == []


async def test_a_two_node_nodeset_comes_from_one_provider_and_nodes_reach_each_other(
    make_site,  # type: ignore[no-untyped-def]
) -> None:
    site = await make_site(TWO_PROVIDERS.format(min_ready=0, max_servers=3))
    site.start("east")
    grant = await site.client.request_nodes(["small", "small"], requestor="test", build="b")
    first, second = grant.nodes
    assert first.provider == second.provider == "east"
    assert first.address != second.address
    key = await site.records.node_key(first.id)
    assert key is not None
    async with asyncssh.connect(
        first.address,
        username="root",
        client_keys=[key.ssh_key()],
        known_hosts=([asyncssh.import_public_key(first.host_key)], [], []),
    ) as conn:
        result = await conn.run(
            f"exec 3<>/dev/tcp/{second.address}/22 && head -c 7 <&3", check=False
        )
        hostname = await conn.run("hostname", check=True)
    assert result.stdout == "SSH-2.0"
    assert str(hostname.stdout).strip() == first.name


async def test_a_provider_whose_launches_fail_declines_and_another_serves(make_site) -> None:  # type: ignore[no-untyped-def]
    site = await make_site(
        """\
        labels:
          - name: small
        providers:
          - name: broken
            driver: namespace
            ready-command: "false"
            boot-timeout: 2s
            launch-retries: 2
            labels: [{name: small}]
          - name: good
            driver: namespace
            labels: [{name: small}]
        """
    )
    failures_before = launches("broken", "failure")
    site.start("broken")
    wanted = asyncio.ensure_future(
        site.client.request_nodes(["small"], requestor="test", build="b")
    )

    async def declined_by_broken() -> None:
        while True:
            requests = await site.records.requests()
            if requests and "broken" in requests[0].declined_by:
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(declined_by_broken(), timeout=30)
    assert launches("broken", "failure") - failures_before == 2
    (request,) = await site.records.requests()
    assert request.state == RequestState.REQUESTED  # the other provider may still serve it
    site.start("good")
    grant = await asyncio.wait_for(wanted, timeout=30)
    assert grant.nodes[0].provider == "good"
    assert grant.request.declined_by == ["broken"]
    # Every failed node of the broken provider is gone.
    await site.wait_for(lambda nodes: all(n.provider == "good" for n in nodes))


async def test_a_request_fails_when_every_provider_declined(make_site) -> None:  # type: ignore[no-untyped-def]
    site = await make_site(
        """\
        labels:
          - name: small
        providers:
          - name: tiny
            driver: namespace
            max-servers: 1
            labels: [{name: small}]
        """
    )
    site.start("tiny")
    with pytest.raises(NodeRequestFailed, match="more than provider tiny's max-servers 1"):
        await asyncio.wait_for(
            site.client.request_nodes(["small", "small"], requestor="test"), timeout=10
        )


async def test_failed_build_nodes_are_held_then_released_by_hand(make_site) -> None:  # type: ignore[no-untyped-def]
    site = await make_site(TWO_PROVIDERS.format(min_ready=0, max_servers=2))
    site.start("east")
    grant = await site.client.request_nodes(["small"], requestor="test", build="b9")
    failed = FinishedBuild("b9", "app", "unit", 42, failed=True)
    held = await site.client.return_nodes(grant.nodes, failed, HoldPolicy(3600, 2))
    assert held == [grant.nodes[0].id]
    (node,) = await site.nodes(NodeState.HOLD)
    assert node.hold_reason == "build b9 of unit failed"
    await site.client.release(node.id)
    await site.wait_for(lambda nodes: nodes == [])


async def test_a_relaunched_node_is_the_one_the_request_gets(make_site) -> None:  # type: ignore[no-untyped-def]
    # The first node ever made (id 0000000000) never passes its ready check.
    site = await make_site(
        """\
        labels:
          - name: small
        providers:
          - name: solo
            driver: namespace
            boot-timeout: 1s
            ready-command: '[ "$(hostname)" != tg-0000000000 ]'
            labels: [{name: small}]
        """
    )
    site.start("solo")
    grant = await asyncio.wait_for(
        site.client.request_nodes(["small"], requestor="test", build="b"), timeout=30
    )
    assert grant.nodes[0].id != "0000000000"
    assert grant.nodes[0].state == NodeState.IN_USE
    assert grant.nodes[0].launch_attempt == 2


async def test_ready_nodes_kept_for_a_vanished_request_go_back_to_the_pool(make_site) -> None:  # type: ignore[no-untyped-def]
    site = await make_site(TWO_PROVIDERS.format(min_ready=1, max_servers=2))
    site.start("east")
    (node,) = await site.wait_for(lambda nodes: len(ready(nodes)) == 1)
    await site.stop("east")
    await site.records.update_node(node.id, lambda n: setattr(n, "request", "0000009999"))
    await site.reaper("east").reap_once()
    record = await site.records.node(node.id)
    assert record is not None
    assert record.value.request is None


async def test_a_failing_provider_gives_up_after_one_launch_when_another_works(make_site) -> None:  # type: ignore[no-untyped-def]
    site = await make_site(
        """\
        labels:
          - name: small
        providers:
          - name: broken
            driver: namespace
            ready-command: "false"
            boot-timeout: 2s
            launch-retries: 3
            labels: [{name: small}]
          - name: good
            driver: namespace
            labels: [{name: small}]
        """
    )
    failures_before = launches("broken", "failure")
    site.start("broken")
    wanted = asyncio.ensure_future(
        site.client.request_nodes(["small"], requestor="test", build="b1")
    )
    await site.wait_for(lambda nodes: any(n.provider == "broken" for n in nodes))
    site.start("good")
    grant = await asyncio.wait_for(wanted, timeout=30)
    assert grant.nodes[0].provider == "good"
    # One boot timeout, not launch-retries of them, and the reason is the real one.
    assert launches("broken", "failure") - failures_before == 1
    assert grant.request.declined_by == ["broken"]
    assert "ready command 'false' exited 1" in grant.request.causes["broken"]
    # The next request goes to the provider that works, and waits for no launch on the other.
    second = await asyncio.wait_for(
        site.client.request_nodes(["small"], requestor="test", build="b2"), timeout=30
    )
    assert second.nodes[0].provider == "good"
    assert "broken" not in second.request.attempts
    assert launches("broken", "failure") - failures_before == 1


async def test_a_failed_request_says_why_each_provider_failed(make_site) -> None:  # type: ignore[no-untyped-def]
    site = await make_site(
        """\
        labels:
          - name: small
        providers:
          - name: broken
            driver: namespace
            ready-command: "exit 3"
            boot-timeout: 1s
            launch-retries: 1
            labels: [{name: small}]
          - name: tiny
            driver: namespace
            max-servers: 1
            labels: [{name: small}]
        """
    )
    site.start("broken")
    site.start("tiny")
    with pytest.raises(NodeRequestFailed) as failure:
        await asyncio.wait_for(
            site.client.request_nodes(["small", "small"], requestor="test"), timeout=30
        )
    message = str(failure.value)
    assert "broken: " in message
    assert "ready command 'exit 3' exited 3" in message
    assert "tiny: request needs 2 nodes, more than provider tiny's max-servers 1" in message


async def test_light_load_is_spread_over_both_providers(make_site) -> None:  # type: ignore[no-untyped-def]
    site = await make_site(TWO_PROVIDERS.format(min_ready=0, max_servers=2))
    site.start("east")
    site.start("west")
    await site.launchers_running(2)
    providers = []
    for index in range(4):
        grant = await asyncio.wait_for(
            site.client.request_nodes(["small"], requestor="test", build=f"b{index}"), timeout=30
        )
        providers.append(grant.nodes[0].provider)
        build = FinishedBuild(f"b{index}", "app", "unit", None, failed=False)
        await site.client.return_nodes(grant.nodes, build, HoldPolicy(0, 0))
    assert Counter(providers) == Counter(east=2, west=2)


async def test_a_stopped_launcher_no_longer_says_it_runs(make_site) -> None:  # type: ignore[no-untyped-def]
    # Its store stays open (serve's other components still use it): the
    # registration must go with the launcher, not with the session, or
    # `trunkgate down` and the reapers take a stopped launcher for a live one.
    site = await make_site(TWO_PROVIDERS.format(min_ready=0, max_servers=1))
    site.start("east")
    await site.launchers_running(1)
    await site.stop("east")
    assert await site.store.children(layout.LAUNCHERS) == []


async def test_a_request_another_launcher_let_go_of_is_served_at_once(  # type: ignore[no-untyped-def]
    make_site, monkeypatch
) -> None:
    # Each launcher looks at every new request; one that finds the request's
    # lock taken by another skips it. When the other lets go and leaves the
    # request open (it deferred to this provider, say), no request or node
    # changes: the skipping launcher must look again then, not at its next
    # safety wake (pushed out of reach here).
    monkeypatch.setattr(launcher_module, "SAFETY_WAKE", 600.0)
    site = await make_site(TWO_PROVIDERS.format(min_ready=0, max_servers=1))
    await site.records.ensure_layout()
    asking = asyncio.ensure_future(
        site.client.request_nodes(["small"], requestor="test", build="b1")
    )
    try:
        while not (requests := await site.records.requests()):
            await site.store.wait_for_change(layout.REQUESTS, 1.0)
        path = layout.request_lock(requests[0].id)
        other = site.store.lock(path, identity="another launcher", timeout=None)
        await other.acquire()
        async with site.store.watch(path) as watch:
            await watch.arm()
            site.start("east")
            # The launcher's own try at the lock comes and goes.
            tried = False
            async with asyncio.timeout(30):
                while not (tried and len(await contenders(site.store, path)) == 1):
                    tried = await watch.changed(1.0) or tried
        await other.release()
        grant = await asyncio.wait_for(asyncio.shield(asking), timeout=60)
        assert grant.nodes[0].provider == "east"
    finally:
        asking.cancel()
        await asyncio.gather(asking, return_exceptions=True)


async def test_a_node_handed_out_is_replaced_once_the_handing_out_pauses(  # type: ignore[no-untyped-def]
    make_site,
) -> None:
    site = await make_site(TWO_PROVIDERS.format(min_ready=1, max_servers=2))
    now = 1000.0
    site.start("east", clock=lambda: now)
    (first,) = ready(await site.wait_for(lambda nodes: len(ready(nodes)) == 1))
    deferred = asyncio.Event()

    class Deferrals(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "wait while nodes are handed out" in record.getMessage():
                deferred.set()

    handler = Deferrals()
    logger = logging.getLogger("trunkgate.pool.launcher")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        await site.client.request_nodes(["small"], requestor="test", build="b1")
        # A gate's builds start on the nodes handed out: their replacements wait.
        async with asyncio.timeout(30):
            await deferred.wait()
        assert [n.id for n in await site.nodes()] == [first.id]
        # The handing out paused (the clock moved on): the pool is made whole.
        now += REFILL_QUIET
        nodes = await site.wait_for(lambda nodes: len(ready(nodes)) == 1)
        assert ready(nodes)[0].id != first.id
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
