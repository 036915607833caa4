"""The SQLite store file: its tables, its checks on open, and every statement run on it.

Plain blocking code on one sqlite3 connection, meant to run in a thread of
its own; sqlite3 errors become StoreError here, naming the file. Nothing
here knows about asyncio, sockets or watches.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from .. import paths
from ..errors import NoRecord, NotEmpty, RecordExists, SessionLost, StoreError, VersionConflict
from ..schema import SCHEMA_VERSION
from ..transaction import CheckOp, CreateOp, DeleteOp, Op, OpResult, SetOp

# 'trkg': marks the file as a trunkgate store in the SQLite header.
APPLICATION_ID = 0x74726B67

# How long a writer waits for another process's write transaction to end.
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE records (
    path TEXT PRIMARY KEY,
    parent TEXT NOT NULL,
    data TEXT,
    version INTEGER NOT NULL DEFAULT 0,
    owner TEXT,                          -- the session of an ephemeral record
    next_seq INTEGER NOT NULL DEFAULT 0  -- the next number for a sequential child
) WITHOUT ROWID;
CREATE INDEX records_by_parent ON records(parent);
CREATE INDEX records_by_owner ON records(owner) WHERE owner IS NOT NULL;
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,              -- its notification socket's name
    expires REAL NOT NULL,
    pid INTEGER NOT NULL
) WITHOUT ROWID;
-- 'commits' grows by one per write transaction, so that a missed
-- notification shows as a gap. 'sessions' grows whenever a session comes or
-- goes, so that writers know when to reload the list of sessions to notify.
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta VALUES ('commits', 0), ('sessions', 0);
INSERT INTO records (path, parent) VALUES ('/', '');
"""

P = ParamSpec("P")
R = TypeVar("R")


@dataclasses.dataclass(frozen=True, slots=True)
class Written:
    """What a write transaction did: its commit number, the paths it changed, and,
    when the set of sessions changed since ``sessions_gen``, their new endpoints."""

    seq: int
    changed: list[str]
    endpoints: list[str] | None
    sessions_gen: int


