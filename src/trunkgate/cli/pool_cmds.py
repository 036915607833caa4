"""`trunkgate nodes`, `requests`, `node hold|release|delete` and `autohold ...`;
`node hold --key` lets a person into a held node and prints how to get in."""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from trunkgate.cli.arguments import positive, record_id, whole_number
from trunkgate.cli.errors import CliError
from trunkgate.cli.output import print_rows
from trunkgate.config.loader import Config, load_config
from trunkgate.listings import autohold_row, holding_back, iso_time, node_row, request_row
from trunkgate.pool.access import held_known_hosts, known_hosts_line, person_ssh_command
from trunkgate.pool.client import NodeControlError, PoolClient
from trunkgate.pool.driver import DriverError
from trunkgate.pool.drivers.static import PrepareFailed, StaticDriver
from trunkgate.pool.holding import MOST_HOLDS, check_hold_reason, hold_duration
from trunkgate.pool.keys import KeyFileError, read_public_key
from trunkgate.pool.providers import make_driver
from trunkgate.pool.records import Autohold, Node
from trunkgate.pool.repository import PoolRecords
from trunkgate.pool.resets import preparation
from trunkgate.pool.teardown import TeardownError, delete_node
from trunkgate.site import open_site_store
from trunkgate.store import Store, StoreError
from trunkgate.untrusted import printable

T = TypeVar("T")

NODE_COLUMNS = (
    "id",
    "state",
    "provider",
    "label",
    "image",
    "image_build",
    "address",
    "created",
    "hold_until",
    "hold_reason",
    "reset_failure",
)
REQUEST_COLUMNS = (
    "id",
    "state",
    "labels",
    "priority",
    "requestor",
    "provider",
    "nodes",
    "age",
    "reason",
)
AUTOHOLD_COLUMNS = ("id", "project", "job", "change", "count", "held", "hold_for", "reason")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    nodes = commands.add_parser("nodes", help="every node of the pool")
    _format(nodes)
    nodes.set_defaults(run=run_nodes)
    requests = commands.add_parser("requests", help="node requests and their states")
    _format(requests)
    requests.set_defaults(run=run_requests)

    node = commands.add_parser("node", help="hold, release, reset or delete a node by hand")
    actions = node.add_subparsers(dest="action", metavar="ACTION", required=True)
    hold = actions.add_parser("hold", help="keep a node for a person to look at")
    hold.add_argument("id", type=record_id)
    hold.add_argument("--for", dest="hold_for", metavar="DUR", help="e.g. 4h (default: no end)")
    hold.add_argument("--reason", default="held by hand")
    _key_option(hold, "authorize this SSH public key for root on the held node")
    hold.set_defaults(run=run_node_hold)
    release = actions.add_parser("release", help="end a hold")
    release.add_argument("id", type=record_id)
    release.set_defaults(run=run_node_release)
    reset = actions.add_parser("reset", help="reset again a machine whose reset failed")
    reset.add_argument("id", type=record_id)
    reset.set_defaults(run=run_node_reset)

    machine = commands.add_parser("machine", help="reusable machines of static providers")
    machine_actions = machine.add_subparsers(dest="action", metavar="ACTION", required=True)
    prepare = machine_actions.add_parser(
        "prepare", help="print, or run, the one-time preparation a host's reset method needs"
    )
    prepare.add_argument("provider")
    prepare.add_argument("host")
    prepare.add_argument(
        "--install", action="store_true", help="run it on the host over SSH and wait for it back"
    )
    prepare.add_argument(
        "--installed-root",
        metavar="NAME",
        type=_volume_name,
        help="the volume (lvm, default root) or subvolume (btrfs, default: the default one) "
        "the machine was installed on",
    )
    prepare.set_defaults(run=run_machine_prepare)
    delete = actions.add_parser("delete", help="delete a node now, with or without serve running")
    delete.add_argument("id", type=record_id)
    delete.set_defaults(run=run_node_delete)

    autohold = commands.add_parser("autohold", help="hold the nodes of matching failed builds")
    verbs = autohold.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = verbs.add_parser("add", help="add an autohold request")
    add.add_argument("--project", required=True)
    add.add_argument("--job", required=True)
    add.add_argument("--change", type=positive)
    add.add_argument("--count", type=whole_number(1, MOST_HOLDS), default=1)
    add.add_argument("--for", dest="hold_for", metavar="DUR", help="how long each hold lasts")
    add.add_argument("--reason", required=True)
    _key_option(add, "authorize this SSH public key on every node the request holds")
    add.set_defaults(run=run_autohold_add)
    listing = verbs.add_parser("list", help="autohold requests")
    _format(listing)
    listing.set_defaults(run=run_autohold_list)
    delete = verbs.add_parser("delete", help="delete an autohold request")
    delete.add_argument("id", type=record_id)
    delete.set_defaults(run=run_autohold_delete)


