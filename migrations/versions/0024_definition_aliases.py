"""Stored definitions get Step Functions' aliases: a name that routes new runs to one version,
or to two by integer weights; a run records the alias it was started through.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.types import UTCDateTime

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "definition_aliases",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("namespace_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("alias", sa.String(80), nullable=False),
        sa.Column("routing", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespaces.id"],
            name="fk_definition_aliases_namespace_id_namespaces",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_definition_aliases"),
        sa.UniqueConstraint(
            "namespace_id", "name", "alias", name="uq_definition_aliases_namespace_id_name_alias"
        ),
    )
    with op.batch_alter_table("definition_runs") as batch:
        batch.add_column(sa.Column("alias", sa.String(80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("definition_runs") as batch:
        batch.drop_column("alias")
    op.drop_table("definition_aliases")
