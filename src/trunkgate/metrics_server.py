"""A minimal HTTP endpoint for Prometheus: `GET /metrics` on the web address.
It stands until the web dashboard serves /metrics itself."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from trunkgate.config.loader import Config
from trunkgate.store import Store


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request = await asyncio.wait_for(reader.readline(), timeout=10)
        while (await asyncio.wait_for(reader.readline(), timeout=10)) not in (b"\r\n", b"\n", b""):
            pass
        parts = request.decode("latin-1").split()
        if len(parts) >= 2 and parts[0] == "GET" and parts[1].split("?")[0] == "/metrics":
            body, status, kind = generate_latest(REGISTRY), "200 OK", CONTENT_TYPE_LATEST
        else:
            body, status, kind = b"not found: try /metrics\n", "404 Not Found", "text/plain"
        head = f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
        await writer.drain()
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def run_metrics(
    config: Config, store: Store, stop: asyncio.Event, *, sock: socket.socket | None = None
) -> None:
    """Answers on `sock` when given (`serve` binds the port before it opens
    the store), else on the config's web address."""
    if sock is not None:
        server = await asyncio.start_server(_answer, sock=sock)
    else:
        server = await asyncio.start_server(_answer, config.web.listen, config.web.port)
    async with server:
        await stop.wait()
