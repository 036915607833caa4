"""Entry point of the `trunkgate` command: builds the parser, dispatches, and
turns the errors a user can cause into messages and exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import cast

from trunkgate import __version__
from trunkgate.cli import (
    builds_cmd,
    change_cmds,
    config_cmds,
    demo_cmd,
    down_cmd,
    gate_cmds,
    image_cmds,
    init_cmd,
    pool_cmds,
    serve_cmd,
)
from trunkgate.cli.arguments import Parser
from trunkgate.cli.errors import CliError
from trunkgate.config.errors import ConfigInvalid
from trunkgate.untrusted import printable

_REGISTRARS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    demo_cmd.register,
    init_cmd.register,
    config_cmds.register,
    serve_cmd.register,
    pool_cmds.register,
    image_cmds.register,
    down_cmd.register,
    change_cmds.register,
    gate_cmds.register,
    builds_cmd.register,
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="trunkgate",
        description="Project gating CI: every change tested on fresh nodes before it merges.",
    )
    parser.add_argument("--version", action="version", version=f"trunkgate {__version__}")
    parser.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        help="config file or directory (default: $TRUNKGATE_CONFIG, else ./trunkgate.yaml)",
    )
    # Every command's parser is a `Parser` too (argparse makes them of the
    # top parser's class); the registrars need only an ArgumentParser's API.
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", metavar="COMMAND"),
    )
    for register in _REGISTRARS:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        code: int = args.run(args)
    except ConfigInvalid as exc:
        for problem in exc.problems:
            print(printable(str(problem), newlines=False), file=sys.stderr)
        noun = "problem" if len(exc.problems) == 1 else "problems"
        print(f"trunkgate: the configuration has {len(exc.problems)} {noun}", file=sys.stderr)
        return 1
    except CliError as exc:
        # A message may quote a node, a review system or a change.
        print(f"trunkgate: {printable(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (head, less) went away; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return code


if __name__ == "__main__":
    sys.exit(main())
