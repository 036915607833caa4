"""`trunkgate init DIR`: a working config and an example project repository."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from trunkgate.cli.errors import CliError
from trunkgate.config.loader import Config, load_config
from trunkgate.example import (
    EXAMPLE_PROJECT,
    create_example_repository,
    track,
    write_example,
)
from trunkgate.review.errors import ReviewError
from trunkgate.site import open_site_review, open_site_store
from trunkgate.store import StoreError


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = commands.add_parser("init", help="write a working config and an example project")
    init.add_argument("directory", metavar="DIR")
    init.set_defaults(run=run_init)


def run_init(args: argparse.Namespace) -> int:
    if not args.directory:
        raise CliError("DIR is empty: name the directory to write the site into")
    directory = Path(args.directory)
    if directory.exists() and not directory.is_dir():
        raise CliError(f"{directory} is a file; init writes a new directory")
    if (directory / "trunkgate.yaml").exists():
        raise CliError(f"{directory / 'trunkgate.yaml'} exists already; choose an empty directory")
    try:
        config_path = write_example(directory)
    except OSError as exc:
        raise CliError(f"cannot write the site into {directory}: {_os_error(exc)}") from None
    config = load_config(config_path)
    working = directory / "src" / EXAMPLE_PROJECT
    try:
        bare = asyncio.run(_create_repository(config, working))
    except (StoreError, ReviewError) as exc:
        raise CliError(str(exc)) from None
    track(working, bare)
    print(f"wrote {config_path} ({len(config.expanded)} jobs) and the example project")
    print(f"the example's repository is {bare}; {working} is a clone to work in")
    print(f"next: trunkgate -c {config_path} config jobs")
    return 0


async def _create_repository(config: Config, working: Path) -> Path:
    store = await open_site_store(config)
    try:
        return await create_example_repository(open_site_review(config, store), working)
    finally:
        await store.close()


def _os_error(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"
