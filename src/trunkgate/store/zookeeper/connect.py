"""Opening connections to ZooKeeper for kazoo: plain TCP, or TLS from the store's settings.

kazoo's own TLS connect leaks its socket when the handshake fails and keeps
no record of why; this handler does the handshake on a connected socket and
remembers the last failure, so the store can say what went wrong.

kazoo waits for the answer to a session handshake for the whole session
timeout (divided by the number of hosts). A server that is starting can take
a connection and never answer it; with one host, that wait alone outlasts
the session. This handler bounds the handshake's waits, so a silent server
is left and tried again while the session still lives.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from kazoo.handlers.threading import SequentialThreadingHandler

from ..settings import TLSSettings


def tls_context(tls: TLSSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(tls.ca) if tls.ca is not None else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # ZooKeeper servers are usually named by address in the host list, and
    # their certificates often carry none: trust the CA, not the name.
    context.check_hostname = False
    if not tls.verify:
        context.verify_mode = ssl.CERT_NONE
    if tls.cert is not None and tls.key is not None:
        context.load_cert_chain(certfile=str(tls.cert), keyfile=str(tls.key))
    return context


class ConnectingHandler(SequentialThreadingHandler):  # type: ignore[misc]
    def __init__(self, context: ssl.SSLContext | None, handshake_timeout_s: float) -> None:
        super().__init__()
        self._context = context
        self._handshake_timeout_s = handshake_timeout_s
        self._handshaking = False
        self.last_error: BaseException | None = None

    def create_connection(
        self,
        address: tuple[str, int],
        hostname: str | None = None,
        timeout: float | None = None,
        **ignored: Any,
    ) -> socket.socket:
        self._handshaking = True
        if timeout is not None:
            # The TCP connect and a TLS handshake are bounded alike.
            timeout = min(timeout, self._handshake_timeout_s)
        try:
            raw = socket.create_connection(address, timeout)
            if self._context is None:
                return raw
            # On a connected socket, a failed handshake closes the socket.
            return self._context.wrap_socket(raw, server_hostname=hostname)
        except OSError as exc:
            self.last_error = exc
            raise

    def select(
        self, rlist: list[Any], wlist: list[Any], xlist: list[Any], timeout: float | None = None
    ) -> tuple[list[Any], list[Any], list[Any]]:
        # Called by kazoo's connection thread (and by `command`, which the
        # store never uses). Until the session is up it waits on the socket
        # alone; once up, on the socket and its wake-up pipe.
        if self._handshaking:
            if len(rlist) > 1:
                self._handshaking = False
            elif timeout is not None:
                timeout = min(timeout, self._handshake_timeout_s)
        ready: tuple[list[Any], list[Any], list[Any]] = super().select(rlist, wlist, xlist, timeout)
        return ready
