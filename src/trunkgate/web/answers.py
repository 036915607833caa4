"""How the web answers: JSON bodies, problems with a message, server-sent
events, and the query parameters a request may carry, checked."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from trunkgate.history import HistoryError
from trunkgate.store import StoreError
from trunkgate.web.logfiles import OpenFile, chunks

log = logging.getLogger("trunkgate.web")

#: An idle event stream sends a comment this often, so a dead client is found.
KEEPALIVE_S = 15.0

# Every answer: no page may frame ours, sniff a type, or run a script of
# another origin; a page's own script and style come from /static only.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
}


class BadRequest(Exception):
    """A request's parameter is wrong; the message names it."""


class NotFound(Exception):
    """What the request names does not exist (or may not be shown)."""


class TooBusy(Exception):
    """The web has as much of this work open as it takes; try later (503)."""


def json_answer(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, separators=(",", ":"), default=str).encode()
    return Response(body, status_code=status, media_type="application/json")


def problem(status: int, message: str) -> Response:
    return json_answer({"error": message}, status)


def text_param(request: Request, name: str, most: int = 255) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if len(value) > most:
        raise BadRequest(f"{name}: at most {most} characters")
    return value


def optional_int(request: Request, name: str, *, least: int = 0, most: int) -> int | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    if len(text) > 20 or not text.lstrip("-").isdigit() or not text.isascii():
        raise BadRequest(f"{name}: {text[:40]!r} is not a whole number")
    value = int(text)
    if not least <= value <= most:
        raise BadRequest(f"{name}: {value} is not between {least} and {most}")
    return value


def int_param(request: Request, name: str, default: int, *, least: int = 0, most: int) -> int:
    found = optional_int(request, name, least=least, most=most)
    return default if found is None else found


def time_param(request: Request, name: str) -> datetime | None:
    text = text_param(request, name, most=40)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"{name}: {text!r} is not an ISO 8601 time (like 2026-12-01T08:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise BadRequest(f"{name}: {text!r} is out of range") from None


def event_stream(
    events: Callable[[], AsyncGenerator[tuple[str, str, str | None]]],
    stop: asyncio.Event,
) -> Response:
    """Server-sent events from `events` (name, data, id), with keepalives,
    ending when the events end or the web component stops."""

    async def body() -> AsyncIterator[bytes]:
        source = events()
        stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        turn: asyncio.Future[Any] | None = None
        try:
            while True:
                turn = asyncio.ensure_future(anext(source))
                done: set[asyncio.Future[Any]] = set()
                while not done:
                    done, _ = await asyncio.wait(
                        {turn, stopping},
                        timeout=KEEPALIVE_S,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if not done:
                        yield b": keepalive\n\n"
                if turn not in done:
                    return
                try:
                    name, data, ident = turn.result()
                except StopAsyncIteration:
                    return
                except (StoreError, HistoryError, NotFound, TooBusy, OSError) as exc:
                    log.warning("web: an event stream ends: %s", exc)
                    return
                yield sse_bytes(name, data, ident)
        finally:
            # The client went away or the site stops: the source's turn in
            # progress is ended before the source is closed.
            stopping.cancel()
            if turn is not None and not turn.done():
                turn.cancel()
                await asyncio.wait({turn})
            await source.aclose()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class FileAnswer(StreamingResponse):
    """An open file of the log root, sent in chunks and closed however the
    sending ends (a client that leaves early included)."""

    def __init__(
        self, opened: OpenFile, media_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.opened = opened
        super().__init__(chunks(opened), media_type=media_type, headers=headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.opened.close()


def sse_bytes(name: str, data: str, ident: str | None) -> bytes:
    lines = [f"event: {name}"]
    if ident is not None:
        lines.append(f"id: {ident}")
    lines += [f"data: {part}" for part in data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


Handler = Callable[[Request], Awaitable[Response]]