def _key_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--key",
        dest="keys",
        action="append",
        default=[],
        metavar="FILE",
        type=Path,
        help=f"{help_text} (repeatable)",
    )


def _format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("table", "json"), default="table")


def with_store(args: argparse.Namespace, work: Callable[[Config, Store], Awaitable[T]]) -> T:
    config = load_config(args.config)

    async def main() -> T:
        try:
            store = await open_site_store(config)
        except StoreError as exc:
            raise CliError(str(exc)) from None
        try:
            return await work(config, store)
        except (NodeControlError, StoreError, DriverError) as exc:
            raise CliError(str(exc)) from None
        finally:
            await store.close()

    return asyncio.run(main())


def run_nodes(args: argparse.Namespace) -> int:
    async def work(config: Config, store: Store) -> tuple[list[Node], dict[str, list[str]]]:
        records = PoolRecords(store)
        return await records.nodes(), holding_back(
            config, await records.provider_statuses(), time.time()
        )

    nodes, held_back = with_store(args, work)
    print_rows([node_row(n) for n in nodes], NODE_COLUMNS, args.format)
    if args.format != "json":
        for lines in held_back.values():
            for line in lines:
                print(printable(line, newlines=False))
    return 0


def run_requests(args: argparse.Namespace) -> int:
    now = time.time()

    async def work(config: Config, store: Store) -> list[dict[str, Any]]:
        records = PoolRecords(store)
        statuses = await records.provider_statuses()
        return [
            request_row(r, now, holding_back(config, statuses, now, r.labels))
            for r in await records.requests()
        ]

    rows = with_store(args, work)
    print_rows(rows, REQUEST_COLUMNS, args.format)
    return 0


def _duration(text: str | None, flag: str) -> float | None:
    if text is None:
        return None
    try:
        return hold_duration(text)
    except ValueError as exc:
        raise CliError(f"{flag}: {exc}") from None


def _public_keys(files: Sequence[Path]) -> list[str]:
    try:
        return [read_public_key(path) for path in files]
    except KeyFileError as exc:
        raise CliError(str(exc)) from None


def _check_reason(reason: str) -> None:
    try:
        check_hold_reason(reason)
    except ValueError as exc:
        raise CliError(f"--reason: {exc}") from None


def run_node_hold(args: argparse.Namespace) -> int:
    hold_for = _duration(args.hold_for, "--for")
    _check_reason(args.reason)
    keys = _public_keys(args.keys)

    async def work(config: Config, store: Store) -> tuple[Config, Node]:
        client = PoolClient(store)
        node = await client.hold(args.id, hold_for=hold_for, reason=args.reason)
        if keys:
            await client.let_in(node.id, keys)
        return config, node

    config, node = with_store(args, work)
    until = iso_time(node.hold_until) or "released by hand"
    print(f"node {node.id} held until {until}: {node.hold_reason}")
    if keys:
        _print_way_in(config, node, args.keys)
    return 0


def _print_way_in(config: Config, node: Node, key_files: Sequence[Path]) -> None:
    """The known_hosts file (the node's recorded host key alone) and, for each
    key, the ssh command that gets its owner in."""
    known_hosts = held_known_hosts(config.data_dir, node.id)
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    known_hosts.write_text(known_hosts_line(node) + "\n", encoding="utf-8")
    for key_file in key_files:
        print(f"{key_file} may log in as {node.username}:")
        print(f"  {person_ssh_command(node, known_hosts, _identity(key_file))}")
    print(
        "Do not forward your SSH agent (ssh -A) to a node: it runs untrusted code, "
        "which could use your agent to log in wherever your keys are trusted."
    )


def _identity(public_file: Path) -> Path:
    """The private key beside a .pub file, else the .pub itself (ssh then
    asks the agent to sign with it, which does not forward the agent)."""
    if public_file.suffix == ".pub" and public_file.with_suffix("").exists():
        return public_file.with_suffix("")
    return public_file


