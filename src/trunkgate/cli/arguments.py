"""What the command line accepts before any command runs: a parser whose
refusals are one line, and the number types its options take."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

# SQLite keeps integers in 64 bits; a larger number fails deep in a query.
LARGEST = 2**63 - 1


class Parser(argparse.ArgumentParser):
    """argparse's parser, but a refusal is one line (usage is one --help away)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def whole_number(low: int, high: int = LARGEST) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{text} is out of range: from {low} to {high}"
                if high != LARGEST
                else f"{text} is out of range: {low} or more, and below 2**63"
            )
        return value

    parse.__name__ = "whole number"
    return parse


def record_id(text: str) -> str:
    """An argparse type: the id of a node or an autohold, as listings show
    it; a path in the store (empty, with '/', '.' or '..') is none."""
    if not text or "/" in text or text in (".", ".."):
        raise argparse.ArgumentTypeError(f"{text!r} is not an id (see the listing's ID column)")
    return text


# A change's number, a count of results: from 1.
positive = whole_number(1)
