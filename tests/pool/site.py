"""A pool on real namespace nodes for tests: a config written to a temporary
directory, an SQLite store, launchers started and stopped per provider, and a
teardown that deletes every node it made."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from trunkgate.config.loader import Config, load_config
from trunkgate.pool import layout
from trunkgate.pool.client import PoolClient
from trunkgate.pool.driver import Driver
from trunkgate.pool.launcher import Launcher
from trunkgate.pool.metrics import POOL_METRICS
from trunkgate.pool.providers import launcher_settings, make_driver, reap_policy
from trunkgate.pool.reaper import Reaper
from trunkgate.pool.records import Node
from trunkgate.pool.repository import PoolRecords
from trunkgate.pool.states import NodeState
from trunkgate.site import open_site_store
from trunkgate.store import Store


class PoolSite:
    def __init__(self, directory: Path, config_text: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "trunkgate.yaml"
        self.path.write_text(
            "state:\n  data-dir: ./data\n  lease: 2s\n" + textwrap.dedent(config_text)
        )
        self.config: Config = load_config(self.path)
        self.drivers: dict[str, Driver] = {
            name: make_driver(provider, self.config)
            for name, provider in self.config.providers.items()
        }
        self.store: Store | None = None
        self._running: dict[str, tuple[asyncio.Event, asyncio.Task[None]]] = {}
        self.launchers: dict[str, Launcher] = {}

    async def serve(
        self, components: str, *extra: str, output: bool = False
    ) -> asyncio.subprocess.Process:
        """`trunkgate serve --components COMPONENTS` of this site in a
        process of its own; its stdout and stderr piped when `output`."""
        where = asyncio.subprocess.PIPE if output else asyncio.subprocess.DEVNULL
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "trunkgate.cli.main",
            "-c",
            str(self.path),
            "serve",
            "--components",
            components,
            *extra,
            stdout=where,
            stderr=where,
        )

    async def open(self) -> Store:
        self.store = await open_site_store(self.config)
        return self.store

    @property
    def records(self) -> PoolRecords:
        assert self.store is not None
        return PoolRecords(self.store)

    @property
    def client(self) -> PoolClient:
        assert self.store is not None
        return PoolClient(self.store)

    def launcher(self, provider: str, *, clock: Callable[[], float] = time.time) -> Launcher:
        assert self.store is not None
        settings = next(s for s in launcher_settings(self.config) if s.provider == provider)
        return Launcher(self.store, settings, self.drivers[provider], clock=clock)

    def reaper(self, provider: str, *, clock: Callable[[], float] = time.time) -> Reaper:
        assert self.store is not None
        return Reaper(
            self.store, provider, self.drivers[provider], reap_policy(self.config), clock=clock
        )

    def start(self, provider: str, *, clock: Callable[[], float] = time.time) -> Launcher:
        launcher = self.launcher(provider, clock=clock)
        stop = asyncio.Event()
        self._running[provider] = (stop, asyncio.ensure_future(launcher.run(stop)))
        self.launchers[provider] = launcher
        return launcher

    async def stop(self, provider: str) -> None:
        stop, task = self._running.pop(provider)
        stop.set()
        await task

    async def launchers_running(self, count: int, within: float = 30.0) -> None:
        """Wait (bounded) until `count` launchers have said they run."""
        assert self.store is not None
        await self.store.ensure_path(layout.LAUNCHERS)
        async with asyncio.timeout(within), self.store.watch(layout.LAUNCHERS) as watch:
            while len(await self.store.children(layout.LAUNCHERS)) < count:
                await watch.changed(1.0)

    async def nodes(self, *states: NodeState) -> list[Node]:
        nodes = await self.records.nodes()
        return [n for n in nodes if not states or n.state in states]

    async def wait_for(
        self, check: Callable[[list[Node]], bool], within: float = 30.0
    ) -> list[Node]:
        """Wait (bounded) until `check` holds for the node records."""
        assert self.store is not None
        deadline = time.monotonic() + within
        async with self.store.watch("/pool/nodes") as watch:
            while True:
                nodes = await self.records.nodes()
                if check(nodes):
                    return nodes
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    states = sorted((n.id, n.provider, n.state.value) for n in nodes)
                    raise AssertionError(f"pool did not get there in {within}s: {states}")
                await watch.changed(min(remaining, 1.0))

    async def close(self) -> None:
        for provider in list(self._running):
            await self.stop(provider)
        for driver in self.drivers.values():
            for instance in await driver.list_instances():
                with contextlib.suppress(Exception):
                    await driver.delete(instance.external_id)
        if self.store is not None:
            await self.store.close()


def launches(provider: str, outcome: str) -> float:
    return POOL_METRICS.launches.labels(provider, outcome)._value.get()
