"""Engines for the build history: one per database URL, with SQLite set up for
several processes on one file, and every way of failing to connect turned
into a HistoryUnavailable that names the URL (password masked).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import (
    DBAPIError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)

from trunkgate.history.errors import HistoryError, HistoryUnavailable
from trunkgate.history.urls import masked, parse, sqlite_file

POSTGRESQL_HINT = "pip install 'trunkgate[postgresql]'"
SUPPORTED = "sqlite (the default) or postgresql"

# An execution option: the transaction begun on this connection writes, so on
# SQLite it takes the write lock at BEGIN (see _sqlite_begin).
WRITE = "trunkgate_history_write"

_SQLITE_BUSY_S = 30.0
_CONNECT_TIMEOUT_S = 10


def create(url: str) -> Engine:
    """An engine for ``url``; nothing is connected yet."""
    parsed = parse(url)
    shown = masked(url)
    file = sqlite_file(parsed)
    if file is not None and not file.parent.is_dir():
        raise HistoryUnavailable(
            f"history database {shown}: directory {file.parent} does not exist"
        )
    try:
        engine = create_engine(parsed, **_options(parsed))
    except NoSuchModuleError as exc:
        raise HistoryUnavailable(
            f"history database {shown}: SQLAlchemy knows no database "
            f"{parsed.drivername!r}; use {SUPPORTED}"
        ) from exc
    except ImportError as exc:
        raise HistoryUnavailable(_missing_driver(parsed, shown, exc)) from exc
    except SQLAlchemyError as exc:
        raise HistoryUnavailable(f"history database {shown}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _options(url: URL) -> dict[str, Any]:
    if url.get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": _SQLITE_BUSY_S}}
    options: dict[str, Any] = {
        # A server may restart between two builds; test a pooled connection first.
        "pool_pre_ping": True,
    }
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        # An address that drops packets would otherwise hang for minutes.
        options["connect_args"] = {"connect_timeout": _CONNECT_TIMEOUT_S}
    return options


def _missing_driver(url: URL, shown: str, exc: ImportError) -> str:
    module = exc.name or str(exc)
    if url.get_backend_name() == "postgresql":
        return (
            f"history database {shown}: the PostgreSQL driver ({module}) is not "
            f"installed; {POSTGRESQL_HINT}"
        )
    return (
        f"history database {shown}: the driver {url.drivername!r} needs the Python "
        f"module {module!r}, which is not installed"
    )


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (below), so that DDL runs in transactions
    # too and a writer can ask for the write lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets the dashboard read while an executor writes. It stays set
        # in the file: asked for again on every connection, it waited on the
        # other connections' transactions, up to the busy timeout (30 s
        # stalls). Two connections switching a new file at once deadlock,
        # and SQLite fails one at once ("database is locked"): processes on
        # the host take turns, under a lock beside the file.
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            path = cursor.execute("PRAGMA database_list").fetchone()[2]
            with _host_lock(f"{path}.lock" if path else None):
                cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


@contextlib.contextmanager
def _host_lock(path: str | None) -> Iterator[None]:
    """An exclusive lock every process on the host shares through `path`."""
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _sqlite_begin(connection: Connection) -> None:
    # A deferred transaction that reads and then writes can fail with
    # SQLITE_BUSY at once, whatever the timeout; a writer locks at BEGIN.
    write = connection.get_execution_options().get(WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def check_connection(engine: Engine, shown: str) -> None:
    """Connect once, so that an unreachable database fails here with its reason."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise translate(engine, shown, exc, opening=True) from exc


def translate(
    engine: Engine, shown: str, exc: SQLAlchemyError, *, opening: bool = False
) -> HistoryError:
    """The HistoryError for a failed database operation, without the password.

    ``shown`` is the URL as the user wrote it, masked. Any failure while
    opening, and a lost connection at any time, make the history unavailable.
    """
    reason = str(exc.orig) if isinstance(exc, DBAPIError) else str(exc)
    reason = " ".join(reason.split())
    if engine.url.password:
        reason = reason.replace(str(engine.url.password), "***")
    if opening or isinstance(exc, OperationalError | InterfaceError):
        return HistoryUnavailable(f"cannot use history database {shown}: {reason}")
    return HistoryError(f"history database {shown}: {reason}")
