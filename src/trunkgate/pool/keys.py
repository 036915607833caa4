"""The pool's SSH client key: made once per data directory, authorized on
every node the pool launches, used by readiness checks and executors."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import asyncssh


@dataclass(frozen=True)
class ClientKey:
    path: Path
    private: asyncssh.SSHKey
    public: str
    """OpenSSH form, for authorized_keys."""


def load_client_key(directory: Path) -> ClientKey:
    """Load `directory/id_ed25519`, making it (mode 0600) when missing."""
    path = directory / "id_ed25519"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        key = asyncssh.generate_private_key("ssh-ed25519", comment="trunkgate-pool")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key.export_private_key())
        (directory / "id_ed25519.pub").write_bytes(key.export_public_key())
    private = asyncssh.read_private_key(path)
    public = private.export_public_key().decode().strip()
    return ClientKey(path, private, public)
