"""`trunkgate init DIR`: a working config and an example project repository."""

from __future__ import annotations

import argparse
from pathlib import Path

from trunkgate.cli.errors import CliError
from trunkgate.config.loader import load_config
from trunkgate.example import write_example


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
    print(f"wrote {config_path} ({len(config.expanded)} jobs) and the example project")
    print(f"next: trunkgate -c {config_path} config jobs")
    return 0
