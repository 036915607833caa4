"""Pages of a console log by line number: right at every page boundary,
while the log grows, with a line still being written, and for a log that
was written anew."""

from __future__ import annotations

import os
from pathlib import Path

from trunkgate.web.console import INDEX_STEP, ConsolePages


def page(pages: ConsolePages, path: Path, first: int | None, count: int) -> list[str]:
    fd = os.open(path, os.O_RDONLY)
    try:
        return pages.page(fd, str(path), first, count).lines
    finally:
        os.close(fd)


def test_every_line_is_found_by_its_number_across_index_steps(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    total = 3 * INDEX_STEP + 17
    log.write_text("".join(f"line {n} {'x' * (n % 50)}\n" for n in range(1, total + 1)))
    pages = ConsolePages()
    for first in (1, INDEX_STEP - 1, INDEX_STEP, INDEX_STEP + 1, 2 * INDEX_STEP + 5, total):
        lines = page(pages, log, first, 3)
        assert lines[0].startswith(f"line {first} "), first
    assert len(page(pages, log, None, 10)) == 10
    assert page(pages, log, None, 10)[-1].startswith(f"line {total} ")


def test_a_growing_log_is_indexed_on_and_a_line_being_written_waits(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_text("one\ntwo\nthr")
    pages = ConsolePages()
    fd = os.open(log, os.O_RDONLY)
    try:
        shown = pages.page(fd, str(log), None, 100)
        assert shown.lines == ["one", "two"]
        assert shown.end == len("one\ntwo\n")  # where a live stream goes on
        with log.open("a") as more:
            more.write("ee\nfour\n")
        shown = pages.page(fd, str(log), None, 100)
        assert shown.lines == ["one", "two", "three", "four"]
        assert shown.total == 4
    finally:
        os.close(fd)


def test_a_log_written_anew_is_indexed_anew(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_text("".join(f"old {n}\n" for n in range(2000)))
    pages = ConsolePages()
    assert page(pages, log, 1500, 1) == ["old 1499"]
    log.write_text("new 0\nnew 1\n")
    assert page(pages, log, None, 5) == ["new 0", "new 1"]
