"""Workflow Update (Temporal's): the updates admitted to a run, and the run's speculative
workflow task.

`workflow_updates` holds one row per update id and run: admitted (waiting for a workflow
task), sent (in a started task), accepted, completed; rejected and aborted rows keep only
what their waiting callers must read. `workflow_runs.wft_speculative` marks a workflow task
whose scheduled/started events are not written yet (Temporal's speculative workflow task), and
`wft_speculative_started_at` when it started (its started event, written later, keeps the time
its worker saw) and `wft_speculative_nonce`, which its task token carries (successive speculative
tasks have the same event ids: a stale token must not complete a later one);
`updates_total` (the updates counted against the run's 2,000, every one not rejected; 0: closing
the run looks for none) and
`updates_admitted` (updates waiting for a workflow task to carry them) spare the hot paths a
query.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.types import UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs: a batch on SQLite would copy the table, and the copy loses the
    # planner statistics migration 0011 seeded for its indexes (sqlite_stat1).
    op.add_column(
        "workflow_runs",
        sa.Column("wft_speculative", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "workflow_runs",
        sa.Column("updates_total", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "workflow_runs",
        sa.Column("updates_admitted", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "workflow_runs", sa.Column("wft_speculative_started_at", UTCDateTime(), nullable=True)
    )
    op.add_column("workflow_runs", sa.Column("wft_speculative_nonce", sa.Integer(), nullable=True))
    op.create_table(
        "workflow_updates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("namespace_id", sa.String(36), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("workflow_id", sa.String(1000), nullable=False),
        sa.Column("update_id", sa.String(1000), nullable=False),
        sa.Column("name", sa.String(1000), nullable=False),
        sa.Column("args", sa.Text(), nullable=True),
        sa.Column("header", sa.Text(), nullable=True),
        sa.Column("identity", sa.String(1000), nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("payload_bytes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("sent_started_event_id", sa.Integer(), nullable=True),
        sa.Column("accepted_event_id", sa.Integer(), nullable=True),
        sa.Column("completed_event_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("moved_to_run_id", sa.String(36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("run_id", "update_id", name="ux_workflow_updates_run_id_update_id"),
        sa.Index("ix_workflow_updates_run_id_state", "run_id", "state"),
        sa.Index(
            "ix_workflow_updates_namespace_id_workflow_id_update_id",
            "namespace_id",
            "workflow_id",
            "update_id",
        ),
    )


def downgrade() -> None:
    op.drop_table("workflow_updates")
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_column("wft_speculative_nonce")
        batch.drop_column("wft_speculative_started_at")
        batch.drop_column("updates_admitted")
        batch.drop_column("updates_total")
        batch.drop_column("wft_speculative")
