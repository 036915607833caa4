"""`trunkgate builds [--change N] [--job J]`: this site's finished and running
builds from the history; `trunkgate console BUILD`: a build's console log, made safe for a
terminal."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

from trunkgate.builds.logs import key_of_console
from trunkgate.cli.arguments import positive
from trunkgate.cli.errors import CliError
from trunkgate.cli.output import print_rows
from trunkgate.config.loader import Config, load_config
from trunkgate.history import HistoryError
from trunkgate.history.records import LISTED_FIELDS, BuildRecord
from trunkgate.logstore.errors import LogStoreError
from trunkgate.logstore.opening import open_log_store
from trunkgate.site import open_site_store, site_id
from trunkgate.store import StoreError
from trunkgate.untrusted import printable_bytes

TABLE_COLUMNS = (
    "id",
    "job",
    "project",
    "change",
    "patchset",
    "pipeline",
    "result",
    "node_provider",
    "log_path",
    "started",
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    builds = commands.add_parser("builds", help="builds from the history, newest first")
    builds.add_argument("--change", type=positive)
    builds.add_argument("--job")
    builds.add_argument("--project")
    builds.add_argument("--pipeline")
    builds.add_argument("--limit", type=positive, default=50)
    builds.add_argument("--format", choices=("table", "json"), default="table")
    builds.set_defaults(run=run_builds)
    console = commands.add_parser(
        "console", help="a build's console log, control characters shown harmlessly"
    )
    console.add_argument("build", help="the build's id, or its start as `builds` shows it")
    console.add_argument(
        "--raw",
        action="store_true",
        help="the bytes as the nodes wrote them (escape sequences included): for a file, "
        "not a terminal",
    )
    console.set_defaults(run=run_console)


def run_builds(args: argparse.Namespace) -> int:
    config = load_config(args.config)

    async def query() -> list[BuildRecord]:
        from trunkgate.history.site import open_site_history

        site = await _this_site(config)
        history = await open_site_history(config)
        try:
            return await history.builds(
                site=site,
                change=args.change,
                job=args.job,
                project=args.project,
                pipeline=args.pipeline,
                limit=args.limit,
            )
        finally:
            await history.close()

    try:
        records = asyncio.run(query())
    except (HistoryError, StoreError) as exc:
        raise CliError(str(exc)) from None
    if not records:
        _refuse_unknown_filters(args, config)
    rows: list[dict[str, Any]] = []
    for record in records:
        row = record.listing()
        row["id"] = str(row["id"])
        row["buildset"] = record.buildset
        row["voting"] = record.voting
        rows.append(row)
    columns = LISTED_FIELDS if args.format == "json" else TABLE_COLUMNS
    if args.format == "table":
        for row in rows:
            row["id"] = str(row["id"])[:8]
    print_rows(rows, columns, args.format)
    return 0


async def _this_site(config: Config) -> str:
    """Other sites may share the history: commands show this one's builds."""
    store = await open_site_store(config)
    try:
        return await site_id(store)
    finally:
        await store.close()


def _refuse_unknown_filters(args: argparse.Namespace, config: Config) -> None:
    """No build matched: a filter naming what the configuration does not
    know is more likely a typo than a question (the history may still hold
    builds of what was removed, and then they are listed)."""
    known: tuple[tuple[str, str | None, Collection[str]], ...] = (
        ("--project", args.project, config.projects),
        ("--pipeline", args.pipeline, config.pipelines),
        ("--job", args.job, {job.name for job in config.expanded}),
    )
    for flag, value, names in known:
        if value is not None and value not in names:
            raise CliError(
                f"{flag} {value!r}: no such name in the configuration nor in the history"
            )


def run_console(args: argparse.Namespace) -> int:
    config = load_config(args.config)

    async def query() -> BuildRecord | None:
        from trunkgate.history.site import open_site_history

        site = await _this_site(config)
        history = await open_site_history(config)
        try:
            record = await history.build(args.build)
            if record is not None:
                return record
            recent = await history.builds(site=site, limit=1000)
            starting = [b for b in recent if b.id.startswith(args.build)]
            return starting[0] if len(starting) == 1 else None
        finally:
            await history.close()

    try:
        record = asyncio.run(query())
    except (HistoryError, StoreError) as exc:
        raise CliError(str(exc)) from None
    if record is None:
        raise CliError(f"no build {args.build!r} in the history (or more than one starts so)")
    if not record.log_path:
        raise CliError(f"build {record.id} has no console log")
    try:
        data = Path(record.log_path).read_bytes()
    except OSError as exc:
        # Run on another host: its logs are in the site's log store.
        fetched = asyncio.run(_from_log_store(config, record.log_path))
        if fetched is None:
            raise CliError(f"cannot read the console log of build {record.id}: {exc}") from None
        data = fetched
    if args.raw:
        sys.stdout.buffer.write(data)
    else:
        # A job prints what it likes; a terminal must not obey it.
        sys.stdout.write(printable_bytes(data))
    sys.stdout.flush()
    return 0


async def _from_log_store(config: Config, log_path: str) -> bytes | None:
    """The console at `log_path` (another host's) from the site's log store;
    None when the store is this host's directory or does not hold it."""
    if config.logs.backend == "directory":
        return None
    try:
        key = key_of_console(log_path)
        store = open_log_store(config)
    except (ValueError, LogStoreError) as exc:
        raise CliError(str(exc)) from None
    try:
        with tempfile.TemporaryDirectory() as directory:
            if not await store.fetch(key, Path(directory)):
                return None
            return (Path(directory) / Path(log_path).name).read_bytes()
    except (LogStoreError, OSError) as exc:
        raise CliError(f"cannot fetch {key} from the log store: {exc}") from None
    finally:
        await store.close()
