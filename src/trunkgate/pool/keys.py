"""SSH client keys: a fresh one per node, made by the launcher, so a key that
opens one node opens no other; and the public keys of people let into held
nodes. Private halves live in the store and in 0600 files made for one use,
never on a node and never in a listing."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

__all__ = [
    "AUTHORIZED_BY_TRUNKGATE",
    "KeyFileError",
    "NodeKey",
    "authorized_line",
    "read_public_key",
]

#: Every line trunkgate adds to an authorized_keys file carries this in its
#: comment, so a host that outlives its nodes (static) can drop them all.
AUTHORIZED_BY_TRUNKGATE = "trunkgate-authorized"

_MARKER_PATTERN = re.compile(r"[^A-Za-z0-9@._:-]+")


@dataclass(frozen=True)
class NodeKey:
    """One node's client key. `private` is OpenSSH text, kept out of repr so a
    log line or traceback that shows the key never shows its secret half."""

    public: str
    """OpenSSH form, for authorized_keys."""
    private: str = field(repr=False)

    @classmethod
    def generate(cls, node_id: str) -> NodeKey:
        key = asyncssh.generate_private_key("ssh-ed25519", comment=f"trunkgate-node-{node_id}")
        return cls(
            public=key.export_public_key("openssh").decode().strip(),
            private=key.export_private_key("openssh").decode(),
        )

    def ssh_key(self) -> asyncssh.SSHKey:
        return asyncssh.import_private_key(self.private)

    def write(self, path: Path) -> Path:
        """Write the private half to a new file of mode 0600 (for ssh -i)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(self.private)
        return path


class KeyFileError(Exception):
    """A person's key file that cannot be used; the message names the file."""


# The largest OpenSSH public keys (RSA 16384 bits) are about 2.8 KB.
LARGEST_KEY_FILE = 16384


def read_public_key(path: Path) -> str:
    """The OpenSSH public key in `path`, checked; KeyFileError if it is none."""
    try:
        with path.open("rb") as file:
            # Bounded: /dev/zero or a log given by mistake must not be read whole.
            data = file.read(LARGEST_KEY_FILE + 1)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if len(data) > LARGEST_KEY_FILE:
        raise KeyFileError(f"{path}: too big for an SSH public key (over {LARGEST_KEY_FILE} bytes)")
    text = data.decode("utf-8", errors="replace")
    if "PRIVATE KEY" in text:
        # Refused rather than converted: a private key must not travel.
        raise KeyFileError(f"{path}: this is a private key; give its public half (a .pub file)")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        raise KeyFileError(f"{path}: expected one SSH public key line, found {len(lines)}")
    try:
        key = asyncssh.import_public_key(lines[0])
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise KeyFileError(f"{path}: not an SSH public key: {exc}") from None
    return key.export_public_key("openssh").decode().strip()


def authorized_line(public_key: str, purpose: str) -> str:
    """`public_key` as an authorized_keys line marked as trunkgate's, with
    `purpose` in its comment (what the key is for, e.g. who it lets in)."""
    kind, blob = public_key.split()[:2]
    words = _MARKER_PATTERN.sub("-", purpose).strip("-")
    return f"{kind} {blob} {AUTHORIZED_BY_TRUNKGATE}:{words}"
