"""The history's schema migrations on each backend: the first migration builds
exactly the tables the code writes, and a database from a newer trunkgate is
refused rather than written.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text

import trunkgate.history
from trunkgate.history import SCHEMA_HEAD, History, SchemaTooNew
from trunkgate.history.migrate import alembic_config, current_revisions
from trunkgate.history.revise import draft
from trunkgate.history.tables import VERSION_TABLE, metadata
from trunkgate.history.urls import parse


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    """A plain engine on the test's database, to look behind the history's back."""
    plain = create_engine(parse(url))
    yield plain
    plain.dispose()


def test_schema_head_names_the_newest_and_only_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [SCHEMA_HEAD]
    assert script.get_base() == "0001"


async def test_opening_an_empty_database_migrates_it_to_the_head(url: str, engine: Engine) -> None:
    async with await History.open(url):
        pass
    with engine.connect() as connection:
        assert current_revisions(connection) == (SCHEMA_HEAD,)
        assert set(inspect(connection).get_table_names()) == {
            VERSION_TABLE,
            *metadata.tables,
        }


async def test_the_migrated_schema_is_exactly_the_tables_in_the_code(
    url: str, engine: Engine
) -> None:
    async with await History.open(url):
        pass
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"version_table": VERSION_TABLE, "compare_type": True},
        )
        assert compare_metadata(context, metadata) == []


async def test_downgrade_to_nothing_and_open_again(url: str, engine: Engine) -> None:
    async with await History.open(url) as history:
        buildset = await history.add_buildset(pipeline="check", project="p", change=1)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    with engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) == {VERSION_TABLE}
    async with await History.open(url) as history:
        assert await history.buildset(buildset.uuid) is None
        assert await history.buildsets() == []


async def test_a_database_from_a_newer_trunkgate_is_refused_and_left_alone(
    url: str, engine: Engine
) -> None:
    async with await History.open(url) as history:
        await history.add_buildset(pipeline="check", project="p", change=1)
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0042'"))

    with pytest.raises(SchemaTooNew) as refused:
        await History.open(url)
    message = str(refused.value)
    assert "has schema 0042" in message
    assert f"(schema {SCHEMA_HEAD}) does not know" in message
    assert "newer trunkgate" in message
    assert url.rsplit("@", maxsplit=1)[-1] in message
    with engine.connect() as connection:
        assert current_revisions(connection) == ("0042",)
        count = connection.execute(text("SELECT COUNT(*) FROM trunkgate_buildset")).scalar()
    assert count == 1


def test_the_next_migration_is_drafted_against_the_head(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(
        Path(trunkgate.history.__file__).parent / "migrations",
        migrations,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    drafted = draft("nothing changed", str(migrations))
    assert drafted.name == "r0003_nothing_changed.py"
    text_of_draft = drafted.read_text()
    assert "down_revision: str | None = '0002'" in text_of_draft
    assert "    pass\n" in text_of_draft
    assert "op." not in text_of_draft  # tables.py matches the head: nothing to do

    config = alembic_config()
    config.set_main_option("script_location", str(migrations))
    engine = create_engine(f"sqlite:///{tmp_path}/h.db")
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            assert current_revisions(connection) == ("0003",)
    finally:
        engine.dispose()


async def test_builds_recorded_before_sites_were_named_are_kept_and_listed_by_every_site(
    url: str, engine: Engine
) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            text(
                "INSERT INTO trunkgate_buildset (uuid, pipeline, project, started) "
                "VALUES ('old', 'gate', 'p', '2025-03-01 12:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO trunkgate_build (id, buildset_uuid, job, voting, nodes, started, "
                "retries, tree) VALUES ('b0', 'old', 'unit', true, '[]', "
                "'2025-03-01 12:00:00', 0, '{}')"
            )
        )
    async with await History.open(url) as history:
        new = await history.add_buildset(site="east", pipeline="gate", project="p")
        await history.add_build(buildset=new.uuid, job="unit", id="b1")
        assert [b.id for b in await history.builds(site="east")] == ["b1", "b0"]
        assert [b.id for b in await history.builds(site="west")] == ["b0"]
    with engine.connect() as connection:
        assert current_revisions(connection) == (SCHEMA_HEAD,)
