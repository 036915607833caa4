"""`trunkgate serve [--components LIST] [--drain]`: run components until SIGINT
or SIGTERM; with --drain, then delete every node of the site."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from trunkgate.cli.errors import CliError
from trunkgate.cli.output import log_to_terminal
from trunkgate.config.loader import Config, load_config
from trunkgate.pool.driver import DriverError
from trunkgate.site import open_site_store
from trunkgate.store import StoreError

# The names of `trunkgate.components.COMPONENTS`, here so that the command
# line starts without loading every component.
COMPONENT_NAMES = ("scheduler", "executor", "launcher", "metrics")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="run trunkgate's components")
    serve.add_argument(
        "--components",
        default=",".join(COMPONENT_NAMES),
        help=f"comma-separated, from: {', '.join(COMPONENT_NAMES)} (default: all)",
    )
    serve.add_argument(
        "--drain",
        action="store_true",
        help="once stopped, delete every node of the site, as `trunkgate down` does",
    )
    serve.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.components.split(",") if n.strip()]
    unknown = [n for n in names if n not in COMPONENT_NAMES]
    if unknown or not names:
        raise CliError(
            f"unknown component {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(COMPONENT_NAMES)}"
        )
    config = load_config(args.config)
    log_to_terminal(logging.INFO, "%(asctime)s %(name)s %(message)s")
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    code = asyncio.run(_serve(config, names))
    if args.drain:
        # After the store is closed: our own launchers' registrations are gone.
        from trunkgate.cli.down_cmd import down, report

        print("trunkgate: stopped; taking the site's nodes down", flush=True)
        report(asyncio.run(down(config)))
    return code


async def _serve(config: Config, names: list[str]) -> int:
    from trunkgate.components import COMPONENTS

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        store = await open_site_store(config)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    try:
        print(f"trunkgate: serving {', '.join(names)}; stop with Ctrl-C", flush=True)
        await asyncio.gather(*(COMPONENTS[name](config, store, stop) for name in names))
    except DriverError as exc:
        raise CliError(str(exc)) from None
    finally:
        await store.close()
    return 0
