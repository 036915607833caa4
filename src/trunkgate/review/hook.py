"""The push hook: git's receive-pack runs it (as the `proc-receive` hook of a
project's bare repository) for pushes to `refs/for/<branch>`, and it makes
each pushed commit a change, or a new patchset, instead of a ref.

Run as `python -m trunkgate.review.hook --factory MODULE:FUNCTION --argument
ARG --project P`; `FUNCTION(ARG)` must return the `LocalReview` to use, so
the hook reaches the same store as the rest of trunkgate from a fresh
process. Messages on stderr reach the person pushing as `remote:` lines.
Only the pushed commit becomes a change, not each commit under it."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from trunkgate.merger.errors import MergerError
from trunkgate.review.errors import ReviewError
from trunkgate.review.pktline import read_section, write_flush, write_pkt
from trunkgate.review.source import LocalReview

ZERO = "0" * 40


@dataclass(frozen=True)
class PushCommand:
    old: str
    new: str
    ref: str


@dataclass(frozen=True)
class PushResult:
    """What became of one pushed ref: `refname` and `new` say which ref was
    written instead (the change ref); `reason` says why it was refused."""

    ref: str
    ok: bool
    reason: str = ""
    refname: str | None = None
    new: str | None = None


def negotiate(inp: BinaryIO, out: BinaryIO) -> tuple[list[PushCommand], list[str]]:
    """Reads what receive-pack sends the hook: its version and features,
    the pushed commands and, when the pusher gave any, the push options."""
    version = read_section(inp)
    head, _, features = (version[0] if version else b"").partition(b"\0")
    if head != b"version=1":
        raise ReviewError(f"receive-pack speaks {head.decode(errors='replace')}; need version=1")
    options_offered = b"push-options" in features.split()
    write_pkt(out, b"version=1\0push-options" if options_offered else b"version=1")
    write_flush(out)
    commands = []
    for line in read_section(inp):
        old, new, ref = line.decode().split(" ", 2)
        commands.append(PushCommand(old, new, ref))
    options = [o.decode() for o in read_section(inp)] if options_offered else []
    return commands, options


def report(out: BinaryIO, results: Sequence[PushResult]) -> None:
    for result in results:
        if not result.ok:
            write_pkt(out, f"ng {result.ref} {result.reason}".encode())
            continue
        write_pkt(out, f"ok {result.ref}".encode())
        if result.refname:
            write_pkt(out, f"option refname {result.refname}".encode())
        if result.new:
            write_pkt(out, f"option new-oid {result.new}".encode())
    write_flush(out)


async def handle(
    review: LocalReview,
    project: str,
    commands: Sequence[PushCommand],
    options: Sequence[str],
    err: TextIO,
) -> list[PushResult]:
    results = []
    for command in commands:
        if command.new == ZERO:
            results.append(PushResult(command.ref, False, "refs/for/ cannot be deleted"))
            continue
        try:
            proposed = await review.receive_push(project, command.ref, command.new, options)
        except (ReviewError, MergerError) as exc:
            print(f"trunkgate: {exc}", file=err)
            results.append(PushResult(command.ref, False, str(exc).splitlines()[0]))
            continue
        change = proposed.change
        what = "created" if proposed.created else f"updated to patchset {proposed.patchset}"
        print(
            f"trunkgate: change {change.number} {what}: {change.project} {change.branch}: "
            f"{change.subject}",
            file=err,
        )
        results.append(PushResult(command.ref, True, refname=change.ref, new=change.commit))
    return results


def load_review(factory: str, argument: str) -> LocalReview:
    module_name, _, function = factory.partition(":")
    make = getattr(importlib.import_module(module_name), function)
    review = make(argument)
    if not isinstance(review, LocalReview):
        raise TypeError(f"{factory} returned {type(review).__name__}, not a LocalReview")
    return review


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trunkgate.review.hook")
    parser.add_argument("--factory", required=True)
    parser.add_argument("--argument", required=True)
    parser.add_argument("--project", required=True)
    args = parser.parse_args(argv)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    commands, options = negotiate(inp, out)
    try:
        review = load_review(args.factory, args.argument)
        results = asyncio.run(handle(review, args.project, commands, options, sys.stderr))
    except Exception as exc:
        # Refuse the push with the reason rather than leave git guessing.
        print(f"trunkgate: the push hook failed: {exc}", file=sys.stderr)
        results = [PushResult(c.ref, False, "trunkgate's push hook failed") for c in commands]
    report(out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