def run_node_release(args: argparse.Namespace) -> int:
    async def work(_: Config, store: Store) -> Node:
        return await PoolClient(store).release(args.id)

    node = with_store(args, work)
    print(f"node {node.id} is now {node.state.value}")
    return 0


def run_node_reset(args: argparse.Namespace) -> int:
    async def work(_: Config, store: Store) -> Node:
        return await PoolClient(store).reset(args.id)

    node = with_store(args, work)
    print(f"node {node.id} is now {node.state.value}: its provider's launcher resets it")
    return 0


def run_machine_prepare(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    provider = config.providers.get(args.provider)
    if provider is None or provider.driver != "static":
        raise CliError(f"there is no static provider {args.provider!r} in the configuration")
    host = next((h for h in provider.hosts if h.name == args.host), None)
    if host is None:
        raise CliError(f"provider {provider.name} has no host {args.host!r}")
    if host.reset is None:
        raise CliError(
            f"host {host.name} of provider {provider.name} declares no reset method "
            "(reset: {method: lvm-kexec | btrfs | command, ...})"
        )
    prepared = preparation(host.reset, args.installed_root)
    if prepared is None:
        raise CliError(f"host {host.name}: the command method needs no preparation")
    if not args.install:
        print(prepared.text())
        return 0
    driver = make_driver(provider, config)
    assert isinstance(driver, StaticDriver)
    try:
        slot = asyncio.run(driver.prepare(host.name, args.installed_root))
    except PrepareFailed as exc:
        raise CliError(str(exc)) from None
    print(f"host {host.name} is prepared: it boots {slot}, a snapshot of its installed root")
    return 0


def _volume_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9@+_.-]+", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a volume name")
    return text


def run_node_delete(args: argparse.Namespace) -> int:
    """Deleted here and now by its provider's driver: no launcher needs to run."""

    async def work(config: Config, store: Store) -> Node:
        record = await PoolRecords(store).node(args.id)
        if record is None:
            raise CliError(f"node {args.id} does not exist")
        provider = config.providers.get(record.value.provider)
        drivers = {} if provider is None else {provider.name: make_driver(provider, config)}
        try:
            return await delete_node(store, drivers, args.id)
        except TeardownError as exc:
            raise CliError(str(exc)) from None

    node = with_store(args, work)
    print(f"node {node.id} deleted (provider {node.provider}, it was {node.state.value})")
    return 0


def run_autohold_add(args: argparse.Namespace) -> int:
    hold_for = _duration(args.hold_for, "--for")
    _check_reason(args.reason)
    keys = _public_keys(args.keys)

    async def work(config: Config, store: Store) -> Autohold:
        if args.project not in config.projects:
            raise CliError(f"project {args.project!r} is not in the configuration")
        jobs = {job.name for job in config.expanded if job.project == args.project}
        if args.job not in jobs:
            raise CliError(
                f"project {args.project} has no job {args.job!r}; "
                f"its jobs: {', '.join(sorted(jobs)) or 'none'}"
            )
        request = Autohold(
            id="",
            project=args.project,
            job=args.job,
            reason=args.reason,
            created=time.time(),
            change=args.change,
            count=args.count,
            hold_for=hold_for,
            keys=keys,
        )
        return await PoolClient(store).add_autohold(request)

    autohold = with_store(args, work)
    print(f"autohold {autohold.id} added")
    if args.keys:
        print(
            "each node it holds lets in the owner of "
            + ", ".join(str(k) for k in args.keys)
            + "; `trunkgate node hold ID --key FILE` then prints the ssh command"
        )
    return 0


def run_autohold_list(args: argparse.Namespace) -> int:
    async def work(_: Config, store: Store) -> list[Autohold]:
        return await PoolRecords(store).autoholds()

    autoholds = with_store(args, work)
    print_rows([autohold_row(a) for a in autoholds], AUTOHOLD_COLUMNS, args.format)
    return 0


def run_autohold_delete(args: argparse.Namespace) -> int:
    async def work(_: Config, store: Store) -> bool:
        return await PoolRecords(store).forget_autohold(args.id)

    if not with_store(args, work):
        raise CliError(f"autohold {args.id} does not exist")
    print(f"autohold {args.id} deleted")
    return 0
