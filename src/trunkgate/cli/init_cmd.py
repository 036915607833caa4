"""`trunkgate init DIR`: a working config and an example project repository."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
from pathlib import Path

from trunkgate.cli.errors import CliError
from trunkgate.config.loader import Config, load_config
from trunkgate.example import EXAMPLE_PROJECT, write_example
from trunkgate.site import open_site_review, open_site_store


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = commands.add_parser("init", help="write a working config and an example project")
    init.add_argument("directory", metavar="DIR", type=Path)
    init.set_defaults(run=run_init)


def run_init(args: argparse.Namespace) -> int:
    directory: Path = args.directory
    if (directory / "trunkgate.yaml").exists():
        raise CliError(f"{directory / 'trunkgate.yaml'} exists already; choose an empty directory")
    config_path = write_example(directory)
    config = load_config(config_path)
    working = directory / "src" / EXAMPLE_PROJECT
    bare = asyncio.run(create_example_repository(config, working))
    track(working, bare)
    print(f"wrote {config_path} ({len(config.expanded)} jobs) and the example project")
    print(f"the example's repository is {bare}; {working} is a clone to work in")
    print(f"next: trunkgate -c {config_path} config jobs")
    return 0


async def create_example_repository(config: Config, working: Path) -> Path:
    """The example project's repository in the site, started from `working`."""
    store = await open_site_store(config)
    try:
        review = open_site_review(config, store)
        bare = await review.create_project(EXAMPLE_PROJECT, "main", seed=working)
    finally:
        await store.close()
    return bare


def track(working: Path, bare: Path) -> None:
    """Make the working copy a clone of the project's repository, as after `git clone`."""
    git = ["git", "-C", str(working)]
    subprocess.run([*git, "remote", "add", "origin", str(bare)], check=True)
    subprocess.run([*git, "fetch", "-q", "origin"], check=True)
    subprocess.run([*git, "branch", "-q", "--set-upstream-to=origin/main", "main"], check=True)
