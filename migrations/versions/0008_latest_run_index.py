"""The latest run of a workflow id is found by one index probe.

Finding a workflow's latest run orders by (start_time, id). The index on (namespace_id,
workflow_id, start_time) lacked the id, so SQLite preferred the namespace's start-time index
and scanned every run of the namespace on each start: a start got slower as runs piled up.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NAME = "ix_workflow_runs_namespace_id_workflow_id"


def upgrade() -> None:
    op.drop_index(NAME, table_name="workflow_runs")
    op.create_index(NAME, "workflow_runs", ["namespace_id", "workflow_id", "start_time", "id"])


def downgrade() -> None:
    op.drop_index(NAME, table_name="workflow_runs")
    op.create_index(NAME, "workflow_runs", ["namespace_id", "workflow_id", "start_time"])
