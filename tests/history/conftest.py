"""Fixtures for the history tests: each runs on an SQLite file and on a real
PostgreSQL server that starts once per session, each test in a fresh database.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.history.pgserver import PostgresServer, PostgresUnavailable, require
from trunkgate.history import History

BACKENDS = ["sqlite", "postgresql"]

_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole run; a skip without one, a failure on CI."""
    require()
    server = PostgresServer()
    try:
        server.start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of a fresh, empty database of ``backend``."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'history.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"history{next(_databases)}")


@pytest.fixture
async def history(url: str) -> AsyncIterator[History]:
    opened = await History.open(url)
    yield opened
    await opened.close()
