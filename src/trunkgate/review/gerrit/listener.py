"""Gerrit's events, followed: `gerrit stream-events` over SSH, each line
turned into a review event for the scheduler. When the stream drops, it is
opened again after a back-off (1 s doubling to a minute); before following
it again, `gerrit query` finds what changed meanwhile, so no vote is lost,
and events already handed on (from the stream or an earlier catch-up) are
recognised and not handed on twice. Where it stands (the last event's
time and the identities of recent events) is kept by a `Cursor`, in the
store for a site, so a restart catches up too."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import asyncssh

from trunkgate.config.sections import GerritSource
from trunkgate.review.events import EventSink, ReviewEvent
from trunkgate.review.gerrit.catchup import event_key, events_since, same_event
from trunkgate.review.gerrit.stream import (
    LONGEST_LINE,
    DroppedOutput,
    GerritDataError,
    event_from_stream,
    query_rows,
)
from trunkgate.store import NoRecord, Store

log = logging.getLogger("trunkgate.review.gerrit")

#: Where sources keep what they need between runs.
SOURCES = "/sources"

FIRST_DELAY_S = 1.0
LONGEST_DELAY_S = 60.0
CONNECT_TIMEOUT_S = 30.0
KEEPALIVE_S = 30.0
KEEPALIVE_COUNT = 3
#: Seconds before the last event that a catch-up looks back too (clocks, and
#: events of one second), and at most how far back it looks at all.
CATCH_UP_MARGIN_S = 60.0
LONGEST_CATCH_UP_S = 7 * 86400.0
#: Changes one catch-up reads at most (pages of PAGE).
PAGE = 500
MOST_CAUGHT_UP = 5000
#: Event identities remembered, to know an event seen twice.
MOST_REMEMBERED = 2000
_CHUNK = 1 << 16


@dataclass
class Position:
    """Where the listener stands: the time of the last event handed on, and
    the identities of the latest ones."""

    at: float | None = None
    recent: deque[tuple[str, float]] = field(default_factory=lambda: deque(maxlen=MOST_REMEMBERED))

    def seen(self, event: ReviewEvent) -> bool:
        key = event_key(event)
        return any(same_event(key, event.at, k, at) for k, at in self.recent)

    def note(self, event: ReviewEvent) -> None:
        self.recent.append((event_key(event), event.at))
        self.at = max(self.at or 0.0, event.at)

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "recent": [list(pair) for pair in self.recent]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Position:
        found = cls(at=data.get("at"))
        for pair in data.get("recent", []):
            if isinstance(pair, list) and len(pair) == 2:
                found.recent.append((str(pair[0]), float(pair[1])))
        return found


class Cursor(Protocol):
    async def load(self) -> Position: ...

    async def save(self, position: Position) -> None: ...


class MemoryCursor:
    """A cursor that lives as long as the process (for tests and tools)."""

    def __init__(self) -> None:
        self.position = Position()

    async def load(self) -> Position:
        return self.position

    async def save(self, position: Position) -> None:
        self.position = position


class StoredCursor:
    """A source's cursor in the site's store, at /sources/<name>/stream: a
    restarted site catches up from where the last one stood."""

    def __init__(self, store: Store, source: str) -> None:
        self.store = store
        self.path = f"{SOURCES}/{source}/stream"

    async def load(self) -> Position:
        record = await self.store.get(self.path)
        if record is None or not isinstance(record.value, dict):
            return Position()
        return Position.from_dict(record.value)

    async def save(self, position: Position) -> None:
        try:
            await self.store.set(self.path, position.to_dict(), version=None)
        except NoRecord:
            await self.store.create(self.path, position.to_dict())


Connect = Callable[..., Any]


class GerritListener:
    """Hands on the events of `projects` of one Gerrit source to `sink`."""

    def __init__(
        self,
        source: GerritSource,
        key: Path | None,
        sink: EventSink,
        cursor: Cursor,
        projects: Collection[str],
        *,
        known_hosts: Any = (),
        clock: Callable[[], float] = time.time,
        connect: Connect = asyncssh.connect,
        first_delay: float = FIRST_DELAY_S,
    ) -> None:
        self.source = source
        self.key = key
        self.sink = sink
        self.cursor = cursor
        self.projects = frozenset(projects)
        self.known_hosts = known_hosts
        self.clock = clock
        self.connect = connect
        self.first_delay = first_delay
        self.connected = asyncio.Event()
        self.drops = 0
        self.healthy = False
        self.waits: deque[float] = deque(maxlen=32)
        """The latest back-offs, in seconds, for whoever looks (the tests)."""

    async def run(self, stop: asyncio.Event) -> None:
        position = await self.cursor.load()
        # A new site starts from now: what came before is not its work, and
        # its first connection has nothing to catch up.
        catch_up = position.at is not None
        if not catch_up:
            position.at = self.clock()
            await self.cursor.save(position)
        delay = self.first_delay
        stopping = asyncio.ensure_future(stop.wait())
        attempt: asyncio.Future[None] | None = None
        try:
            while not stop.is_set():
                self.healthy = False
                # Connecting and catching up may take minutes: a stop ends them.
                attempt = asyncio.ensure_future(self._attempt(position, catch_up=catch_up))
                await asyncio.wait({attempt, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not attempt.done():
                    attempt.cancel()
                    await asyncio.wait({attempt})
                    break
                catch_up = True
                failure = attempt.exception()
                if failure is not None:
                    if not isinstance(failure, OSError | asyncssh.Error | GerritDataError):
                        # Our own fault (the store, the sink): logged, tried again.
                        log.error(
                            "gerrit source %s: the listener failed",
                            self.source.name,
                            exc_info=failure,
                        )
                    self._dropped(failure, delay)
                # Only a stream that carried something, or stayed a while, was
                # working: one refused at once backs off further.
                if self.healthy:
                    delay = self.first_delay
                if stop.is_set():
                    break
                self.waits.append(delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, LONGEST_DELAY_S)
        finally:
            stopping.cancel()
            if attempt is not None and not attempt.done():
                attempt.cancel()
                await asyncio.wait({attempt})

    async def _attempt(self, position: Position, *, catch_up: bool) -> None:
        """One connection: the stream opened, what was missed caught up, then
        the stream followed until it ends."""
        try:
            async with self.connect(
                self.source.server,
                self.source.port,
                username=self.source.user,
                client_keys=[str(self.key)] if self.key is not None else None,
                known_hosts=self.known_hosts,
                connect_timeout=CONNECT_TIMEOUT_S,
                # A stream may be idle for hours: a dead link is found in a
                # minute and a half, not when TCP gives up.
                keepalive_interval=KEEPALIVE_S,
                keepalive_count_max=KEEPALIVE_COUNT,
            ) as connection:
                stream = await connection.create_process(
                    "gerrit stream-events", stdin=asyncssh.DEVNULL, encoding=None
                )
                # Followed from before the catch-up: nothing falls between.
                if catch_up:
                    await self._catch_up(connection, position)
                self.connected.set()
                await self._follow(stream, position)
        finally:
            self.connected.clear()

    def _dropped(self, exc: BaseException, delay: float) -> None:
        self.drops += 1
        log.warning(
            "gerrit source %s: no event stream from %s:%s (%s); again in %.1fs",
            self.source.name,
            self.source.server,
            self.source.port,
            exc,
            delay,
        )

    async def _follow(self, stream: asyncssh.SSHClientProcess[bytes], position: Position) -> None:
        opened = self.clock()
        pending = b""
        try:
            while True:
                chunk = await stream.stdout.read(_CHUNK)
                if not chunk:
                    said = (await stream.stderr.read(2000)).decode("utf-8", "replace").strip()
                    raise ConnectionError(
                        "Gerrit closed the event stream"
                        + (f" (exit {stream.exit_status}: {said})" if said else "")
                    )
                if self.clock() - opened >= LONGEST_DELAY_S:
                    self.healthy = True
                *lines, pending = (pending + chunk).split(b"\n")
                if len(pending) > LONGEST_LINE:
                    log.warning(
                        "gerrit source %s: a line over %d bytes dropped",
                        self.source.name,
                        LONGEST_LINE,
                    )
                    pending = b""
                for line in lines:
                    await self._hand_on_line(line, position)
        finally:
            stream.close()

    async def _hand_on_line(self, line: bytes, position: Position) -> None:
        if not line.strip():
            return
        try:
            event = event_from_stream(line, self.source.name)
        except DroppedOutput:
            # Gerrit threw events away for a slow reader: a catch-up finds them.
            raise ConnectionError("Gerrit dropped events for this reader") from None
        except GerritDataError as exc:
            log.warning("gerrit source %s: an event line skipped: %s", self.source.name, exc)
            return
        self.healthy = True
        if event is not None:
            await self._hand_on(event, position)

    async def _hand_on(self, event: ReviewEvent, position: Position) -> None:
        if event.project not in self.projects or position.seen(event):
            return
        await self.sink.emit(event)
        position.note(event)
        await self.cursor.save(position)

    async def _catch_up(self, connection: asyncssh.SSHClientConnection, position: Position) -> None:
        """What changed in the source's projects since the last event handed
        on (less a margin): each change once, however the pages shift."""
        since = (position.at or self.clock()) - CATCH_UP_MARGIN_S
        age = int(min(max(self.clock() - since, 1.0), LONGEST_CATCH_UP_S))
        if self.clock() - since > LONGEST_CATCH_UP_S:
            log.warning(
                "gerrit source %s: down for more than %d days; changes older than that "
                "are not caught up",
                self.source.name,
                LONGEST_CATCH_UP_S // 86400,
            )
        projects = " OR ".join(f"project:{p}" for p in sorted(self.projects))
        rows: dict[tuple[str, int], dict[str, Any]] = {}
        for start in range(0, MOST_CAUGHT_UP, PAGE):
            # Pages overlap by a tenth: a change updated between two pages
            # moves to the front, and the overlap keeps the rest in view.
            command = shlex.join(
                [
                    "gerrit",
                    "query",
                    "--format=JSON",
                    "--patch-sets",
                    "--all-approvals",
                    "--comments",
                    f"--start={max(start - PAGE // 10, 0)}",
                    "--",
                    f"({projects})",
                    f"-age:{age}s",
                    f"limit:{PAGE}",
                ]
            )
            result = await connection.run(command, check=False, timeout=CONNECT_TIMEOUT_S)
            if result.exit_status != 0:
                raise GerritDataError(f"gerrit query failed: {str(result.stderr)[:500]}")
            page, stats = query_rows(str(result.stdout))
            for row in page:
                key = (str(row.get("project")), int(str(row.get("number", 0)) or 0))
                rows.setdefault(key, row)
            if not (stats or {}).get("moreChanges"):
                break
        else:
            log.warning(
                "gerrit source %s: more than %d changes to catch up; the oldest are left",
                self.source.name,
                MOST_CAUGHT_UP,
            )
        found: list[ReviewEvent] = []
        for (project, number), row in rows.items():
            if project not in self.projects:
                continue
            try:
                found += events_since(row, since, self.source.name)
            except GerritDataError as exc:
                log.warning(
                    "gerrit source %s: change %s of %s not caught up: %s",
                    self.source.name,
                    number,
                    project,
                    exc,
                )
        for event in sorted(found, key=lambda e: e.at):
            await self._hand_on(event, position)
