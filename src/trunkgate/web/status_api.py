"""The status of every pipeline: as one answer, and as a stream of
server-sent events that sends it again each time the scheduler changes it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from starlette.requests import Request
from starlette.responses import Response

from trunkgate.web.answers import event_stream
from trunkgate.web.context import context

#: A page is sent the status at most this often: a busy gate changes it many
#: times a second, and each answer is the whole status.
LEAST_SEND_GAP_S = 0.5


async def status(request: Request) -> Response:
    web = context(request)
    return Response(web.feed.body, media_type="application/json")


async def status_events(request: Request) -> Response:
    web = context(request)

    async def events() -> AsyncGenerator[tuple[str, str, str | None]]:
        version = web.feed.version
        yield "status", web.feed.body.decode(), str(version)
        while True:
            await asyncio.sleep(LEAST_SEND_GAP_S)
            version = await web.feed.wait_newer(version)
            yield "status", web.feed.body.decode(), str(version)

    return event_stream(events, web.stop)
