"""Merge commits written straight into a cache's object store.

A commit object is a few lines of text, stored zlib-compressed under its
SHA-1. Written here, it is byte for byte the object `git commit-tree`
writes for the same tree, parents, identity, dates and message, without
starting a git for each merge. Only for repositories of SHA-1 objects
(`is_sha1`): for others the caller runs git.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SHA1_HEX = 40


@dataclass(frozen=True)
class Signature:
    """Who made a commit and when, as git writes it: `name <email> seconds +0000`."""

    name: str
    email: str
    when: int

    def line(self) -> str:
        return f"{self.name} <{self.email}> {self.when} +0000"

    @classmethod
    def of(cls, env: Mapping[str, str], role: str, when: int) -> Signature | None:
        """The author's or committer's identity from git's environment
        (`role` is AUTHOR or COMMITTER); None when it does not name one
        that git would write as it is."""
        name, email = env.get(f"GIT_{role}_NAME"), env.get(f"GIT_{role}_EMAIL")
        if not name or not email or not _plain(name) or not _plain(email):
            return None
        return cls(name, email, when)


def _plain(text: str) -> bool:
    # git drops or rewrites these in an identity; leave such ones to git.
    return text == text.strip(" .,:;<>\"'\\") and not any(c in text for c in "<>\n\0")


def commit_body(
    tree: str, parents: Sequence[str], author: Signature, committer: Signature, message: str
) -> bytes:
    lines = [f"tree {tree}", *(f"parent {p}" for p in parents)]
    lines += [f"author {author.line()}", f"committer {committer.line()}", ""]
    text = "\n".join(lines) + "\n" + message
    return (text if text.endswith("\n") else text + "\n").encode()


def loose_commit(objects: Path, body: bytes) -> str:
    """Writes the commit into `objects` (a repository's object directory)
    unless it is there already; returns its id."""
    stored = b"commit %d\0" % len(body) + body
    oid = hashlib.sha1(stored).hexdigest()
    path = objects / oid[:2] / oid[2:]
    if path.exists():
        return oid
    path.parent.mkdir(exist_ok=True)
    data = zlib.compress(stored)
    temporary = path.parent / f"tmp_obj_{secrets.token_hex(6)}"
    # Read-only, as git makes its objects; moved into place whole.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return oid


def is_sha1(*object_ids: str) -> bool:
    return all(len(oid) == SHA1_HEX for oid in object_ids)
