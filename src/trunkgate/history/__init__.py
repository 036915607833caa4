"""The build history: finished and running builds and buildsets in SQL.

SQLite in the data directory by default, any SQLAlchemy URL otherwise
(PostgreSQL with ``pip install 'trunkgate[postgresql]'``); the schema is
migrated with Alembic on connect. Components import from here only.
"""

from .database import History
from .errors import HistoryError, HistoryUnavailable, SchemaTooNew, UnknownRecord
from .records import (
    BUILD_RESULTS,
    BUILDSET_RESULTS,
    LISTED_FIELDS,
    BuildNode,
    BuildRecord,
    BuildsetRecord,
)
from .schema import SCHEMA_HEAD
from .site import history_url, open_site_history
from .urls import default_url

__all__ = [
    "BUILDSET_RESULTS",
    "BUILD_RESULTS",
    "LISTED_FIELDS",
    "SCHEMA_HEAD",
    "BuildNode",
    "BuildRecord",
    "BuildsetRecord",
    "History",
    "HistoryError",
    "HistoryUnavailable",
    "SchemaTooNew",
    "UnknownRecord",
    "default_url",
    "history_url",
    "open_site_history",
]
