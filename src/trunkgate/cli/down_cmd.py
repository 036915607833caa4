"""`trunkgate down`: take a site's nodes down, ready, held and leaked alike,
with no serve running, and say what went."""

from __future__ import annotations

import argparse
import asyncio

from trunkgate.cli.errors import CliError
from trunkgate.config.loader import Config, load_config
from trunkgate.pool.driver import Driver, DriverError
from trunkgate.pool.providers import make_driver
from trunkgate.pool.teardown import Teardown, take_down, wait_for_launchers
from trunkgate.site import open_site_store
from trunkgate.store import StoreError

# A killed serve's launchers stay registered until their session ends (the
# store's lease, or ZooKeeper's session timeout); wait that long, and a bit.
_SESSION_MARGIN = 5.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    down = commands.add_parser(
        "down", help="delete every node of the site (stop serve first) and leave nothing behind"
    )
    down.set_defaults(run=run_down)


def run_down(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    report(asyncio.run(down(config)))
    return 0


def report(done: Teardown) -> None:
    """Say what went; CliError if anything is left."""
    for node in done.nodes:
        print(f"deleted node {node.id} (provider {node.provider}, it was {node.state.value})")
    for provider, external_id in done.leaked:
        print(f"deleted {external_id} of provider {provider}, which no node record claimed")
    for provider in sorted({node.provider for node in done.elsewhere}):
        nodes = ", ".join(n.id for n in done.elsewhere if n.provider == provider)
        print(
            f"left node(s) {nodes} of provider {provider}, which this configuration has not: "
            "for the `down` of the host that runs it (or add the provider back)"
        )
    if done.left:
        raise CliError("the site is not down; left:\n  " + "\n  ".join(done.left))
    count = len(done.nodes) + len(done.leaked)
    if done.elsewhere:
        print(f"this configuration's providers are down: {count} deleted")
    else:
        print(f"site down: {count} deleted, nothing of it is left on this host")


async def down(config: Config) -> Teardown:
    """Take the site of ``config`` down; CliError if a serve still runs."""
    try:
        drivers: dict[str, Driver] = {
            name: make_driver(provider, config) for name, provider in config.providers.items()
        }
    except DriverError as exc:
        raise CliError(str(exc)) from None
    try:
        store = await open_site_store(config)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    try:
        patience = max(config.state.lease, config.state.session_timeout) + _SESSION_MARGIN
        running = await wait_for_launchers(store, patience, set(config.providers))
        if running:
            # A running launcher would launch min-ready nodes again meanwhile.
            raise CliError(
                f"launchers still run ({', '.join(running)}): stop `trunkgate serve` first"
            )
        return await take_down(store, drivers)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    finally:
        await store.close()
