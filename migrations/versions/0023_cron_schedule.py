"""Cron workflows (Temporal's `cron_schedule`): a run keeps the cron string it was started
with, and its chain starts the next run at the next cron time when a run closes.

Revision ID: 0023
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy of workflow_runs: see 0018).
    op.add_column("workflow_runs", sa.Column("cron_schedule", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_column("cron_schedule")
