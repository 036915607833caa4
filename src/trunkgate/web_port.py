"""The site's web port, claimed by `trunkgate serve` before anything else
starts: a lock file in the data directory naming the serve that holds the
port, then the listening socket itself. Nothing here touches the store."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from trunkgate.config.loader import Config

LOCK_NAME = "serve-web.pid"


class WebPortTaken(Exception):
    """The web port cannot be had; the message says who has it."""


@dataclass
class WebPort:
    """A listening socket on the web address, and the lock that says which
    process of the site holds it; both end with `close` or the process."""

    socket: socket.socket
    lock_fd: int

    @property
    def address(self) -> str:
        """Where it listens, the port chosen when the config asks for 0."""
        host, port = self.socket.getsockname()[:2]
        return f"{host}:{port}"

    def close(self) -> None:
        self.socket.close()
        with contextlib.suppress(OSError):
            os.close(self.lock_fd)


def claim_web_port(config: Config) -> WebPort:
    """The web port, claimed; a config asking for port 0 is given the port
    chosen, so that reports and the dashboard name the address it has."""
    address = f"{config.web.listen}:{config.web.port}"
    fd = _lock(config.data_dir / LOCK_NAME, address)
    try:
        listening = socket.create_server((config.web.listen, config.web.port))
    except OSError as exc:
        os.close(fd)
        if exc.errno == errno.EADDRINUSE:
            raise WebPortTaken(
                f"the web port {address} is taken by another program; "
                "choose another in the config's web.port"
            ) from None
        raise WebPortTaken(
            f"cannot listen on the web address {address}: {exc.strerror or exc}; "
            "check the config's web.listen and web.port"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    port = listening.getsockname()[1]
    if port != config.web.port:
        config.web = config.web.model_copy(update={"port": port})
    return WebPort(listening, fd)


def _lock(path: Path, address: str) -> int:
    """The lock file's descriptor, locked; refused with the holder's pid."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except (FileExistsError, NotADirectoryError):
        raise WebPortTaken(f"the data directory {path.parent} is not a directory") from None
    except OSError as exc:
        raise WebPortTaken(
            f"cannot make the lock of the web port, {path}: {exc.strerror}"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise WebPortTaken(
            f"another serve is running on this site, pid {holder}, with the web port "
            f"{address}; stop it, or leave web out of --components"
        ) from None
    return fd
