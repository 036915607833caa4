"""The build history's reads and writes as plain functions on a SQLAlchemy
connection, turning rows into records and back. They run in the history's
worker thread; nothing here knows about the event loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, Select, func, or_, select

from trunkgate.history.errors import UnknownRecord
from trunkgate.history.records import BuildRecord, BuildsetRecord, RecordedNode
from trunkgate.history.tables import build, buildset

_BUILD_COLUMNS = (
    build,
    buildset.c.project,
    buildset.c.change,
    buildset.c.patchset,
    buildset.c.pipeline,
    buildset.c.site,
)


@dataclass(frozen=True)
class BuildFilter:
    """Which builds to list; None matches anything."""

    change: int | None = None
    patchset: int | None = None
    job: str | None = None
    project: str | None = None
    pipeline: str | None = None
    buildset: str | None = None
    result: str | None = None
    site: str | None = None
    node_provider: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None


@dataclass(frozen=True)
class BuildsetFilter:
    """Which buildsets to list; None matches anything."""

    change: int | None = None
    patchset: int | None = None
    project: str | None = None
    pipeline: str | None = None
    result: str | None = None
    site: str | None = None


def _of_site(connection: Connection, site: str) -> ColumnElement[bool]:
    """A site's buildsets, and those recorded before sites had ids (every site's).

    On SQLite written as coalesce(site, :site) = :site, which no index serves:
    with ``site = :site OR site IS NULL`` SQLite drives the listing from the
    buildset site index, joins every build of the site and sorts them all,
    where this way it walks the started index newest first and stops at the
    limit. PostgreSQL does that with the OR, which its statistics estimate
    well, and not with the coalesce, which they cannot.
    """
    if connection.dialect.name == "sqlite":
        return func.coalesce(buildset.c.site, site) == site
    return or_(buildset.c.site == site, buildset.c.site.is_(None))


def insert_buildset(connection: Connection, record: BuildsetRecord) -> None:
    connection.execute(
        buildset.insert().values(
            uuid=record.uuid,
            site=record.site,
            pipeline=record.pipeline,
            project=record.project,
            change=record.change,
            patchset=record.patchset,
            ref=record.ref,
            branch=record.branch,
            result=record.result,
            message=record.message,
            started=record.started,
            ended=record.ended,
        )
    )


def update_buildset(connection: Connection, uuid: str, values: Mapping[str, Any]) -> None:
    done = connection.execute(buildset.update().where(buildset.c.uuid == uuid).values(**values))
    if done.rowcount != 1:
        raise UnknownRecord(f"no buildset {uuid}")


def get_buildset(connection: Connection, uuid: str) -> BuildsetRecord | None:
    row = connection.execute(select(buildset).where(buildset.c.uuid == uuid)).one_or_none()
    return None if row is None else _buildset_record(row._mapping)


def list_buildsets(
    connection: Connection, where: BuildsetFilter, limit: int, offset: int
) -> list[BuildsetRecord]:
    query = select(buildset)
    for name in ("change", "patchset", "project", "pipeline", "result"):
        wanted = getattr(where, name)
        if wanted is not None:
            query = query.where(buildset.c[name] == wanted)
    if where.site is not None:
        query = query.where(_of_site(connection, where.site))
    query = query.order_by(buildset.c.started.desc(), buildset.c.uuid.desc())
    rows = connection.execute(query.limit(limit).offset(offset))
    return [_buildset_record(row._mapping) for row in rows]


def insert_build(connection: Connection, record: BuildRecord) -> None:
    connection.execute(
        build.insert().values(
            id=record.id,
            buildset_uuid=record.buildset,
            **_build_values(record),
        )
    )


def update_build(connection: Connection, build_id: str, record: BuildRecord) -> None:
    done = connection.execute(
        build.update().where(build.c.id == build_id).values(**_build_values(record))
    )
    if done.rowcount != 1:
        raise UnknownRecord(f"no build {build_id}")


def get_build(connection: Connection, build_id: str) -> BuildRecord | None:
    row = connection.execute(_builds_query().where(build.c.id == build_id)).one_or_none()
    return None if row is None else _build_record(row._mapping)


def list_builds(
    connection: Connection, where: BuildFilter, limit: int, offset: int
) -> list[BuildRecord]:
    query = _builds_query()
    columns = {
        "change": buildset.c.change,
        "patchset": buildset.c.patchset,
        "job": build.c.job,
        "project": buildset.c.project,
        "pipeline": buildset.c.pipeline,
        "buildset": build.c.buildset_uuid,
        "result": build.c.result,
        "node_provider": build.c.node_provider,
    }
    for name, column in columns.items():
        wanted = getattr(where, name)
        if wanted is not None:
            query = query.where(column == wanted)
    if where.site is not None:
        query = query.where(_of_site(connection, where.site))
    if where.started_after is not None:
        query = query.where(build.c.started >= where.started_after)
    if where.started_before is not None:
        query = query.where(build.c.started < where.started_before)
    query = query.order_by(build.c.started.desc(), build.c.id.desc())
    rows = connection.execute(query.limit(limit).offset(offset))
    return [_build_record(row._mapping) for row in rows]


def builds_with_ids(connection: Connection, ids: Sequence[str]) -> list[BuildRecord]:
    rows = connection.execute(_builds_query().where(build.c.id.in_(list(ids))))
    return [_build_record(row._mapping) for row in rows]


def _builds_query() -> Select[Any]:
    return select(*_BUILD_COLUMNS).join_from(
        build, buildset, build.c.buildset_uuid == buildset.c.uuid
    )


def _build_values(record: BuildRecord) -> dict[str, Any]:
    return {
        "job": record.job,
        "result": record.result,
        "voting": record.voting,
        "node_provider": record.node_provider,
        "nodes": [
            {k: v for k, v in dataclasses.asdict(n).items() if v is not None} for n in record.nodes
        ],
        "log_path": record.log_path,
        "started": record.started,
        "ended": record.ended,
        "retries": record.retries,
        "tree": dict(record.tree),
        "error": record.error,
    }


def _buildset_record(row: RowMapping) -> BuildsetRecord:
    return BuildsetRecord(
        uuid=row["uuid"],
        pipeline=row["pipeline"],
        project=row["project"],
        change=row["change"],
        patchset=row["patchset"],
        ref=row["ref"],
        branch=row["branch"],
        result=row["result"],
        message=row["message"],
        started=row["started"],
        ended=row["ended"],
        site=row["site"],
    )


def _build_record(row: RowMapping) -> BuildRecord:
    nodes: Sequence[Mapping[str, str]] = row["nodes"]
    return BuildRecord(
        id=row["id"],
        job=row["job"],
        project=row["project"],
        change=row["change"],
        patchset=row["patchset"],
        pipeline=row["pipeline"],
        result=row["result"],
        node_provider=row["node_provider"],
        log_path=row["log_path"],
        started=row["started"],
        ended=row["ended"],
        buildset=row["buildset_uuid"],
        voting=bool(row["voting"]),
        nodes=tuple(
            RecordedNode(
                name=n["name"],
                label=n["label"],
                node_id=n.get("node_id"),
                image=n.get("image"),
                image_build=n.get("image_build"),
            )
            for n in nodes
        ),
        retries=row["retries"],
        tree=dict(row["tree"]),
        error=row["error"],
        site=row["site"],
    )
