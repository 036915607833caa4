"""A build's console log (pages of lines, the raw bytes, and the live
stream of a running build) and its artifacts: every file read through
`logfiles`, confined to the build's directory under the log root, links
never followed."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator

from starlette.requests import Request
from starlette.responses import Response

from trunkgate.history.records import BuildRecord
from trunkgate.web import logfiles
from trunkgate.web.answers import (
    FileAnswer,
    NotFound,
    TooBusy,
    event_stream,
    int_param,
    json_answer,
    optional_int,
)
from trunkgate.web.console import MOST_LINES
from trunkgate.web.context import WebContext, context
from trunkgate.web.live_remote import follow_remote, live_console_url
from trunkgate.web.read_api import find_build

#: Bytes one live event carries at most.
EVENT_BYTES = 64 << 10
#: While a build has no console yet, or its console is quiet, how soon the
#: history is asked whether it has ended (doubling while nothing happens).
END_CHECK_S = 1.0
LONGEST_CHECK_S = 8.0
_EVENT_ID = re.compile(r"[0-9]{1,15}")


async def _console_parts(web: WebContext, record: BuildRecord) -> tuple[str, ...]:
    """The console's path under this host's log root (fetched there from
    the log store when another host ran the build)."""
    return await web.build_logs.console_parts(record)


async def _open_console(web: WebContext, record: BuildRecord) -> logfiles.OpenFile:
    parts = await _console_parts(web, record)
    try:
        return logfiles.OpenFile(web.log_root, parts)
    except logfiles.NotServed:
        raise NotFound(f"the console log of build {record.id} is gone") from None


async def console_page(request: Request) -> Response:
    """Lines `first`.. of the console (the last page without `first`)."""
    web = context(request)
    record = await find_build(web, request.path_params["id"])
    first = optional_int(request, "first", least=1, most=2**40)
    count = int_param(request, "count", 1000, least=1, most=MOST_LINES)
    with await _open_console(web, record) as opened:
        page = await asyncio.to_thread(
            web.pages.page, opened.fd, record.log_path or "", first, count
        )
    answer = page.as_dict()
    answer["finished"] = record.finished
    return json_answer(answer)


async def raw_console(request: Request) -> Response:
    web = context(request)
    record = await find_build(web, request.path_params["id"])
    return FileAnswer(await _open_console(web, record), "text/plain; charset=utf-8")


def _resumed_at(request: Request) -> int:
    """Where a stream starts: the Last-Event-ID a reconnecting browser sends,
    else `offset`."""
    resumed = request.headers.get("last-event-id", "")
    if _EVENT_ID.fullmatch(resumed):
        return int(resumed)
    return int_param(request, "offset", 0, most=2**40)


async def console_events(request: Request) -> Response:
    """The console from byte `offset` on, as it is written: one event per
    batch of whole lines (a line longer than an event goes in parts, each
    but its last marked `continues`), `end` once the build has ended and
    everything is sent."""
    web = context(request)
    record = await find_build(web, request.path_params["id"])
    offset = _resumed_at(request)
    if not web.streams.acquire():
        raise TooBusy("too many live pages are open on this site; try again later")

    async def events() -> AsyncGenerator[tuple[str, str, str | None]]:
        try:
            async for event in _follow(web, record, offset):
                yield event
        finally:
            web.streams.release()

    return event_stream(events, web.stop)


async def _follow(
    web: WebContext, record: BuildRecord, position: int
) -> AsyncGenerator[tuple[str, str, str | None]]:
    current = record
    wait = END_CHECK_S
    # The executor records the build and opens its console at once, in no
    # set order: until both are there, it is asked now and then.
    while not current.log_path or not await _exists(web, current):
        if current.finished:
            yield _end(current)
            return
        # Run on another host: read from its executor while it runs there.
        url = await live_console_url(web.store, record.id)
        heard = False
        if url is not None:
            start = position
            async for event, after in _follow_live(web, url, start):
                position = after
                heard = True
                yield event
        if heard:
            wait = END_CHECK_S
        else:
            # Nothing from the executor (not reachable, not running it, or
            # no console yet): asked again after a pause that grows.
            await asyncio.sleep(wait)
            wait = min(wait * 2, LONGEST_CHECK_S)
        current = await find_build(web, record.id)
    parts = await _console_parts(web, current)
    async with web.watcher.follow(web.log_root.joinpath(*parts)) as followed:
        # The history is asked whether the build ended only when its console
        # was closed or stayed quiet a while: not on every line.
        ask = True
        while True:
            followed.woken.clear()
            data, continues = _next_lines(web, parts, position)
            if data:
                position += len(data)
                yield _lines(data, position, continues)
                continue
            if ask or followed.closed:
                current = await find_build(web, record.id)
            if current.finished:
                rest = _read(web, parts, position)
                if rest:
                    position += len(rest)
                    yield _lines(rest, position, False)
                yield _end(current)
                return
            # Woken by a write, or asked again after a while: a build may end
            # without another write (a kill).
            try:
                await asyncio.wait_for(followed.woken.wait(), END_CHECK_S)
                ask = False
            except TimeoutError:
                ask = True


async def _follow_live(
    web: WebContext, url: str, position: int
) -> AsyncGenerator[tuple[tuple[str, str, str | None], int]]:
    """Events of whole lines from the executor, each with the position
    after it; a line the executor is still writing waits for its end."""
    pending = b""
    async for data in follow_remote(url, position, web.read_token):
        pending += data
        while True:
            chunk, continues = _cut(pending)
            if not chunk:
                break
            pending = pending[len(chunk) :]
            position += len(chunk)
            yield _lines(chunk, position, continues), position


def _lines(data: bytes, position: int, continues: bool) -> tuple[str, str, str | None]:
    text = data.decode("utf-8", "replace")
    body = {"text": text, "offset": position, "continues": continues}
    return "lines", json.dumps(body), str(position)


def _end(record: BuildRecord) -> tuple[str, str, str | None]:
    return "end", json.dumps({"result": record.result}), None


async def _exists(web: WebContext, record: BuildRecord) -> bool:
    try:
        (await _open_console(web, record)).close()
    except NotFound:
        return False
    return True


def _read(web: WebContext, parts: tuple[str, ...], position: int) -> bytes:
    try:
        return logfiles.read_file(web.log_root, parts, offset=position, limit=EVENT_BYTES)
    except logfiles.NotServed:
        return b""


def _next_lines(web: WebContext, parts: tuple[str, ...], position: int) -> tuple[bytes, bool]:
    """The whole lines written from `position` (see `_cut`)."""
    return _cut(_read(web, parts, position))


def _cut(data: bytes) -> tuple[bytes, bool]:
    """The whole lines at the start of `data`, up to EVENT_BYTES; a line
    longer than that goes in parts cut between characters (`continues`). A
    line still being written waits for its end."""
    data = data[:EVENT_BYTES]
    end = data.rfind(b"\n") + 1
    if end:
        return data[:end], False
    if len(data) < EVENT_BYTES:
        return b"", False
    return data[: _whole_characters(data)], True


def _whole_characters(data: bytes) -> int:
    """The length of `data` without a UTF-8 character cut at its end."""
    lead = len(data) - 1
    while lead > len(data) - 4 and data[lead] & 0xC0 == 0x80:  # continuation bytes
        lead -= 1
    first = data[lead]
    needs = 1 if first < 0xC0 else 2 if first < 0xE0 else 3 if first < 0xF0 else 4
    return len(data) if lead + needs <= len(data) else lead


async def artifacts(request: Request) -> Response:
    web = context(request)
    record = await find_build(web, request.path_params["id"])
    parts = await _console_parts(web, record)
    try:
        entries = await asyncio.to_thread(logfiles.list_tree, web.log_root, parts[:-1])
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
    parts = await _console_parts(web, record)
    try:
        wanted = logfiles.relative_parts(request.path_params["path"])
        opened = logfiles.OpenFile(web.log_root, parts[:-1] + wanted)
    except logfiles.NotServed:
        raise NotFound("no such artifact") from None
    try:
        text = logfiles.looks_like_text(opened.name, opened.read(4096))
    except OSError:
        opened.close()
        raise
    if text:
        return FileAnswer(opened, "text/plain; charset=utf-8")
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in opened.name) or "artifact"
    return FileAnswer(
        opened,
        "application/octet-stream",
        {"Content-Disposition": f'attachment; filename="{safe}"'},
    )
