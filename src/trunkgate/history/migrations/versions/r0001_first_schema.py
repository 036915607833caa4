"""First shape of the build history: buildsets and their builds.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "trunkgate_buildset",
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("pipeline", sa.String(255), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("change", sa.Integer(), nullable=True),
        sa.Column("patchset", sa.Integer(), nullable=True),
        sa.Column("ref", sa.String(255), nullable=True),
        sa.Column("branch", sa.String(255), nullable=True),
        sa.Column("result", sa.String(32), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("started", sa.DateTime(), nullable=False),
        sa.Column("ended", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("uuid", name="pk_trunkgate_buildset"),
    )
    op.create_index(
        "ix_trunkgate_buildset_change_patchset", "trunkgate_buildset", ["change", "patchset"]
    )
    op.create_index("ix_trunkgate_buildset_project", "trunkgate_buildset", ["project"])
    op.create_index("ix_trunkgate_buildset_pipeline", "trunkgate_buildset", ["pipeline"])
    op.create_index("ix_trunkgate_buildset_started", "trunkgate_buildset", ["started"])

    op.create_table(
        "trunkgate_build",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("buildset_uuid", sa.String(36), nullable=False),
        sa.Column("job", sa.String(255), nullable=False),
        sa.Column("result", sa.String(32), nullable=True),
        sa.Column("voting", sa.Boolean(), nullable=False),
        sa.Column("node_provider", sa.String(255), nullable=True),
        sa.Column("nodes", sa.JSON(), nullable=False),
        sa.Column("log_path", sa.Text(), nullable=True),
        sa.Column("started", sa.DateTime(), nullable=False),
        sa.Column("ended", sa.DateTime(), nullable=True),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("tree", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["buildset_uuid"],
            ["trunkgate_buildset.uuid"],
            name="fk_trunkgate_build_buildset_uuid",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_trunkgate_build"),
    )
    op.create_index("ix_trunkgate_build_buildset_uuid", "trunkgate_build", ["buildset_uuid"])
    op.create_index("ix_trunkgate_build_job", "trunkgate_build", ["job"])
    op.create_index("ix_trunkgate_build_started", "trunkgate_build", ["started"])


def downgrade() -> None:
    op.drop_table("trunkgate_build")
    op.drop_table("trunkgate_buildset")
