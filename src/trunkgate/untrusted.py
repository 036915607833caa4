"""Showing text that came from where trunkgate does not trust (a job's output,
a node's file names and error messages, a change's commit message) on a
terminal or in a review comment: every character that could steer a terminal
or reorder what a reader sees is written out visibly instead. What is stored
keeps the text as it came; only what is shown passes through here."""

from __future__ import annotations

import logging

#: Characters that reorder the text around them (bidi embeddings, overrides
#: and isolates), so that what a reader sees is not what is there.
_BIDI = (*range(0x202A, 0x202F), *range(0x2066, 0x206A))


def _escape(code: int) -> str:
    if 0xDC80 <= code <= 0xDCFF:
        # A byte that was not UTF-8, kept by the "surrogateescape" decoding:
        # shown as the byte it stands for.
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def _table(*, newlines: bool) -> dict[int, str]:
    codes = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *_BIDI, *range(0xD800, 0xE000)]
    kept = {ord("\t"), *([ord("\n")] if newlines else [])}
    return {code: _escape(code) for code in codes if code not in kept}


_LINES = _table(newlines=True)
_ONE_LINE = _table(newlines=False)


def printable(text: str, *, newlines: bool = True) -> str:
    """`text` with every control character (C0 but tab and newline, DEL, C1),
    bidi override and undecodable byte written out as `\\x1b`, `\\u202e`:
    harmless on a terminal, and still readable. With `newlines=False` a
    newline is written out too, for text that must stay on one line.

    A backslash in `text` is left as it is: this is for people to read, not
    for a program to parse back (JSON output keeps the exact text)."""
    return text.translate(_LINES if newlines else _ONE_LINE)


def printable_bytes(data: bytes) -> str:
    """Bytes as a node wrote them (a console log), made printable; bytes
    that are not UTF-8 are shown as `\\xNN`."""
    return printable(data.decode("utf-8", "surrogateescape"))


class PrintableFormatter(logging.Formatter):
    """Formats log records, tracebacks included, through `printable`: a log
    message may quote a node's error output."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))
