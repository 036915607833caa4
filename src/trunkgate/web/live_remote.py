"""The console of a build running on another host, read from its executor
as it is written (`executor.live_consoles`): asked for the bytes after what
was had, the executor answers at once when there are some and otherwise
waits up to LIVE_WAIT_S for more. A small HTTP/1.1 client on the event loop:
a live page holds no thread while it waits."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass

from trunkgate.builds import paths
from trunkgate.store import Store, StoreError

#: How long the executor is asked to wait for more, and how much longer
#: its answer may take before the connection is given up.
LIVE_WAIT_S = 10.0
SLACK_S = 10.0
#: The longest answer head and body taken.
MOST_HEAD_BYTES = 16 << 10
MOST_BODY_BYTES = 1 << 20
RUNNING = "x-console-running"


@dataclass(frozen=True)
class Answer:
    data: bytes
    running: bool


async def live_console_url(store: Store, build_id: str) -> str | None:
    """Where the build's executor serves its console now, if anywhere."""
    try:
        record = await store.get(paths.build_console(build_id))
    except StoreError:
        return None
    if record is None or not isinstance(record.value, dict):
        return None
    url = record.value.get("url")
    return url if isinstance(url, str) else None


async def ask(url: str, offset: int, token: str | None, wait: float = LIVE_WAIT_S) -> Answer:
    """The bytes from `offset` on; OSError when the executor cannot be asked."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise OSError(f"{url!r} is no console address")
    secure = parsed.scheme == "https"
    port = parsed.port or (443 if secure else 80)
    target = f"{parsed.path}?offset={offset}&wait={wait:g}"
    lines = [f"GET {target} HTTP/1.1", f"Host: {parsed.netloc}", "Connection: close"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    context = ssl.create_default_context() if secure else None
    try:
        async with asyncio.timeout(wait + SLACK_S):
            reader, writer = await asyncio.open_connection(parsed.hostname, port, ssl=context)
            try:
                writer.write(request)
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                if len(head) > MOST_HEAD_BYTES:
                    raise OSError("the executor's answer has too long a head")
                status, headers = _head(head)
                body = await _body(reader, headers)
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise OSError(f"the executor at {url} did not answer: {type(exc).__name__}") from None
    if status == 404:
        return Answer(b"", False)  # the build no longer runs there
    if status != 200:
        raise OSError(f"the executor at {url} answered {status}")
    return Answer(body, headers.get(RUNNING) == "yes")


def _head(head: bytes) -> tuple[int, dict[str, str]]:
    status_line, *rest = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise OSError(f"not an HTTP answer: {status_line[:80]!r}")
    headers = {}
    for line in rest:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    length = headers.get("content-length", "")
    if length.isdigit():
        size = int(length)
        if size > MOST_BODY_BYTES:
            raise OSError("the executor's answer is too long")
        return await reader.readexactly(size)
    return await reader.read(MOST_BODY_BYTES)


async def follow_remote(url: str, position: int, token: str | None) -> AsyncIterator[bytes]:
    """Each run of bytes the build writes from `position` on, until its
    executor no longer runs it (or cannot be reached)."""
    while True:
        try:
            answer = await ask(url, position, token)
        except OSError:
            return
        if answer.data:
            position += len(answer.data)
            yield answer.data
        elif not answer.running:
            return
