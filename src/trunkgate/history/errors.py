"""The build history's exceptions. Errors from SQLAlchemy, Alembic and the
database drivers are translated into these at the boundary; every message
names the database by its URL with the password masked.
"""

from __future__ import annotations


class HistoryError(Exception):
    """The build history cannot do what was asked; the message says why and where."""


class HistoryUnavailable(HistoryError):
    """The database cannot be used at all: a bad URL, a missing driver, no server."""


class SchemaTooNew(HistoryUnavailable):
    """The database was written by a newer trunkgate, whose schema this one does not know."""


class UnknownRecord(HistoryError):
    """A build or buildset named by id is not in the history."""
