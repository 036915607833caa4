"""`trunkgate demo [--keep]`: the whole system on a throw-away example site."""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import tempfile
from pathlib import Path

from trunkgate.cli.output import log_to_terminal


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo", help="five changes through the gate on a throw-away example site"
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="keep the site running after the story (until Ctrl-C), and its directory",
    )
    demo.set_defaults(run=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    from trunkgate.demo.run import run_demo

    log_to_terminal(logging.WARNING, "%(name)s: %(message)s")
    directory = Path(tempfile.mkdtemp(prefix="trunkgate-demo-"))
    print(f"trunkgate demo: an example site in {directory}", flush=True)
    try:
        ok = asyncio.run(
            run_demo(directory, lambda line: print(line, flush=True), keep_running=args.keep)
        )
    finally:
        if args.keep:
            print(f"kept {directory} (config: {directory / 'trunkgate.yaml'})")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    return 0 if ok else 1
