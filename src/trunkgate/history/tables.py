"""The build history's tables, as SQLAlchemy Core metadata: the schema that
the newest migration must produce. Changing anything here needs a new
migration under migrations/versions and a line in schema.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

# Every name starts with the prefix so that the history can share a database
# with other applications; constraint names are fixed so that migrations can
# name them on every backend.
PREFIX = "trunkgate_"
VERSION_TABLE = f"{PREFIX}history_version"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time: stored as naive UTC on every backend, read back aware.

    Naive datetimes are refused on the way in; a local time without its zone
    would be stored as a wrong instant.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"the history stores aware datetimes only, not {value!r}")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


NAME = 255
RESULT = 32
UUID = 36

buildset = Table(
    f"{PREFIX}buildset",
    metadata,
    Column("uuid", String(UUID), primary_key=True),
    # The site whose scheduler ran it (its store's id): sites may share a
    # database. None for buildsets recorded before sites were named.
    Column("site", String(UUID), nullable=True),
    Column("pipeline", String(NAME), nullable=False),
    Column("project", String(NAME), nullable=False),
    Column("change", Integer, nullable=True),
    Column("patchset", Integer, nullable=True),
    Column("ref", String(NAME), nullable=True),
    Column("branch", String(NAME), nullable=True),
    Column("result", String(RESULT), nullable=True),
    Column("message", Text, nullable=True),
    Column("started", UtcDateTime, nullable=False),
    Column("ended", UtcDateTime, nullable=True),
    Index(None, "change", "patchset"),
    Index(None, "project"),
    Index(None, "pipeline"),
    Index(None, "started"),
    Index(None, "site"),
)

build = Table(
    f"{PREFIX}build",
    metadata,
    Column("id", String(UUID), primary_key=True),
    Column(
        "buildset_uuid",
        String(UUID),
        ForeignKey(buildset.c.uuid, ondelete="CASCADE"),
        nullable=False,
    ),
    Column("job", String(NAME), nullable=False),
    Column("result", String(RESULT), nullable=True),
    Column("voting", Boolean, nullable=False),
    Column("node_provider", String(NAME), nullable=True),
    # [{"name": ..., "label": ...}, ...] in nodeset order; since the web
    # dashboard also "node_id", "image" and "image_build" (JSON: no migration).
    Column("nodes", JSON, nullable=False),
    Column("log_path", Text, nullable=True),
    Column("started", UtcDateTime, nullable=False),
    Column("ended", UtcDateTime, nullable=True),
    Column("retries", Integer, nullable=False),
    # {project: commit} as the merger prepared the tree.
    Column("tree", JSON, nullable=False),
    Column("error", Text, nullable=True),
    Index(None, "buildset_uuid"),
    Index(None, "job"),
    Index(None, "started"),
)
