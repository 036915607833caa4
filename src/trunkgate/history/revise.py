"""Drafting the next migration, for developers: ``python -m
trunkgate.history.revise "what changed"`` lets Alembic compare tables.py with
a scratch database at the current head and write the revision file. Read and
tidy the draft, then bump SCHEMA_HEAD in schema.py.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from trunkgate.history.migrate import alembic_config
from trunkgate.history.schema import SCRIPT_LOCATION


def draft(message: str, location: str = SCRIPT_LOCATION) -> Path:
    """Write the next revision under ``location``; the new file's path."""
    config = alembic_config()
    config.set_main_option("script_location", location)
    head = ScriptDirectory.from_config(config).get_current_head()
    rev_id = f"{int(head or '0') + 1:04d}"
    with tempfile.TemporaryDirectory(prefix="trunkgate-revise-") as scratch:
        engine = create_engine(f"sqlite:///{scratch}/head.db")
        try:
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                command.revision(config, message=message, autogenerate=True, rev_id=rev_id)
        finally:
            engine.dispose()
    written = ScriptDirectory.from_config(config).get_revision(rev_id)
    if written is None:
        raise RuntimeError(f"Alembic wrote no revision {rev_id} under {location}")
    return Path(written.path)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].strip():
        print('usage: python -m trunkgate.history.revise "what changed"', file=sys.stderr)
        return 2
    print(draft(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
