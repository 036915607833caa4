"""The components `trunkgate serve` can run, by name, each an async function
of the config, the store and a stop event. They share nothing but the store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from trunkgate.config.loader import Config
from trunkgate.pool.launcher import Launcher
from trunkgate.pool.providers import launcher_settings, make_driver, reap_policy
from trunkgate.pool.reaper import Reaper
from trunkgate.scheduler.core import Scheduler
from trunkgate.site import open_review_sources
from trunkgate.store import Store

Component = Callable[[Config, Store, asyncio.Event], Awaitable[None]]


async def run_launchers(
    config: Config, store: Store, stop: asyncio.Event, *, clock: Callable[[], float] = time.time
) -> None:
    """A launcher and a reaper for every provider of the config."""
    policy = reap_policy(config)
    work = []
    for settings in launcher_settings(config):
        driver = make_driver(config.providers[settings.provider], config)
        launcher = Launcher(store, settings, driver, clock=clock)
        reaper = Reaper(store, settings.provider, driver, policy, clock=clock)
        work += [launcher.run(stop), reaper.run(stop, config.pool.reap_interval)]
    await asyncio.gather(*work)


async def run_scheduler(config: Config, store: Store, stop: asyncio.Event) -> None:
    """The scheduler, over the site's review sources."""
    await Scheduler(config, store, open_review_sources(config, store)).run(stop)


async def run_executor(config: Config, store: Store, stop: asyncio.Event) -> None:
    """An executor: runs the builds the scheduler asks for."""
    from trunkgate.executor.service import ExecutorService

    await ExecutorService(config, store).run(stop)


async def run_builder(config: Config, store: Store, stop: asyncio.Event) -> None:
    """The image builder: builds, uploads and deletes the config's images."""
    from trunkgate.images.builder import ImageBuilder

    await ImageBuilder(config, store).run(stop)


async def run_git(config: Config, store: Store, stop: asyncio.Event) -> None:
    """The local source's repositories over git's protocol, for other hosts."""
    from trunkgate.review.git_daemon import serve_repositories

    await serve_repositories(config, stop)


async def run_web(config: Config, store: Store, stop: asyncio.Event) -> None:
    """The dashboard, the REST API and /metrics on the web address."""
    from trunkgate.web.server import run_web as serve_web

    await serve_web(config, store, stop)


COMPONENTS: dict[str, Component] = {
    "scheduler": run_scheduler,
    "executor": run_executor,
    "launcher": run_launchers,
    "builder": run_builder,
    "web": run_web,
    "git": run_git,
}
