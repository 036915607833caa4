"""`trunkgate demo`: the system on a throw-away example.

Until the gate is built, the demo writes the example site, loads and checks
its configuration, and shows every job each pipeline would run; it says so.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from trunkgate.cli.config_cmds import JOB_COLUMNS, job_row
from trunkgate.cli.output import print_rows
from trunkgate.config.loader import load_config
from trunkgate.example import write_example


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser("demo", help="run trunkgate on a throw-away example")
    demo.add_argument("--keep", action="store_true", help="keep the example directory")
    demo.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    tmp = tempfile.mkdtemp(prefix="trunkgate-demo-")
    try:
        config_path = write_example(Path(tmp))
        print(f"example site written to {tmp}")
        config = load_config(config_path)
        print(
            f"configuration valid: {len(config.projects)} project(s), "
            f"{len(config.pipelines)} pipelines, {len(config.expanded)} jobs\n"
        )
        print_rows([job_row(job) for job in config.expanded], JOB_COLUMNS, "table")
        print(
            "\nThis demo stops at the configuration: the node pool and the gate, which run "
            "these jobs, are not built yet."
        )
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0
