"""`trunkgate serve [--components LIST] [--log-level LEVEL] [--drain]`: run
components until SIGINT or SIGTERM; with --drain, then delete every node of
the site."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Awaitable, Callable

from trunkgate.cli.errors import CliError
from trunkgate.cli.output import log_to_terminal
from trunkgate.config.loader import Config, load_config
from trunkgate.pool.driver import DriverError
from trunkgate.site import open_site_store
from trunkgate.store import Store, StoreError
from trunkgate.web_port import WebPort, WebPortTaken, claim_web_port

log = logging.getLogger("trunkgate.serve")

# The names of `trunkgate.components.COMPONENTS`, here so that the command
# line starts without loading every component.
COMPONENT_NAMES = ("scheduler", "executor", "launcher", "builder", "web", "git")
# How long the other components have to stop when one has failed.
STOP_PATIENCE_S = 30.0
#: The first and the longest pause before a component the store failed under
#: starts again.
RESTART_PAUSES_S = (1.0, 30.0)
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that speak at INFO of their own doings (alembic's migrations,
# every SSH connection): the operator hears them only when something is wrong.
QUIET_LIBRARIES = ("alembic", "sqlalchemy", "kazoo", "asyncssh", "uvicorn", "httpx")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="run trunkgate's components")
    serve.add_argument(
        "--components",
        default=",".join(COMPONENT_NAMES),
        help=f"comma-separated, from: {', '.join(COMPONENT_NAMES)} (default: all)",
    )
    serve.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="info",
        help="the least level logged (default: info)",
    )
    serve.add_argument(
        "--drain",
        action="store_true",
        help="once stopped, delete every node of the site, as `trunkgate down` does",
    )
    serve.set_defaults(run=run_serve)


def configure_logging(level_name: str) -> None:
    level = logging.getLevelNamesMapping()[level_name.upper()]
    log_to_terminal(level, LOG_FORMAT)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def run_serve(args: argparse.Namespace) -> int:
    names = list(dict.fromkeys(n.strip() for n in args.components.split(",") if n.strip()))
    unknown = [n for n in names if n not in COMPONENT_NAMES]
    if unknown or not names:
        raise CliError(
            f"unknown component {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(COMPONENT_NAMES)}"
        )
    config = load_config(args.config, check_secrets=True)
    configure_logging(args.log_level)
    # Claimed before the store is opened: a serve refused for its port has
    # touched nothing.
    try:
        web = claim_web_port(config) if "web" in names else None
    except WebPortTaken as exc:
        raise CliError(str(exc)) from None
    try:
        code = asyncio.run(_serve(config, names, web))
    finally:
        if web is not None:
            web.close()
    if args.drain:
        # After the store is closed: our own launchers' registrations are gone.
        from trunkgate.cli.down_cmd import down, report

        print("trunkgate: stopped; taking the site's nodes down", flush=True)
        report(asyncio.run(down(config)))
    return code


async def _serve(config: Config, names: list[str], web: WebPort | None) -> int:
    from trunkgate.components import COMPONENTS
    from trunkgate.executor.errors import ExecutorError
    from trunkgate.logstore.errors import LogStoreError
    from trunkgate.web.context import WebError
    from trunkgate.web.server import run_web

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        store = await open_site_store(config)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    runners: dict[str, Callable[[Config, Store, asyncio.Event], Awaitable[None]]] = dict(COMPONENTS)
    if web is not None:
        runners["web"] = functools.partial(run_web, sock=web.socket)
    try:
        print(f"trunkgate: serving {', '.join(names)}; stop with Ctrl-C", flush=True)
        where = f"; web port {web.address}" if web is not None else ""
        log.info("serving %s, site %s%s", ", ".join(names), config.data_dir, where)
        await _run_all(
            [
                _restarted(name, functools.partial(runners[name], config, store, stop), stop)
                for name in names
            ],
            stop,
        )
        log.info("stopped")
    except (DriverError, WebError, LogStoreError, ExecutorError) as exc:
        raise CliError(str(exc)) from None
    finally:
        await store.close()
    return 0


async def _restarted(
    name: str,
    run: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    pauses: tuple[float, float] = RESTART_PAUSES_S,
) -> None:
    """Runs a component, and runs it again after a pause when the store
    failed under it (it was started while the store was out of reach, or its
    session ended where it could not carry on): it takes up again from the
    records, as a restarted process would. Pauses double up to a bound."""
    pause = pauses[0]
    while True:
        try:
            await run()
            return
        except StoreError as exc:
            if stop.is_set():
                return
            log.warning("%s stopped on a store fault (%s); starts again in %gs", name, exc, pause)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(pause):
                await stop.wait()
        if stop.is_set():
            return
        pause = min(pause * 2, pauses[1])


async def _run_all(components: list[Awaitable[None]], stop: asyncio.Event) -> None:
    """Runs every component; when one fails, the others are stopped (and
    cancelled if they do not stop in time) before its error goes on and the
    store is closed under them."""
    tasks = [asyncio.ensure_future(c) for c in components]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    if pending:
        stop.set()
        _, late = await asyncio.wait(pending, timeout=STOP_PATIENCE_S)
        for task in late:
            task.cancel()
        await asyncio.wait(tasks)
    for task in tasks:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
