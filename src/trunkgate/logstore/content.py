"""What kind of file a build's file is, for the content type it is stored
with: text is stored as text/plain whatever its name, so a build's HTML
served straight from a bucket is shown, never run in a reader's browser."""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath

#: Extensions that are text whatever their first bytes say.
TEXT_SUFFIXES = frozenset(
    {".txt", ".log", ".json", ".yaml", ".yml", ".conf", ".ini", ".py", ".sh", ".xml", ".html"}
)
#: How many of a file's first bytes are looked at.
HEAD_BYTES = 8192
TEXT = "text/plain; charset=utf-8"
BINARY = "application/octet-stream"


def looks_like_text(name: str, head: bytes) -> bool:
    """Text when its name says text or its first bytes decode as UTF-8
    without NULs: stored as text, and shown as text by the web."""
    if PurePosixPath(name).suffix.lower() in TEXT_SUFFIXES:
        return True
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        return exc.start >= len(head) - 3
    return True


def content_type(name: str, head: bytes) -> str:
    """The content type a file named `name` starting with `head` is stored with."""
    if looks_like_text(name, head):
        return TEXT
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    if encoding is not None or guessed is None or guessed.startswith("text/"):
        # A .tar.gz is gzip bytes, not a tar; text types with binary bytes are neither.
        return BINARY
    return guessed
