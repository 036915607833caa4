"""A whole site in this process: the chosen components over one store, and a
stop that leaves nothing behind (every node deleted). For `trunkgate demo`,
the benchmarks and end-to-end tests; `trunkgate serve` is the daemon form."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Sequence

from trunkgate.components import COMPONENTS
from trunkgate.config.loader import Config
from trunkgate.pool.providers import make_driver
from trunkgate.site import dashboard_url, open_site_store
from trunkgate.store import Store
from trunkgate.web.server import run_web
from trunkgate.web_port import WebPort, claim_web_port

log = logging.getLogger(__name__)


class LocalSite:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.store: Store | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.web_port: WebPort | None = None

    @property
    def dashboard(self) -> str:
        return dashboard_url(self.config)

    async def start(self, components: Sequence[str]) -> Store:
        """Starts the components; with `web`, its port is bound first, and a
        config asking for port 0 gets the port chosen, so that reports and
        the dashboard name the address it really has."""
        runners = dict(COMPONENTS)
        if "web" in components:
            self.web_port = claim_web_port(self.config)
            runners["web"] = functools.partial(run_web, sock=self.web_port.socket)
        self.store = await open_site_store(self.config)
        for name in components:
            work = runners[name](self.config, self.store, self._stop)
            task = asyncio.ensure_future(work)
            task.set_name(name)
            task.add_done_callback(_report_death)
            self._tasks.append(task)
        return self.store

    def failed(self) -> str | None:
        """The first component that died, and why; None while all run."""
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                return f"{task.get_name()}: {task.exception()}"
        return None

    async def stop(self) -> None:
        """Stop every component, delete every node of every provider, close the store."""
        self._stop.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=30)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for provider in self.config.providers.values():
            try:
                driver = make_driver(provider, self.config)
                for instance in await driver.list_instances():
                    with contextlib.suppress(Exception):
                        await driver.delete(instance.external_id)
            except Exception:
                log.exception("local site: cannot clean provider %s", provider.name)
        if self.store is not None:
            await self.store.close()
        if self.web_port is not None:
            self.web_port.close()


def _report_death(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("component %s stopped: %s", task.get_name(), task.exception())
