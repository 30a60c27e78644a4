"""An index on the Text search attribute values by namespace and name, so that removing a
custom Text attribute (DELETE …/search-attributes/{name}) finds the runs holding a value
without reading every run's texts.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_workflow_search_texts_name",
        "workflow_search_texts",
        ["namespace_id", "name", "run_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_workflow_search_texts_name", table_name="workflow_search_texts")
