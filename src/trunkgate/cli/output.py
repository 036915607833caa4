"""Printing listings: a readable table, or JSON (`--format json`), from the
same rows. Rows are dicts of the field names the command line contract names.
A table shows control characters written out (`untrusted.printable`); JSON
escapes them itself.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from trunkgate.untrusted import PrintableFormatter, printable


def print_rows(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    fmt: str,
    out: TextIO | None = None,
) -> None:
    out = out or sys.stdout
    if fmt == "json":
        json.dump(list(rows), out, indent=2, default=str)
        out.write("\n")
        return
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    headers = [column.upper() for column in columns]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    for line in [headers, *cells]:
        out.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        out.write("\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(_cell(v) for v in value)
    # A cell may hold what a node or a change wrote (a hold reason, a
    # subject): on one line, and nothing a terminal would obey.
    return printable(str(value), newlines=False)


def log_to_terminal(level: int, fmt: str) -> None:
    """Logging to stderr; a log line may quote a node's error output, so it
    is shown through `untrusted.printable`."""
    handler = logging.StreamHandler()
    handler.setFormatter(PrintableFormatter(fmt))
    logging.basicConfig(level=level, handlers=[handler])
