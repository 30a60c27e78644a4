"""Runs count the child workflows they start: a run that started none (most) closes without
looking for children its parent close policy would reach.

`workflow_runs.children_started` is 0 for a run that never started a child. Existing runs that
are parents get the number of runs naming them as parent (a child's retries and continued runs
count too: only whether it is 0 matters).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_runs") as batch:
        batch.add_column(
            sa.Column("children_started", sa.Integer(), nullable=False, server_default="0")
        )
    op.execute(
        sa.text(
            "UPDATE workflow_runs SET children_started = ("
            " SELECT count(*) FROM workflow_runs AS child"
            " WHERE child.parent_run_id = workflow_runs.id)"
            " WHERE id IN ("
            " SELECT parent_run_id FROM workflow_runs WHERE parent_run_id IS NOT NULL)"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_column("children_started")
