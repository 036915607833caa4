"""The build history as the scheduler, the executor and the commands see it:
an asyncio API over a synchronous SQLAlchemy engine that runs in one worker
thread of its own, so no database call ever blocks the event loop.

The worker is a single thread so that calls reach the database in the order
they were made (a build is added before it is finished) and SQLite's
connections stay on the thread that made them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid as uuids
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from trunkgate.history import connect, migrate, queries
from trunkgate.history.errors import HistoryError, UnknownRecord
from trunkgate.history.queries import BuildFilter, BuildsetFilter
from trunkgate.history.records import (
    BUILD_RESULTS,
    BUILDSET_RESULTS,
    BuildRecord,
    BuildsetRecord,
    RecordedNode,
)
from trunkgate.history.urls import masked

T = TypeVar("T")
Clock = Callable[[], datetime]

DEFAULT_LIMIT = 100


def utc_now() -> datetime:
    return datetime.now(UTC)


def _open_engine(url: str) -> Engine:
    engine = connect.create(url)
    try:
        connect.check_connection(engine, masked(url))
        migrate.upgrade(engine, masked(url))
    except BaseException:
        engine.dispose()
        raise
    return engine


def _check_result(result: str, allowed: frozenset[str], what: str) -> str:
    if result not in allowed:
        raise ValueError(f"{result!r} is not a {what} result; one of {', '.join(sorted(allowed))}")
    return str(result)


class History:
    """Finished and running builds and buildsets in a SQL database.

    ``await History.open(url)``; every method after that is a coroutine
    until ``await history.close()``. Times are aware datetimes, UTC on the
    way out; a time left out is the clock's now. A call whose caller is
    cancelled may still reach the database: the worker thread finishes it.
    """

    def __init__(
        self, engine: Engine, shown: str, worker: ThreadPoolExecutor, clock: Clock
    ) -> None:
        self._engine = engine
        self._worker = worker
        self._clock = clock
        self._closed = False
        self.url = shown
        """The database's URL with the password masked."""

    @classmethod
    async def open(cls, url: str, *, clock: Clock = utc_now) -> History:
        """Connect to ``url`` and migrate its schema to this trunkgate's.

        Raises HistoryUnavailable (a bad URL, a missing driver, an unreachable
        server) or SchemaTooNew (a database from a newer trunkgate).
        """
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trunkgate-history")
        opening = worker.submit(_open_engine, url)
        try:
            engine = await asyncio.wrap_future(opening)
        except BaseException:
            # Cancelled while the thread still connects: close what it opens.
            opening.add_done_callback(_dispose_when_opened)
            worker.shutdown(wait=False)
            raise
        return cls(engine, masked(url), worker, clock)

    async def close(self) -> None:
        """Release the database's connections; calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        await asyncio.wrap_future(self._worker.submit(self._engine.dispose))
        self._worker.shutdown(wait=False)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # Buildsets

    def new_buildset(
        self,
        *,
        pipeline: str,
        project: str,
        change: int | None = None,
        patchset: int | None = None,
        ref: str | None = None,
        branch: str | None = None,
        uuid: str | None = None,
        started: datetime | None = None,
        site: str | None = None,
    ) -> BuildsetRecord:
        """A buildset not yet written: an item's jobs started in a pipeline.
        ``uuid`` is made if not given; ``site`` names the site that runs it,
        when sites share the database."""
        return BuildsetRecord(
            uuid=uuid or uuids.uuid4().hex,
            pipeline=pipeline,
            project=project,
            change=change,
            patchset=patchset,
            ref=ref,
            branch=branch,
            result=None,
            message=None,
            started=started or self._clock(),
            ended=None,
            site=site,
        )

    async def add_buildset(
        self,
        *,
        pipeline: str,
        project: str,
        change: int | None = None,
        patchset: int | None = None,
        ref: str | None = None,
        branch: str | None = None,
        uuid: str | None = None,
        started: datetime | None = None,
        site: str | None = None,
    ) -> BuildsetRecord:
        """Record that an item's jobs started in a pipeline (see new_buildset)."""
        record = self.new_buildset(
            pipeline=pipeline,
            project=project,
            change=change,
            patchset=patchset,
            ref=ref,
            branch=branch,
            uuid=uuid,
            started=started,
            site=site,
        )

        def add(connection: Connection) -> None:
            if queries.get_buildset(connection, record.uuid) is not None:
                raise HistoryError(f"buildset {record.uuid} is already in history {self.url}")
            queries.insert_buildset(connection, record)

        await self._write(add)
        return record

    async def finish_buildset(
        self,
        uuid: str,
        *,
        result: str,
        message: str | None = None,
        ended: datetime | None = None,
    ) -> BuildsetRecord:
        """Record how a buildset ended: its result and the report's message."""
        values = {
            "result": _check_result(result, BUILDSET_RESULTS, "buildset"),
            "message": message,
            "ended": ended or self._clock(),
        }

        def finish(connection: Connection) -> BuildsetRecord:
            queries.update_buildset(connection, uuid, values)
            record = queries.get_buildset(connection, uuid)
            assert record is not None
            return record

        return await self._write(finish)

    async def buildset(self, uuid: str) -> BuildsetRecord | None:
        return await self._read(lambda connection: queries.get_buildset(connection, uuid))

    async def buildsets(
        self,
        *,
        change: int | None = None,
        patchset: int | None = None,
        project: str | None = None,
        pipeline: str | None = None,
        result: str | None = None,
        site: str | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> list[BuildsetRecord]:
        """Buildsets that match every filter given, the newest first; with
        ``site``, that site's and those recorded before sites had ids."""
        where = BuildsetFilter(change, patchset, project, pipeline, result, site)
        return await self._read(
            lambda connection: queries.list_buildsets(connection, where, limit, offset)
        )

    # Builds

    async def add_build(
        self,
        *,
        buildset: str,
        job: str,
        voting: bool = True,
        node_provider: str | None = None,
        nodes: Iterable[RecordedNode] = (),
        tree: Mapping[str, str] | None = None,
        log_path: str | None = None,
        retries: int = 0,
        id: str | None = None,
        started: datetime | None = None,
    ) -> BuildRecord:
        """Record that a job started for a buildset; the result comes with finish_build."""
        build_id = id or uuids.uuid4().hex
        when = started or self._clock()

        def add(connection: Connection) -> BuildRecord:
            owner = queries.get_buildset(connection, buildset)
            if owner is None:
                raise UnknownRecord(f"no buildset {buildset} in history {self.url}")
            if queries.get_build(connection, build_id) is not None:
                raise HistoryError(f"build {build_id} is already in history {self.url}")
            record = _started_build(
                owner,
                build_id=build_id,
                job=job,
                started=when,
                voting=voting,
                node_provider=node_provider,
                nodes=nodes,
                tree=tree,
                log_path=log_path,
                retries=retries,
            )
            queries.insert_build(connection, record)
            return record

        return await self._write(add)

    async def start_build(
        self,
        buildset: BuildsetRecord,
        *,
        id: str,
        job: str,
        voting: bool = True,
        tree: Mapping[str, str] | None = None,
        log_path: str | None = None,
    ) -> bool:
        """Record that a build started, and its buildset unless recorded
        already, in one transaction. False, and nothing written, when the
        build is recorded already: it runs again after a stop."""
        when = self._clock()

        def start(connection: Connection) -> bool:
            if queries.get_build(connection, id) is not None:
                return False
            owner = queries.get_buildset(connection, buildset.uuid)
            if owner is None:
                try:
                    with connection.begin_nested():
                        queries.insert_buildset(connection, buildset)
                    owner = buildset
                except IntegrityError:
                    # Another executor's build of the buildset wrote it meanwhile.
                    owner = queries.get_buildset(connection, buildset.uuid)
                    if owner is None:
                        raise
            record = _started_build(
                owner,
                build_id=id,
                job=job,
                started=when,
                voting=voting,
                node_provider=None,
                nodes=(),
                tree=tree,
                log_path=log_path,
                retries=0,
            )
            queries.insert_build(connection, record)
            return True

        return await self._write(start)

    async def update_build(
        self,
        id: str,
        *,
        node_provider: str | None = None,
        nodes: Iterable[RecordedNode] | None = None,
        tree: Mapping[str, str] | None = None,
        log_path: str | None = None,
        retries: int | None = None,
    ) -> BuildRecord:
        """Record what a running build learned (its nodes, its tree, a retry); None keeps."""
        changes = _given(
            node_provider=node_provider,
            nodes=None if nodes is None else tuple(nodes),
            tree=None if tree is None else dict(tree),
            log_path=log_path,
            retries=retries,
        )
        return await self._write(lambda connection: self._change_build(connection, id, changes))

    async def finish_build(
        self,
        id: str,
        *,
        result: str,
        ended: datetime | None = None,
        error: str | None = None,
        node_provider: str | None = None,
        nodes: Iterable[RecordedNode] | None = None,
        tree: Mapping[str, str] | None = None,
        log_path: str | None = None,
        retries: int | None = None,
    ) -> BuildRecord:
        """Record how a build ended; the other fields as in update_build."""
        changes = _given(
            node_provider=node_provider,
            nodes=None if nodes is None else tuple(nodes),
            tree=None if tree is None else dict(tree),
            log_path=log_path,
            retries=retries,
            error=error,
        )
        changes["result"] = _check_result(result, BUILD_RESULTS, "build")
        changes["ended"] = ended or self._clock()
        return await self._write(lambda connection: self._change_build(connection, id, changes))

    async def build(self, id: str) -> BuildRecord | None:
        return await self._read(lambda connection: queries.get_build(connection, id))

    async def builds(
        self,
        *,
        change: int | None = None,
        patchset: int | None = None,
        job: str | None = None,
        project: str | None = None,
        pipeline: str | None = None,
        buildset: str | None = None,
        result: str | None = None,
        site: str | None = None,
        node_provider: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> list[BuildRecord]:
        """Builds that match every filter given, the newest first; with
        ``site``, that site's and those recorded before sites had ids."""
        where = BuildFilter(
            change,
            patchset,
            job,
            project,
            pipeline,
            buildset,
            result,
            site,
            node_provider,
            started_after,
            started_before,
        )
        return await self._read(
            lambda connection: queries.list_builds(connection, where, limit, offset)
        )

    async def builds_with_ids(self, ids: Iterable[str]) -> list[BuildRecord]:
        """The builds of those ids that the history has, in no order."""
        wanted = list(ids)
        if not wanted:
            return []
        return await self._read(lambda connection: queries.builds_with_ids(connection, wanted))

    # The worker thread

    def _change_build(
        self, connection: Connection, build_id: str, changes: dict[str, Any]
    ) -> BuildRecord:
        record = queries.get_build(connection, build_id)
        if record is None:
            raise UnknownRecord(f"no build {build_id} in history {self.url}")
        if record.finished:
            raise HistoryError(
                f"build {build_id} in history {self.url} has finished already ({record.result})"
            )
        changed = dataclasses.replace(record, **changes)
        queries.update_build(connection, build_id, changed)
        return changed

    async def _write(self, work: Callable[[Connection], T]) -> T:
        return await self._call(work, write=True)

    async def _read(self, work: Callable[[Connection], T]) -> T:
        return await self._call(work, write=False)

    async def _call(self, work: Callable[[Connection], T], *, write: bool) -> T:
        if self._closed:
            raise HistoryError(f"history {self.url} is closed")
        return await asyncio.wrap_future(self._worker.submit(self._transaction, work, write))

    def _transaction(self, work: Callable[[Connection], T], write: bool) -> T:
        try:
            with self._engine.connect() as connection:
                if write:
                    connection.execution_options(**{connect.WRITE: True})
                with connection.begin():
                    return work(connection)
        except SQLAlchemyError as exc:
            raise connect.translate(self._engine, self.url, exc) from exc


def _started_build(
    owner: BuildsetRecord,
    *,
    build_id: str,
    job: str,
    started: datetime,
    voting: bool,
    node_provider: str | None,
    nodes: Iterable[RecordedNode],
    tree: Mapping[str, str] | None,
    log_path: str | None,
    retries: int,
) -> BuildRecord:
    return BuildRecord(
        id=build_id,
        job=job,
        project=owner.project,
        change=owner.change,
        patchset=owner.patchset,
        pipeline=owner.pipeline,
        result=None,
        node_provider=node_provider,
        log_path=log_path,
        started=started,
        ended=None,
        buildset=owner.uuid,
        voting=voting,
        nodes=tuple(nodes),
        retries=retries,
        tree=dict(tree or {}),
    )


def _given(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _dispose_when_opened(opening: Future[Engine]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().dispose()
