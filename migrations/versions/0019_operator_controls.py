"""Operator controls (issue 24): reset links between runs, pause of runs, the controls of
pending activities, and the options of the batch operations that use them.

- `workflow_runs.reset_run_id`: the run the latest reset of this run started (Temporal's
  `WorkflowExecutionExtendedInfo.reset_run_id`); `reset_from_run_id`: the run it was reset from.
- `workflow_runs.pause_info`: JSON (identity, reason, request_id, pause_time) while the run is
  paused, NULL otherwise; its status stays RUNNING in the row (the open-run index) and reads as
  PAUSED.
- `activities.paused` / `pause_info` / `reset_requested`: activity controls (Temporal 1.28+).
- `batch_operations.options`: JSON of what a RESET or an activity operation needs; its
  `operation_type` grows to 32 characters (UPDATE_ACTIVITY_OPTIONS).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (no batch copy of workflow_runs: it would lose the planner statistics
    # of its indexes, see 0018).
    op.add_column("workflow_runs", sa.Column("reset_run_id", sa.String(36), nullable=True))
    op.add_column("workflow_runs", sa.Column("reset_from_run_id", sa.String(36), nullable=True))
    op.add_column("workflow_runs", sa.Column("pause_info", sa.Text(), nullable=True))
    with op.batch_alter_table("activities") as batch:
        batch.add_column(
            sa.Column("paused", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("pause_info", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("reset_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("batch_operations") as batch:
        batch.add_column(sa.Column("options", sa.Text(), nullable=True))
        batch.alter_column(
            "operation_type", existing_type=sa.String(20), type_=sa.String(32), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("batch_operations") as batch:
        batch.alter_column(
            "operation_type", existing_type=sa.String(32), type_=sa.String(20), nullable=False
        )
        batch.drop_column("options")
    with op.batch_alter_table("activities") as batch:
        batch.drop_column("reset_requested")
        batch.drop_column("pause_info")
        batch.drop_column("paused")
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_column("pause_info")
        batch.drop_column("reset_from_run_id")
        batch.drop_column("reset_run_id")
