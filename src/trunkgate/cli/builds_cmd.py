"""`trunkgate builds [--change N] [--job J]`: finished and running builds from the history."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from trunkgate.cli.errors import CliError
from trunkgate.cli.output import print_rows
from trunkgate.config.loader import load_config
from trunkgate.history import HistoryError
from trunkgate.history.records import LISTED_FIELDS, BuildRecord

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
    builds.add_argument("--change", type=int)
    builds.add_argument("--job")
    builds.add_argument("--project")
    builds.add_argument("--pipeline")
    builds.add_argument("--limit", type=int, default=50)
    builds.add_argument("--format", choices=("table", "json"), default="table")
    builds.set_defaults(run=run_builds)


def run_builds(args: argparse.Namespace) -> int:
    config = load_config(args.config)

    async def query() -> list[BuildRecord]:
        from trunkgate.history.site import open_site_history

        history = await open_site_history(config)
        try:
            return await history.builds(
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
    except HistoryError as exc:
        raise CliError(str(exc)) from None
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
