"""The engine: runs, history, buffered events, tasks, activities, timers, search attributes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("scheduled_event_id", sa.Integer(), nullable=False),
        sa.Column("namespace_id", sa.String(length=36), nullable=False),
        sa.Column("activity_id", sa.String(length=1000), nullable=False),
        sa.Column("activity_type", sa.String(length=1000), nullable=False),
        sa.Column("task_queue", sa.String(length=1000), nullable=False),
        sa.Column("input", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("schedule_to_close_timeout", sa.Float(), nullable=True),
        sa.Column("schedule_to_start_timeout", sa.Float(), nullable=True),
        sa.Column("start_to_close_timeout", sa.Float(), nullable=True),
        sa.Column("heartbeat_timeout", sa.Float(), nullable=True),
        sa.Column("retry_policy", sa.Text(), nullable=False),
        sa.Column("scheduled_time", UTCDateTime(), nullable=False),
        sa.Column("attempt_scheduled_time", UTCDateTime(), nullable=False),
        sa.Column("started_time", UTCDateTime(), nullable=True),
        sa.Column("started_identity", sa.String(length=1000), nullable=True),
        sa.Column("last_heartbeat_time", UTCDateTime(), nullable=True),
        sa.Column("heartbeat_details", sa.Text(), nullable=True),
        sa.Column("last_failure", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("cancel_requested_event_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "scheduled_event_id", name=op.f("pk_activities")),
    )
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index(
            "ix_activities_run_id_activity_id", ["run_id", "activity_id"], unique=True
        )

    op.create_table(
        "buffered_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("event_time", UTCDateTime(), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buffered_events")),
    )
    with op.batch_alter_table("buffered_events", schema=None) as batch_op:
        batch_op.create_index("ix_buffered_events_run_id", ["run_id", "id"], unique=False)

    op.create_table(
        "history_events",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("event_time", UTCDateTime(), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "event_id", name=op.f("pk_history_events")),
    )
    op.create_table(
        "task_queue_pollers",
        sa.Column("namespace_id", sa.String(length=36), nullable=False),
        sa.Column("task_queue", sa.String(length=1000), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("identity", sa.String(length=1000), nullable=False),
        sa.Column("last_poll_time", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "namespace_id", "task_queue", "kind", "identity", name=op.f("pk_task_queue_pollers")
        ),
    )
    op.create_table(
        "tasks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("namespace_id", sa.String(length=36), nullable=False),
        sa.Column("task_queue", sa.String(length=1000), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("scheduled_event_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tasks_queue", ["namespace_id", "kind", "task_queue", "id"], unique=False
        )
        batch_op.create_index("ix_tasks_run_id", ["run_id"], unique=False)

    op.create_table(
        "timers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("namespace_id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.Integer(), server_default="0", nullable=False),
        sa.Column("attempt", sa.Integer(), server_default="0", nullable=False),
        sa.Column("label", sa.String(length=1000), nullable=True),
        sa.Column("fire_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timers")),
    )
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.create_index("ix_timers_fire_at", ["fire_at"], unique=False)
        batch_op.create_index("ix_timers_run_id", ["run_id", "kind", "ref"], unique=False)

    op.create_table(
        "workflow_search_attributes",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("namespace_id", sa.String(length=36), nullable=False),
        sa.Column("value", sa.String(length=2000), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name", name=op.f("pk_workflow_search_attributes")),
    )
    with op.batch_alter_table("workflow_search_attributes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_workflow_search_attributes_lookup", ["namespace_id", "name", "value"], unique=False
        )

    op.create_table(
        "workflow_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("namespace_id", sa.String(length=36), nullable=False),
        sa.Column("workflow_id", sa.String(length=1000), nullable=False),
        sa.Column("workflow_type", sa.String(length=1000), nullable=False),
        sa.Column("task_queue", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("input", sa.Text(), nullable=True),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("search_attributes", sa.Text(), nullable=True),
        sa.Column("start_time", UTCDateTime(), nullable=False),
        sa.Column("execution_time", UTCDateTime(), nullable=False),
        sa.Column("close_time", UTCDateTime(), nullable=True),
        sa.Column("execution_timeout", sa.Float(), nullable=True),
        sa.Column("run_timeout", sa.Float(), nullable=True),
        sa.Column("task_timeout", sa.Float(), nullable=False),
        sa.Column("execution_deadline", UTCDateTime(), nullable=True),
        sa.Column("first_run_id", sa.String(length=36), nullable=False),
        sa.Column("continued_from_run_id", sa.String(length=36), nullable=True),
        sa.Column("continued_to_run_id", sa.String(length=36), nullable=True),
        sa.Column("parent_run_id", sa.String(length=36), nullable=True),
        sa.Column("parent_workflow_id", sa.String(length=1000), nullable=True),
        sa.Column("parent_namespace_id", sa.String(length=36), nullable=True),
        sa.Column("parent_initiated_event_id", sa.Integer(), nullable=True),
        sa.Column("parent_close_policy", sa.String(length=20), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("next_event_id", sa.Integer(), nullable=False),
        sa.Column("history_bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("wft_state", sa.String(length=10), server_default="none", nullable=False),
        sa.Column("wft_scheduled_event_id", sa.Integer(), nullable=True),
        sa.Column("wft_started_event_id", sa.Integer(), nullable=True),
        sa.Column("wft_attempt", sa.Integer(), server_default="1", nullable=False),
        sa.Column("wft_identity", sa.String(length=1000), nullable=True),
        sa.Column(
            "last_completed_started_event_id", sa.Integer(), server_default="0", nullable=False
        ),
        sa.Column("buffered_events", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("signal_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("decider", sa.String(length=20), server_default="queue", nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespaces.id"],
            name=op.f("fk_workflow_runs_namespace_id_namespaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_runs")),
    )
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_workflow_runs_namespace_id_close_time", ["namespace_id", "close_time"], unique=False
        )
        batch_op.create_index(
            "ix_workflow_runs_namespace_id_request_id", ["namespace_id", "request_id"], unique=False
        )
        batch_op.create_index(
            "ix_workflow_runs_namespace_id_start_time",
            ["namespace_id", "start_time", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_workflow_runs_namespace_id_status",
            ["namespace_id", "status", "start_time"],
            unique=False,
        )
        batch_op.create_index(
            "ix_workflow_runs_namespace_id_workflow_id",
            ["namespace_id", "workflow_id", "start_time"],
            unique=False,
        )
        batch_op.create_index(
            "ix_workflow_runs_namespace_id_workflow_type",
            ["namespace_id", "workflow_type", "start_time"],
            unique=False,
        )
        batch_op.create_index("ix_workflow_runs_parent_run_id", ["parent_run_id"], unique=False)
        batch_op.create_index(
            "ux_workflow_runs_open_workflow_id",
            ["namespace_id", "workflow_id"],
            unique=True,
            sqlite_where=sa.text("status = 'RUNNING'"),
            postgresql_where=sa.text("status = 'RUNNING'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_workflow_runs_open_workflow_id",
            sqlite_where=sa.text("status = 'RUNNING'"),
            postgresql_where=sa.text("status = 'RUNNING'"),
        )
        batch_op.drop_index("ix_workflow_runs_parent_run_id")
        batch_op.drop_index("ix_workflow_runs_namespace_id_workflow_type")
        batch_op.drop_index("ix_workflow_runs_namespace_id_workflow_id")
        batch_op.drop_index("ix_workflow_runs_namespace_id_status")
        batch_op.drop_index("ix_workflow_runs_namespace_id_start_time")
        batch_op.drop_index("ix_workflow_runs_namespace_id_request_id")
        batch_op.drop_index("ix_workflow_runs_namespace_id_close_time")

    op.drop_table("workflow_runs")
    with op.batch_alter_table("workflow_search_attributes", schema=None) as batch_op:
        batch_op.drop_index("ix_workflow_search_attributes_lookup")

    op.drop_table("workflow_search_attributes")
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_index("ix_timers_run_id")
        batch_op.drop_index("ix_timers_fire_at")

    op.drop_table("timers")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_run_id")
        batch_op.drop_index("ix_tasks_queue")

    op.drop_table("tasks")
    op.drop_table("task_queue_pollers")
    op.drop_table("history_events")
    with op.batch_alter_table("buffered_events", schema=None) as batch_op:
        batch_op.drop_index("ix_buffered_events_run_id")

    op.drop_table("buffered_events")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index("ix_activities_run_id_activity_id")

    op.drop_table("activities")
