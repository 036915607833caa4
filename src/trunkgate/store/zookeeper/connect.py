"""Opening connections to ZooKeeper for kazoo: plain TCP, or TLS from the store's settings.

kazoo's own TLS connect leaks its socket when the handshake fails and keeps
no record of why; this handler does the handshake on a connected socket and
remembers the last failure, so the store can say what went wrong.
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
    def __init__(self, context: ssl.SSLContext | None) -> None:
        super().__init__()
        self._context = context
        self.last_error: BaseException | None = None

    def create_connection(
        self,
        address: tuple[str, int],
        hostname: str | None = None,
        timeout: float | None = None,
        **ignored: Any,
    ) -> socket.socket:
        try:
            raw = socket.create_connection(address, timeout)
            if self._context is None:
                return raw
            # On a connected socket, a failed handshake closes the socket.
            return self._context.wrap_socket(raw, server_hostname=hostname)
        except OSError as exc:
            self.last_error = exc
            raise
