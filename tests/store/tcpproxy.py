"""A TCP proxy between kazoo and a real ZooKeeper that cuts the connection at
a chosen request: before the server sees it, or after the server answered it
but before the answer reaches the client. It reads ZooKeeper's framing (a
length, then the request's xid and type) and nothing else."""

from __future__ import annotations

import contextlib
import dataclasses
import select
import socket
import struct
import threading
from types import TracebackType

# Request types, as ZooKeeper numbers them.
CREATE = 1
DELETE = 2
SET_DATA = 5
MULTI = 14


@dataclasses.dataclass
class _Cut:
    opcode: int
    answered: bool
    """Cut after the server answered (the request applied), else before sending it."""


class ZooKeeperProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._cut: _Cut | None = None
        self.cuts = 0
        self.refusing = False
        self.silent = 0
        """How many of the next connections to accept and then never answer."""
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cut_before(self, opcode: int) -> None:
        """Drop the connection instead of passing on the next request of this type."""
        with self._lock:
            self._cut = _Cut(opcode, answered=False)

    def cut_after(self, opcode: int) -> None:
        """Pass on the next request of this type, then drop the connection with its answer."""
        with self._lock:
            self._cut = _Cut(opcode, answered=True)

    def start(self) -> None:
        self._spawn(self._accept)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            ready, _, _ = select.select([self._listener], [], [], 0.05)
            if not ready:
                continue
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            if self.silent > 0:
                # Held open and unread, as by a server that is still starting.
                self.silent -= 1
                with self._lock:
                    self._sockets.add(client)
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, server}
            self._spawn(self._pump, client, server)

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        """Both directions of one connection, frame by frame."""
        buffers = {client: b"", server: b""}
        first = {client: True, server: True}
        waiting_xid: int | None = None
        try:
            while not self._stopped.is_set():
                ready, _, _ = select.select([client, server], [], [], 0.05)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffers[sock] += data
                    while len(buffers[sock]) >= 4:
                        (size,) = struct.unpack(">i", buffers[sock][:4])
                        if len(buffers[sock]) < 4 + size:
                            break
                        frame, buffers[sock] = (
                            buffers[sock][: 4 + size],
                            buffers[sock][4 + size :],
                        )
                        header = not first[sock] and size >= 8
                        first[sock] = False
                        if sock is client:
                            xid, opcode = struct.unpack(">ii", frame[4:12]) if header else (0, 0)
                            with self._lock:
                                cut = self._cut
                                if header and cut is not None and cut.opcode == opcode:
                                    self._cut = None
                                    if not cut.answered:
                                        self.cuts += 1
                                        return
                                    waiting_xid = xid
                            server.sendall(frame)
                        else:
                            xid = struct.unpack(">i", frame[4:8])[0] if header else 0
                            if waiting_xid is not None and xid == waiting_xid:
                                with self._lock:
                                    self.cuts += 1
                                return
                            client.sendall(frame)
        except OSError:
            return
        finally:
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
                with self._lock:
                    self._sockets.discard(sock)

    def drop_all(self) -> None:
        """Cut every open connection now."""
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._stopped.set()
        self.drop_all()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def __enter__(self) -> ZooKeeperProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
