"""Change notifications between the processes sharing one SQLite store file.

Each session binds a Unix datagram socket in a directory next to the file;
after each commit the writer sends every other session one small datagram
naming the commit number and the changed paths. A datagram that finds the
receiver's queue full (a busy process, a burst of commits) is owed: a
"something changed" datagram is sent again, backing off, until one fits. A
receiver that sees a gap in the commit numbers (a writer killed between
commit and send) wakes all its watches, so a change is never missed for long.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger(__name__)

# Larger datagrams just say "something changed": cheap to send, never too big.
_MAX_PAYLOAD = 8192
_RECEIVE_BUFFER = 1 << 20
_STOP = b"stop"
# How soon an owed datagram is sent again, doubling up to the longest wait.
_RESEND_FIRST = 0.005
_RESEND_LONGEST = 0.2

Deliver = Callable[[list[str] | None], None]
"""Called in the receiver thread with the changed paths (None: maybe all)."""


def notify_directory(file: Path) -> Path:
    return file.with_name(file.name + "-notify")


class CommitTracker:
    """Which commit numbers this session has heard of, to find the ones it missed."""

    def __init__(self, start: int) -> None:
        self._lock = threading.Lock()
        self._base = start
        self._seen: set[int] = set()

    def saw(self, seq: int) -> None:
        with self._lock:
            if seq > self._base:
                self._seen.add(seq)

    def missed_up_to(self, seq: int) -> bool:
        """True if some commit up to ``seq`` was never heard of; forget those up to ``seq``."""
        with self._lock:
            missed = any(n not in self._seen for n in range(self._base + 1, seq + 1))
            self._base = max(self._base, seq)
            self._seen = {n for n in self._seen if n > self._base}
            return missed


class Notifier:
    """This session's socket, the receiver thread behind it, and sending to the others."""

    def __init__(self, directory: Path, endpoint: str, deliver: Deliver) -> None:
        self.endpoint = endpoint
        self._directory = directory
        self._deliver = deliver
        self.tracker = CommitTracker(0)
        self._peers: list[str] = []
        try:
            directory.mkdir(exist_ok=True)
            # Socket paths are limited to 108 bytes; naming the directory
            # through an open descriptor keeps them short wherever it is.
            self._dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise OSError(
                exc.errno, f"notification directory {directory}: {exc.strerror}"
            ) from None
        self._receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
            self._receiver.bind(self._address(endpoint))
            self._sender.setblocking(False)
        except OSError:
            self._receiver.close()
            self._sender.close()
            os.close(self._dir_fd)
            raise
        self._thread = threading.Thread(
            target=self._receive, name=f"trunkgate-store-notify-{endpoint}", daemon=True
        )
        self._stopping = False
        # Peers whose datagram did not fit, and the newest commit they missed.
        self._owed: dict[str, int] = {}
        self._owing = threading.Condition()
        self._resender: threading.Thread | None = None

    def start(self, start_seq: int) -> None:
        self.tracker = CommitTracker(start_seq)
        self._thread.start()

    def _address(self, endpoint: str) -> str:
        return f"/proc/self/fd/{self._dir_fd}/{endpoint}"

    def set_peers(self, endpoints: Iterable[str]) -> None:
        self._peers = [e for e in endpoints if e != self.endpoint]
        with self._owing:
            # A session that ended is owed nothing.
            for gone in set(self._owed) - set(self._peers):
                del self._owed[gone]

    def send(self, seq: int, changed: list[str] | None) -> None:
        """Tell every other session about commit ``seq``; never blocks."""
        payload = json.dumps({"seq": seq, "paths": changed}, separators=(",", ":")).encode()
        if len(payload) > _MAX_PAYLOAD:
            payload = json.dumps({"seq": seq, "paths": None}).encode()
        for peer in self._peers:
            if not self._send_to(peer, payload):
                self._owe(peer, seq)

    def _send_to(self, peer: str, payload: bytes) -> bool:
        """Whether `peer` has the datagram or needs none; False if its queue is full."""
        try:
            self._sender.sendto(payload, self._address(peer))
        except OSError as exc:
            if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                # Nobody will bind this name again: its session is dead.
                with contextlib.suppress(OSError):
                    os.unlink(peer, dir_fd=self._dir_fd)
                return True
            log.debug("notification to %s does not fit yet: %s", peer, exc)
            return False
        return True

    def _owe(self, peer: str, seq: int) -> None:
        with self._owing:
            self._owed[peer] = max(seq, self._owed.get(peer, 0))
            if self._resender is None and not self._stopping:
                self._resender = threading.Thread(
                    target=self._resend, name=f"trunkgate-store-resend-{self.endpoint}", daemon=True
                )
                self._resender.start()
            self._owing.notify()

    def _resend(self) -> None:
        """Send each owed peer "something changed" until it fits, backing off."""
        wait = _RESEND_FIRST
        with self._owing:
            while not self._stopping:
                if not self._owed:
                    wait = _RESEND_FIRST
                    self._owing.wait()
                    continue
                self._owing.wait(wait)
                for peer, seq in list(self._owed.items()):
                    payload = json.dumps({"seq": seq, "paths": None}).encode()
                    if self._send_to(peer, payload):
                        del self._owed[peer]
                wait = min(wait * 2, _RESEND_LONGEST)

    def _receive(self) -> None:
        while True:
            try:
                first = self._receiver.recv(65536)
            except OSError:
                return
            batch = [first]
            # Fold whatever else is queued into the same delivery.
            while True:
                try:
                    batch.append(self._receiver.recv(65536, socket.MSG_DONTWAIT))
                except OSError:
                    break
            if self._stopping:
                return
            changed: set[str] | None = set()
            for datagram in batch:
                try:
                    message = json.loads(datagram)
                    self.tracker.saw(int(message["seq"]))
                    listed = message["paths"]
                except (ValueError, KeyError, TypeError):
                    listed = None
                if listed is None:
                    changed = None
                elif changed is not None:
                    changed.update(str(p) for p in listed)
            self._deliver(None if changed is None else sorted(changed))

    def close(self) -> None:
        with self._owing:
            self._stopping = True
            self._owing.notify()
        if self._resender is not None:
            self._resender.join(timeout=5)
        if self._thread.is_alive():
            with contextlib.suppress(OSError):
                self._sender.sendto(_STOP, self._address(self.endpoint))
            self._thread.join(timeout=5)
        self._receiver.close()
        self._sender.close()
        with contextlib.suppress(OSError):
            os.unlink(self.endpoint, dir_fd=self._dir_fd)
        os.close(self._dir_fd)
