"""What a user reads when the history's database cannot be used: a bad URL, a
missing driver, no server, a wrong password. Every message names the URL and
never shows the password.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.history.pgserver import PASSWORD, PostgresServer, free_port
from trunkgate.history import History, HistoryUnavailable


async def refusal(url: str) -> str:
    with pytest.raises(HistoryUnavailable) as refused:
        await History.open(url)
    return str(refused.value)


async def test_text_that_is_no_url() -> None:
    message = await refusal("history.db")
    assert "'history.db' is not a database URL" in message
    assert "sqlite:///" in message


async def test_an_unparsable_url_keeps_its_password_hidden() -> None:
    message = await refusal("postgresql://ci:hunter2@db.example:port/history")
    assert "hunter2" not in message
    assert "postgresql://ci:***@db.example:port/history" in message


async def test_an_unknown_kind_of_database() -> None:
    message = await refusal("mongodb://db.example/history")
    assert "SQLAlchemy knows no database 'mongodb'" in message
    assert "postgresql" in message


async def test_a_missing_postgresql_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if psycopg were not installed: importing it fails.
    monkeypatch.setitem(sys.modules, "psycopg", None)
    message = await refusal("postgresql://ci:hunter2@db.example/history")
    assert "pip install 'trunkgate[postgresql]'" in message
    assert "postgresql://ci:***@db.example/history" in message
    assert "hunter2" not in message


async def test_another_missing_driver_names_its_module() -> None:
    message = await refusal("mysql+mysqldb://ci@db.example/history")
    assert "the driver 'mysql+mysqldb' needs the Python module 'MySQLdb'" in message


async def test_no_server_on_the_port() -> None:
    url = f"postgresql://ci:hunter2@127.0.0.1:{free_port()}/history"
    message = await refusal(url)
    assert f"cannot use history database postgresql://ci:***@127.0.0.1:{url.split(':')[3]}" in (
        message
    )
    assert "refused" in message
    assert "hunter2" not in message


async def test_a_wrong_password(postgres: PostgresServer) -> None:
    message = await refusal(postgres.url(password="not-" + PASSWORD))
    assert "password authentication failed" in message
    assert PASSWORD not in message
    assert f"postgres:***@127.0.0.1:{postgres.port}/postgres" in message


async def test_a_database_that_does_not_exist(postgres: PostgresServer) -> None:
    message = await refusal(postgres.url("nosuchdb"))
    assert 'database "nosuchdb" does not exist' in message


async def test_an_sqlite_file_in_a_missing_directory(tmp_path: Path) -> None:
    message = await refusal(f"sqlite:///{tmp_path}/gone/history.db")
    assert f"directory {tmp_path}/gone does not exist" in message


async def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "history.db").write_bytes(b"this is not SQLite\n" * 100)
    message = await refusal(f"sqlite:///{tmp_path}/history.db")
    assert f"cannot use history database sqlite:///{tmp_path}/history.db" in message
    assert "not a database" in message


async def test_a_server_that_goes_away_and_comes_back(postgres: PostgresServer) -> None:
    server = PostgresServer()  # its own, to stop it; `postgres` only checks one can run
    server.start()
    try:
        url = server.create_database("history")
        async with await History.open(url) as history:
            buildset = await history.add_buildset(pipeline="gate", project="p", change=1)
            server.halt()
            with pytest.raises(HistoryUnavailable) as refused:
                await history.builds()
            assert "cannot use history database postgresql://postgres:***@127.0.0.1:" in str(
                refused.value
            )
            server.start()
            assert await history.buildsets() == [buildset]
    finally:
        server.stop()