def _translated(
    method: Callable[Concatenate[Database, P], R],
) -> Callable[Concatenate[Database, P], R]:
    @functools.wraps(method)
    def wrapper(self: Database, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise self.error(exc) from None

    return wrapper


class Busy(StoreError):
    """SQLite would have to wait for another connection; only from a connection that never waits."""


class Database:
    """One connection to the store file.

    A connection made with ``wait=False`` never waits for a lock (it raises
    Busy instead) and never checkpoints the WAL: it may run on the event loop.
    """

    def __init__(self, file: Path, *, wait: bool = True) -> None:
        self.file = file
        self.wait = wait
        self._sessions_gen = -1
        _check_place(file)
        if not file.exists():
            _create_file(file)
        try:
            self._db = sqlite3.connect(
                file, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store file {file}: {exc}") from None
        try:
            self._prepare()
            if not wait:
                self._db.execute("PRAGMA busy_timeout = 0")
                self._db.execute("PRAGMA wal_autocheckpoint = 0")
        except sqlite3.Error as exc:
            self._db.close()
            raise self.error(exc) from None
        except BaseException:
            self._db.close()
            raise

    def error(self, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        busy = isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)
        if busy and not self.wait:
            return Busy(f"the store file {self.file} is busy")
        if busy:
            return StoreError(
                f"the store file {self.file} stayed locked by another process "
                f"for over {BUSY_TIMEOUT_S:g} s"
            )
        if "file is not a database" in text:
            return StoreError(
                f"{self.file} is not an SQLite database, so not a trunkgate store; "
                "it was left untouched (point the store at another path)"
            )
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            return StoreError(
                f"the store file {self.file} is damaged or not a trunkgate store ({text}); "
                "it was left untouched"
            )
        return StoreError(f"the store file {self.file}: {text}")

    def _prepare(self) -> None:
        db = self._db
        app_id, version, tables = self._identity()
        if app_id == 0 and version == 0 and tables == 0:
            # A new store file is born whole (`_create_file`): an empty one
            # was truncated, and making it anew would drop every record.
            raise StoreError(
                f"the store file {self.file} is empty: damaged (truncated?); it was left "
                "untouched (remove it to start a new, empty store)"
            )
        if app_id != APPLICATION_ID:
            raise StoreError(
                f"{self.file} is an SQLite database of some other program, not a trunkgate "
                "store; it was left untouched (point the store at another path)"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self.file} was written by a newer trunkgate (schema {version}; "
                f"this one knows up to {SCHEMA_VERSION}): upgrade trunkgate to use it"
            )
        check = db.execute("PRAGMA quick_check").fetchall()
        if check != [("ok",)]:
            problems = "; ".join(str(row[0]) for row in check[:3])
            raise StoreError(
                f"the store file {self.file} is damaged ({problems}); it was left untouched"
            )
        # Only now, sure that the file is ours: WAL lets readers and one
        # writer of several processes work at once.
        if db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise StoreError(f"the store file {self.file} cannot be put in WAL mode")
        db.execute("PRAGMA synchronous = NORMAL")

    def _identity(self) -> tuple[int, int, int]:
        db = self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
        return int(app_id), int(version), int(tables)

    def close(self) -> None:
        self._db.close()

    @_translated
    def checkpoint(self) -> None:
        """Copy the WAL back into the file, without waiting for anyone."""
        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    @contextmanager
    def _write(self) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front, so two processes cannot
        # both read a version and then both write it.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _finish(self, changed: list[str]) -> Written:
        """Count this write transaction and learn whether the sessions changed."""
        db = self._db
        seq = db.execute(
            "UPDATE meta SET value = value + 1 WHERE key = 'commits' RETURNING value"
        ).fetchone()[0]
        gen = db.execute("SELECT value FROM meta WHERE key = 'sessions'").fetchone()[0]
        endpoints = None
        if gen != self._sessions_gen:
            endpoints = [row[0] for row in db.execute("SELECT endpoint FROM sessions")]
            self._sessions_gen = gen
        return Written(seq, changed, endpoints, gen)

    # -- reads ---------------------------------------------------------------

    @_translated
    def get(self, path: str) -> tuple[str | None, int] | None:
        row = self._db.execute(
            "SELECT data, version FROM records WHERE path = ?", (path,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    @_translated
    def children(self, path: str) -> list[str]:
        rows = self._db.execute("SELECT path FROM records WHERE parent = ?", (path,)).fetchall()
        if not rows and self.get(path) is None:
            raise NoRecord(path)
        return [paths.name(row[0]) for row in rows]

    @_translated
    def children_data(self, path: str) -> list[tuple[str, str | None, int]]:
        rows = self._db.execute(
            "SELECT path, data, version FROM records WHERE parent = ? ORDER BY path", (path,)
        ).fetchall()
        if not rows and self.get(path) is None:
            raise NoRecord(path)
        return [(row[0], row[1], row[2]) for row in rows]

    @_translated
    def commits(self) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key = 'commits'").fetchone()[0])

    # -- writes ----------------------------------------------------------------

    @_translated
    def create(
        self, path: str, data: str, *, ephemeral: bool, sequential: bool, session: str
    ) -> tuple[str, Written]:
        with self._write():
            changed = self._make_parents(path)
            real = self._create(CreateOp(path, data, ephemeral, sequential), session)
            return real, self._finish([*changed, real])

    @_translated
    def set(self, path: str, data: str, version: int | None) -> tuple[int, Written]:
        with self._write():
            new = self._set(SetOp(path, data, version))
            return new, self._finish([path])

    @_translated
    def delete(self, path: str, version: int | None, recursive: bool) -> tuple[None, Written]:
        with self._write():
            changed = self._delete(DeleteOp(path, version), recursive=recursive)
            return None, self._finish(changed)

    @_translated
    def commit(self, ops: tuple[Op, ...], session: str) -> tuple[list[OpResult], Written]:
        results: list[OpResult] = []
        changed: list[str] = []
        with self._write():
            for op in ops:
                if isinstance(op, CreateOp):
                    real = self._create(op, session)
                    results.append(real)
                    changed.append(real)
                elif isinstance(op, SetOp):
                    results.append(self._set(op))
                    changed.append(op.path)
                elif isinstance(op, DeleteOp):
                    changed.extend(self._delete(op, recursive=False))
                    results.append(None)
                else:
                    self._check(op)
                    results.append(None)
            return results, self._finish(changed)

    def _make_parents(self, path: str) -> list[str]:
        missing: list[str] = []
        at = paths.parent(path)
        while self.get(at) is None:
            missing.append(at)
            at = paths.parent(at)
        for ancestor in reversed(missing):
            self._create(CreateOp(ancestor, "", ephemeral=False, sequential=False), "")
        return list(reversed(missing))

    def _create(self, op: CreateOp, session: str) -> str:
        db = self._db
        parent = paths.parent(op.path)
        row = db.execute("SELECT owner, next_seq FROM records WHERE path = ?", (parent,)).fetchone()
        if row is None:
            raise NoRecord(parent)
        if row[0] is not None:
            raise StoreError(f"cannot create {op.path}: its parent {parent} is ephemeral")
        path = op.path
        if op.sequential:
            path += paths.format_sequence(row[1])
            db.execute("UPDATE records SET next_seq = next_seq + 1 WHERE path = ?", (parent,))
        owner = None
        if op.ephemeral:
            alive = db.execute("SELECT 1 FROM sessions WHERE id = ?", (session,)).fetchone()
            if alive is None:
                raise SessionLost(
                    f"session {session} of store {self.file} has ended; "
                    f"cannot create the ephemeral record {path}"
                )
            owner = session
        try:
            db.execute(
                "INSERT INTO records (path, parent, data, owner) VALUES (?, ?, ?, ?)",
                (path, parent, op.data or None, owner),
            )
        except sqlite3.IntegrityError:
            raise RecordExists(path) from None
        return path

    def _set(self, op: SetOp) -> int:
        row = self._db.execute(
            "UPDATE records SET data = ?1, version = version + 1 "
            "WHERE path = ?2 AND (?3 IS NULL OR version = ?3) RETURNING version",
            (op.data or None, op.path, op.version),
        ).fetchone()
        if row is not None:
            return int(row[0])
        if self.get(op.path) is None:
            raise NoRecord(op.path)
        raise VersionConflict(op.path, op.version)

    def _check(self, op: CheckOp) -> None:
        found = self.get(op.path)
        if found is None:
            raise NoRecord(op.path)
        if found[1] != op.version:
            raise VersionConflict(op.path, op.version)

    def _delete(self, op: DeleteOp, *, recursive: bool) -> list[str]:
        db = self._db
        found = self.get(op.path)
        if found is None:
            raise NoRecord(op.path)
        if op.version is not None and found[1] != op.version:
            raise VersionConflict(op.path, op.version)
        # Every descendant of /a sorts between "/a/" and "/a0" ('0' follows '/').
        low, high = op.path + "/", op.path + "0"
        below = [
            row[0]
            for row in db.execute(
                "SELECT path FROM records WHERE path >= ? AND path < ?", (low, high)
            )
        ]
        if below and not recursive:
            raise NotEmpty(op.path)
        db.execute("DELETE FROM records WHERE path >= ? AND path < ?", (low, high))
        db.execute("DELETE FROM records WHERE path = ?", (op.path,))
        return [*below, op.path]

    # -- sessions ----------------------------------------------------------------

    @_translated
    def open_session(self, session: str, endpoint: str, expires: float, pid: int) -> int:
        """Register a session; return the commit number it starts from."""
        with self._write():
            self._db.execute(
                "INSERT INTO sessions (id, endpoint, expires, pid) VALUES (?, ?, ?, ?)",
                (session, endpoint, expires, pid),
            )
            self._bump_sessions()
            return self.commits()

    @_translated
    def close_session(self, session: str) -> tuple[None, Written]:
        """End a session now: drop it and its ephemeral records."""
        with self._write():
            changed = self._drop_sessions([session])
            return None, self._finish(changed)

    @_translated
    def heartbeat(self, session: str, now: float, lease: float) -> tuple[bool, Written | None, int]:
        """Renew ``session``'s lease and end every session whose lease ran out.

        Returns whether ``session`` is still alive, what the reaping wrote (if
        anything), and the newest commit number.
        """
        db = self._db
        with self._write():
            alive = (
                db.execute(
                    "UPDATE sessions SET expires = ? WHERE id = ?", (now + lease, session)
                ).rowcount
                == 1
            )
            dead = [
                row[0] for row in db.execute("SELECT id FROM sessions WHERE expires < ?", (now,))
            ]
            written = self._finish(self._drop_sessions(dead)) if dead else None
            return alive, written, self.commits()

    def _drop_sessions(self, sessions: list[str]) -> list[str]:
        db = self._db
        changed: list[str] = []
        for session in sessions:
            changed += [
                row[0] for row in db.execute("SELECT path FROM records WHERE owner = ?", (session,))
            ]
            db.execute("DELETE FROM records WHERE owner = ?", (session,))
            db.execute("DELETE FROM sessions WHERE id = ?", (session,))
        self._bump_sessions()
        return changed

    def _bump_sessions(self) -> None:
        self._db.execute("UPDATE meta SET value = value + 1 WHERE key = 'sessions'")


def _check_place(file: Path) -> None:
    """Refuse a store path that cannot be a database file, without opening it.

    Never open the database file itself outside SQLite: closing any
    descriptor of it drops every POSIX lock this process holds on it, and
    other processes would then take this one's connections for gone.
    """
    if file.is_dir():
        raise StoreError(f"the store path {file} is a directory, not a file")
    if not file.exists() and not file.parent.is_dir():
        raise StoreError(
            f"cannot create the store file {file}: directory {file.parent} does not exist"
        )


def _create_file(file: Path) -> None:
    """A new store file, its schema written before it takes its name: a
    process finding the file then finds a whole store, never an empty file
    another process is still filling."""
    scratch = file.with_name(f".{file.name}.new-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        db = sqlite3.connect(scratch, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            # Not executescript(): it would commit the transaction half way.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        finally:
            db.close()
        # link() fails when the name exists: the first process names the
        # store, the others open that one.
        with contextlib.suppress(FileExistsError):
            os.link(scratch, file)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot create the store file {file}: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            scratch.unlink()
