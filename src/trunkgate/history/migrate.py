"""Bringing a history database to the schema this trunkgate writes: Alembic's
``upgrade head`` run in-process on trunkgate's own connection, after refusing
a database that a newer trunkgate has written.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from trunkgate import __version__
from trunkgate.history.connect import WRITE, translate
from trunkgate.history.errors import HistoryUnavailable, SchemaTooNew
from trunkgate.history.schema import SCHEMA_HEAD, SCRIPT_LOCATION
from trunkgate.history.tables import VERSION_TABLE

# Held while migrating on PostgreSQL, so that two trunkgate processes that
# start together do not both create the tables; SQLite's write lock does the
# same there. The number spells "trkghist".
_PG_LOCK = 0x74726B6768697374


def alembic_config() -> Config:
    """Alembic's config for the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("path_separator", "os")
    # Revision files are modules, whose names cannot start with a digit.
    config.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    return config


def current_revisions(connection: Connection) -> tuple[str, ...]:
    """The revisions the database is at; empty for a database without a history."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return tuple(context.get_current_heads())


def upgrade(engine: Engine, shown: str) -> None:
    """Migrate the database to SCHEMA_HEAD, or refuse it if it is newer."""
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    try:
        with engine.connect() as connection:
            connection.execution_options(**{WRITE: True})
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK}
                    )
                current = current_revisions(connection)
                _refuse_unknown(script, current, shown)
                if current == (SCHEMA_HEAD,):
                    return
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise translate(engine, shown, exc, opening=True) from exc
    except CommandError as exc:
        raise HistoryUnavailable(
            f"history database {shown}: cannot migrate to schema {SCHEMA_HEAD}: {exc}"
        ) from exc


def _refuse_unknown(script: ScriptDirectory, current: tuple[str, ...], shown: str) -> None:
    for revision in current:
        try:
            known = script.get_revision(revision) is not None
        except (RevisionError, CommandError):
            known = False
        if not known:
            raise SchemaTooNew(
                f"history database {shown} has schema {revision}, which trunkgate "
                f"{__version__} (schema {SCHEMA_HEAD}) does not know: a newer trunkgate "
                "wrote it; run that version, or point history: url at another database"
            )
