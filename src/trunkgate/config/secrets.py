"""The files a config names for secrets (keys, passwords, tokens, webhook
secrets) and whether each can be used: it exists, is a regular file this
user may read, holds something, and no one else may read it. The loader runs
these checks when asked (`config check`, `serve`): a command that only reads
the site, run by someone who may not read its secrets, must still work."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path


def secret_file_problem(path: Path) -> str | None:
    """What is wrong with `path` as a secret file, or None."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return f"{path} does not exist"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a file"
    if not os.access(path, os.R_OK):
        return f"{path} may not be read by this user"
    if info.st_size == 0:
        return f"{path} is empty"
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (
            f"{path} may be read by others (mode {stat.S_IMODE(info.st_mode):o}); "
            f"run `chmod 600 {path}`"
        )
    return None


def named_secret_files(settings: object, fields: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(field, file) of each secret file `settings` names."""
    for name in fields:
        value = getattr(settings, name, None)
        if isinstance(value, str):
            yield name, value


def read_secret(path: Path) -> str:
    """The secret `path` holds, without the whitespace around it; an
    OSError or a UnicodeDecodeError when it cannot be read as text."""
    return path.read_text(encoding="utf-8").strip()


def key_problem(kind: str, path: Path) -> str | None:
    """What keeps a key file that can be read from serving: an SSH private
    key (`ssh`) asyncssh cannot load, or a GitHub App's key (`app`) that is
    not an RSA private key in PEM without a passphrase."""
    if kind == "ssh":
        import asyncssh

        try:
            asyncssh.read_private_key(path)
        except (asyncssh.KeyImportError, ValueError, OSError) as exc:
            return f"{path} is not an SSH private key without a passphrase ({exc})"
        return None
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError):
        return f"{path} is not a PEM private key without a passphrase"
    if not isinstance(key, rsa.RSAPrivateKey):
        return f"{path} is not an RSA key, as a GitHub App's key is"
    return None
