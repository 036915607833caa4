"""The version of the build history's stored shape, and its log.

Each version is an Alembic revision under migrations/versions, named by its
number. Whenever tables.py changes, draft the migration with ``python -m
trunkgate.history.revise "what changed"``, and bump SCHEMA_HEAD with a line
below in the same commit. A database at a revision this trunkgate does not
know is refused on connect.
"""

from __future__ import annotations

# 0001: first shape. trunkgate_buildset (one queue item's jobs) and
#       trunkgate_build (one run of a job; nodes and tree as JSON);
#       Alembic's version row in trunkgate_history_version.
# 0002: trunkgate_buildset.site, the id of the site that ran it, so that
#       sites sharing a database keep their builds apart.
SCHEMA_HEAD = "0002"

# Where Alembic finds env.py and versions/, as a package resource.
SCRIPT_LOCATION = "trunkgate.history:migrations"
