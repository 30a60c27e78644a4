"""Schedules: the schedules, their actions, and timers that belong to a schedule instead of a run.

Revision ID: 0010
Revises: 0015
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.types import UTCDateTime

revision = "0010"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("namespace_id", sa.String(length=36), nullable=False),
        sa.Column("schedule_id", sa.String(length=1000), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("overlap_policy", sa.String(length=20), nullable=False),
        sa.Column("catchup_window", sa.Float(), nullable=False),
        sa.Column("pause_on_failure", sa.Boolean(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("limited_actions", sa.Boolean(), nullable=False),
        sa.Column("remaining_actions", sa.Integer(), nullable=False),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("search_attributes", sa.Text(), nullable=True),
        sa.Column("action_count", sa.Integer(), nullable=False),
        sa.Column("missed_catchup_window", sa.Integer(), nullable=False),
        sa.Column("overlap_skipped", sa.Integer(), nullable=False),
        sa.Column("buffer_dropped", sa.Integer(), nullable=False),
        sa.Column("last_processed_time", UTCDateTime(), nullable=False),
        sa.Column("conflict_token", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["namespace_id"], ["namespaces.id"], name="fk_schedules_namespace_id_namespaces"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_schedules"),
        sa.UniqueConstraint(
            "namespace_id", "schedule_id", name="uq_schedules_namespace_id_schedule_id"
        ),
    )
    op.create_table(
        "schedule_actions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("schedule_key", sa.String(length=36), nullable=False),
        sa.Column("namespace_id", sa.String(length=36), nullable=False),
        sa.Column("origin", sa.String(length=10), nullable=False),
        sa.Column("nominal_time", UTCDateTime(), nullable=False),
        sa.Column("scheduled_time", UTCDateTime(), nullable=False),
        sa.Column("overlap_policy", sa.String(length=20), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("workflow_id", sa.String(length=1000), nullable=True),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_schedule_actions"),
    )
    op.create_index(
        "ux_schedule_actions_spec_time",
        "schedule_actions",
        ["schedule_key", "nominal_time"],
        unique=True,
        sqlite_where=sa.text("origin = 'spec'"),
        postgresql_where=sa.text("origin = 'spec'"),
    )
    op.create_index(
        "ix_schedule_actions_schedule_key", "schedule_actions", ["schedule_key", "state", "id"]
    )
    with op.batch_alter_table("timers") as batch:
        batch.alter_column("run_id", existing_type=sa.String(length=36), nullable=True)
        batch.add_column(sa.Column("schedule_key", sa.String(length=36), nullable=True))
        batch.create_index("ix_timers_schedule_key", ["schedule_key"])
    with op.batch_alter_table("workflow_runs") as batch:
        batch.add_column(sa.Column("schedule_key", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_column("schedule_key")
    op.execute("DELETE FROM timers WHERE run_id IS NULL")
    with op.batch_alter_table("timers") as batch:
        batch.drop_index("ix_timers_schedule_key")
        batch.drop_column("schedule_key")
        batch.alter_column("run_id", existing_type=sa.String(length=36), nullable=False)
    op.drop_index("ix_schedule_actions_schedule_key", table_name="schedule_actions")
    op.drop_index("ux_schedule_actions_spec_time", table_name="schedule_actions")
    op.drop_table("schedule_actions")
    op.drop_table("schedules")
