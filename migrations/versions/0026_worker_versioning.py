"""Worker Versioning (issue #21): Worker Deployments, their versions and the task queues each
version polls; each run's versioning behaviour, version and override.

Existing runs get NULLs: they are unversioned and behave exactly as before.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.types import JSONType, UTCDateTime

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

_RUN_COLUMNS = ("versioning_behavior", "deployment_name", "build_id", "versioning_override")


def upgrade() -> None:
    op.create_table(
        "worker_deployments",
        sa.Column("namespace_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("current_build_id", sa.String(255), nullable=False, server_default=""),
        sa.Column("current_changed_at", UTCDateTime(), nullable=True),
        sa.Column("ramping_build_id", sa.String(255), nullable=True),
        sa.Column("ramping_percentage", sa.Float(), nullable=False, server_default="0"),
        sa.Column("ramping_changed_at", UTCDateTime(), nullable=True),
        sa.Column("routing_revision", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("conflict_token", sa.String(36), nullable=False),
        sa.Column("last_modifier_identity", sa.String(1000), nullable=True),
    )
    op.create_table(
        "worker_deployment_versions",
        sa.Column("namespace_id", sa.String(36), primary_key=True),
        sa.Column("deployment_name", sa.String(255), primary_key=True),
        sa.Column("build_id", sa.String(255), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, server_default="inactive"),
        sa.Column("current_since", UTCDateTime(), nullable=True),
        sa.Column("ramping_since", UTCDateTime(), nullable=True),
        sa.Column("first_activation_time", UTCDateTime(), nullable=True),
        sa.Column("last_deactivation_time", UTCDateTime(), nullable=True),
        sa.Column("drainage_checked_at", UTCDateTime(), nullable=True),
        sa.Column("last_poll_time", UTCDateTime(), nullable=True),
        sa.Column("workflow_types", JSONType, nullable=True),
    )
    op.create_table(
        "worker_deployment_task_queues",
        sa.Column("namespace_id", sa.String(36), primary_key=True),
        sa.Column("deployment_name", sa.String(255), primary_key=True),
        sa.Column("build_id", sa.String(255), primary_key=True),
        sa.Column("task_queue", sa.String(1000), primary_key=True),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("first_poll_time", UTCDateTime(), nullable=False),
        sa.Column("last_poll_time", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_worker_deployment_task_queues_queue",
        "worker_deployment_task_queues",
        ["namespace_id", "task_queue", "kind"],
    )
    # Plain ADD COLUMN (no batch copy): the table keeps its rows, indexes and statistics.
    op.add_column("workflow_runs", sa.Column("versioning_behavior", sa.String(20), nullable=True))
    op.add_column("workflow_runs", sa.Column("deployment_name", sa.String(255), nullable=True))
    op.add_column("workflow_runs", sa.Column("build_id", sa.String(255), nullable=True))
    op.add_column("workflow_runs", sa.Column("versioning_override", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workflow_runs") as batch:
        for name in reversed(_RUN_COLUMNS):
            batch.drop_column(name)
    op.drop_index("ix_worker_deployment_task_queues_queue", "worker_deployment_task_queues")
    op.drop_table("worker_deployment_task_queues")
    op.drop_table("worker_deployment_versions")
    op.drop_table("worker_deployments")
