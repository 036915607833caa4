"""Database URLs of the build history: the default SQLite file in the data
directory, driver defaults, and the masked form that messages show. Nothing
here connects to a database.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from trunkgate.history.errors import HistoryUnavailable

HISTORY_FILE = "history.db"

# SQLAlchemy's own default for postgresql:// is psycopg2; trunkgate's
# postgresql extra installs psycopg 3, so a URL naming no driver gets that one.
_DEFAULT_DRIVERS = {"postgresql": "psycopg"}

_PASSWORD = re.compile(r"(?P<head>://[^:/@]*:)[^@/]*@")


def default_url(data_dir: Path) -> str:
    """The SQLite file that holds the history when the config names no URL."""
    return f"sqlite:///{data_dir / HISTORY_FILE}"


def masked(url: str | URL) -> str:
    """``url`` as messages show it: the password, if any, replaced by ``***``."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _PASSWORD.sub(r"\g<head>***@", url)


def parse(url: str) -> URL:
    """The SQLAlchemy URL for ``url``, with trunkgate's default driver filled in."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise HistoryUnavailable(
            f"history database URL {masked(url)!r} is not a database URL "
            "(expected e.g. sqlite:////var/lib/trunkgate/history.db or "
            "postgresql://user:password@host/dbname)"
        ) from exc
    if "+" not in parsed.drivername and parsed.drivername in _DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=f"{parsed.drivername}+{_DEFAULT_DRIVERS[parsed.drivername]}")
    return parsed


def sqlite_file(url: URL) -> Path | None:
    """The file an SQLite URL names, or None for another database or an in-memory one."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.database.startswith("file:"):
        return None
    return Path(url.database)
