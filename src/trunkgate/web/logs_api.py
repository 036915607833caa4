"""A build's console log (pages of lines, the raw bytes, and the live
stream of a running build) and its artifacts: every file read through
`logfiles`, confined to the log root, links never followed."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncGenerator
from pathlib import Path, PurePosixPath

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from trunkgate.history.records import BuildRecord
from trunkgate.web import logfiles
from trunkgate.web.answers import NotFound, event_stream, int_param, json_answer
from trunkgate.web.console import MOST_LINES
from trunkgate.web.context import WebContext
from trunkgate.web.read_api import context, find_build

#: Bytes one live event carries at most.
EVENT_BYTES = 64 << 10
#: While a build has no console yet, or its file is quiet, how often the
#: history is asked whether it has ended.
END_CHECK_S = 1.0


def _console_parts(web: WebContext, record: BuildRecord) -> tuple[str, ...]:
    if not record.log_path:
        raise NotFound(f"build {record.id} has no console log")
    try:
        return logfiles.is_under(web.log_root, Path(record.log_path))
    except logfiles.NotServed:
        raise NotFound(f"build {record.id} has no console log here") from None


def _build_dir(web: WebContext, record: BuildRecord) -> tuple[str, ...]:
    return _console_parts(web, record)[:-1]


async def console_page(request: Request) -> Response:
    """Lines `first`.. of the console (the last page without `first`)."""
    web = context(request)
    record = await find_build(web, request.path_params["id"])
    parts = _console_parts(web, record)
    first = int_param(request, "first", least=1, most=2**40)
    count = int_param(request, "count", default=1000, least=1, most=MOST_LINES) or 1000
    try:
        fd = logfiles.open_under(web.log_root, parts)
    except logfiles.NotServed:
        raise NotFound(f"the console log of build {record.id} is gone") from None
    try:
        page = web.pages.page(fd, record.log_path or "", first, count)
    finally:
        os.close(fd)
    answer = page.as_dict()
    answer["finished"] = record.finished
    return json_answer(answer)


async def raw_console(request: Request) -> Response:
    web = context(request)
    record = await find_build(web, request.path_params["id"])
    try:
        chunks = logfiles.stream_file(web.log_root, _console_parts(web, record))
    except logfiles.NotServed:
        raise NotFound(f"the console log of build {record.id} is gone") from None
    return StreamingResponse(chunks, media_type="text/plain; charset=utf-8")


async def console_events(request: Request) -> Response:
    """The console from byte `offset` on (or the Last-Event-ID a reconnecting
    browser sends), as it is written: one event per batch of whole lines,
    `end` once the build has ended and everything is sent."""
    web = context(request)
    record = await find_build(web, request.path_params["id"])
    resumed = request.headers.get("last-event-id", "")
    offset = int(resumed) if resumed.isdigit() else None
    if offset is None:
        offset = int_param(request, "offset", default=0, most=2**40) or 0

    async def events() -> AsyncGenerator[tuple[str, str, str | None]]:
        position = offset
        current = record
        # The executor records the build and opens its console at once, in
        # no set order: until both are there, it is asked now and then.
        while not current.log_path or not _exists(web, current):
            if current.finished:
                yield "end", json.dumps({"result": current.result}), None
                return
            await asyncio.sleep(END_CHECK_S)
            current = await find_build(web, record.id)
        parts = _console_parts(web, current)
        path = web.log_root.joinpath(*parts)
        async with web.watcher.follow(path) as followed:
            # The history is asked whether the build ended only when its
            # console was closed or stayed quiet a while: not on every line.
            ask = True
            while True:
                followed.woken.clear()
                data = _read_whole_lines(web, parts, position)
                if data:
                    position += len(data)
                    text = data.decode("utf-8", "replace")
                    yield "lines", json.dumps({"text": text, "offset": position}), str(position)
                    continue
                if ask or followed.closed:
                    current = await find_build(web, record.id)
                if current.finished:
                    rest = _read_whole_lines(web, parts, position, whole=False)
                    if rest:
                        position += len(rest)
                        text = rest.decode("utf-8", "replace")
                        yield "lines", json.dumps({"text": text, "offset": position}), str(position)
                    yield "end", json.dumps({"result": current.result}), None
                    return
                # Woken by a write, or asked again after a while: a build may
                # end without another write (a kill).
                try:
                    await asyncio.wait_for(followed.woken.wait(), END_CHECK_S)
                    ask = False
                except TimeoutError:
                    ask = True

    return event_stream(events, web.stop)


def _exists(web: WebContext, record: BuildRecord) -> bool:
    try:
        logfiles.file_size(web.log_root, _console_parts(web, record))
    except (logfiles.NotServed, NotFound):
        return False
    return True


def _read_whole_lines(
    web: WebContext, parts: tuple[str, ...], position: int, *, whole: bool = True
) -> bytes:
    try:
        data = logfiles.read_file(web.log_root, parts, offset=position, limit=EVENT_BYTES)
    except logfiles.NotServed:
        return b""
    if whole and len(data) < EVENT_BYTES:
        # A line still being written is sent when it ends.
        data = data[: data.rfind(b"\n") + 1]
    return data


async def artifacts(request: Request) -> Response:
    web = context(request)
    record = await find_build(web, request.path_params["id"])
    try:
        entries = logfiles.list_tree(web.log_root, _build_dir(web, record))
    except logfiles.NotServed:
        raise NotFound(f"build {record.id} has no artifacts here") from None
    return json_answer(
        {
            "build": record.id,
            "entries": [e.as_dict() for e in entries],
            "truncated": len(entries) >= logfiles.MOST_ENTRIES,
        }
    )


async def artifact(request: Request) -> Response:
    """One artifact: text shown as plain text (never as a page: a job's HTML
    would run in our origin), anything else downloaded."""
    web = context(request)
    record = await find_build(web, request.path_params["id"])
    try:
        parts = _build_dir(web, record) + logfiles.relative_parts(request.path_params["path"])
        head = logfiles.read_file(web.log_root, parts, limit=4096)
        size = logfiles.file_size(web.log_root, parts)
        chunks = logfiles.stream_file(web.log_root, parts)
    except logfiles.NotServed:
        raise NotFound("no such artifact") from None
    name = PurePosixPath(parts[-1]).name
    if logfiles.looks_like_text(name, head) and size <= logfiles.INLINE_LIMIT * 64:
        return StreamingResponse(chunks, media_type="text/plain; charset=utf-8")
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "artifact"
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{safe}"'},
    )
