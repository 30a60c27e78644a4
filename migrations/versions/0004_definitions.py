"""Stored definitions: versioned state machines and the version each run is pinned to.

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.types import UTCDateTime

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "definitions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("namespace_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=20), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespaces.id"],
            name="fk_definitions_namespace_id_namespaces",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_definitions"),
        sa.UniqueConstraint(
            "namespace_id", "name", "version", name="uq_definitions_namespace_id_name_version"
        ),
    )
    op.create_table(
        "definition_runs",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("namespace_id", sa.String(length=36), nullable=False),
        sa.Column("definition_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_definition_runs"),
    )
    op.create_index(
        "ix_definition_runs_namespace_id_name",
        "definition_runs",
        ["namespace_id", "name"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_definition_runs_namespace_id_name", table_name="definition_runs")
    op.drop_table("definition_runs")
    op.drop_table("definitions")
