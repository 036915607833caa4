"""The SQLite store backend: one file, several processes on one host."""

from .store import SqliteStore, open_sqlite

__all__ = ["SqliteStore", "open_sqlite"]
