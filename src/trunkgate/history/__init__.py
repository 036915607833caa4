"""The build history: finished and running builds and buildsets in SQL.

SQLite in the data directory by default, any SQLAlchemy URL otherwise
(PostgreSQL with ``pip install 'trunkgate[postgresql]'``); the schema is
migrated with Alembic on connect. Components import from here only.
"""

from typing import TYPE_CHECKING, Any

from .errors import HistoryError, HistoryUnavailable, SchemaTooNew, UnknownRecord
from .records import (
    BUILD_RESULTS,
    BUILDSET_RESULTS,
    LISTED_FIELDS,
    BuildRecord,
    BuildsetRecord,
    RecordedNode,
)

if TYPE_CHECKING:
    from .database import History
    from .schema import SCHEMA_HEAD
    from .site import history_url, open_site_history
    from .urls import default_url

# SQLAlchemy and Alembic load when the database is first wanted, not with
# every command that merely names the history's records and errors.
_LAZY = {
    "History": "database",
    "SCHEMA_HEAD": "schema",
    "history_url": "site",
    "open_site_history": "site",
    "default_url": "urls",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "BUILDSET_RESULTS",
    "BUILD_RESULTS",
    "LISTED_FIELDS",
    "SCHEMA_HEAD",
    "BuildRecord",
    "BuildsetRecord",
    "History",
    "HistoryError",
    "HistoryUnavailable",
    "RecordedNode",
    "SchemaTooNew",
    "UnknownRecord",
    "default_url",
    "history_url",
    "open_site_history",
]
