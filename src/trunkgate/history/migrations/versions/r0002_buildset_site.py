"""The site that ran a buildset: sites may share one database.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Buildsets recorded before keep no site: every site lists them.
    with op.batch_alter_table("trunkgate_buildset") as batch:
        batch.add_column(sa.Column("site", sa.String(36), nullable=True))
        batch.create_index("ix_trunkgate_buildset_site", ["site"])


def downgrade() -> None:
    with op.batch_alter_table("trunkgate_buildset") as batch:
        batch.drop_index("ix_trunkgate_buildset_site")
        batch.drop_column("site")
