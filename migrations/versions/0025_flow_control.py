"""Flow control in task queues (issue #25): priority and fairness keys on runs, activities and
tasks; the claim's index in (priority, fairness pass, id) order; per-queue configuration and
fairness state.

Existing tasks get priority 3 and pass 0, so they are served first among tasks of priority 3,
in the order they were queued (Temporal: tasks queued before fairness was used come first).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.types import JSONType, UTCDateTime

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_PRIORITY_COLUMNS = ("priority_key", "fairness_key", "fairness_weight")


def _priority_columns() -> list[sa.Column]:
    return [
        sa.Column("priority_key", sa.SmallInteger(), nullable=True),
        sa.Column("fairness_key", sa.String(64), nullable=True),
        sa.Column("fairness_weight", sa.Float(), nullable=True),
    ]


def upgrade() -> None:
    for table in ("workflow_runs", "activities"):
        with op.batch_alter_table(table) as batch:
            for column in _priority_columns():
                batch.add_column(column)
            batch.add_column(sa.Column("concurrency_keys", sa.Text(), nullable=True))
    with op.batch_alter_table("workflow_runs") as batch:
        batch.add_column(sa.Column("concurrency_state", sa.String(10), nullable=True))
    with op.batch_alter_table("activities") as batch:
        batch.add_column(
            sa.Column(
                "holds_concurrency_slot", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(
            sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="3")
        )
        batch.add_column(
            sa.Column("fairness_key", sa.String(64), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("fairness_pass", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("fairness_weight", sa.Float(), nullable=False, server_default="1")
        )
        batch.drop_index("ix_tasks_queue")
        batch.create_index(
            "ix_tasks_queue_order",
            ["namespace_id", "kind", "task_queue", "priority", "fairness_pass", "id"],
        )
    op.create_table(
        "task_queue_configs",
        sa.Column("namespace_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("task_queue", sa.String(1000), nullable=False),
        sa.Column("queue_rate_limit", JSONType, nullable=True),
        sa.Column("key_rate_limit_default", JSONType, nullable=True),
        sa.Column("fairness_weight_overrides", JSONType, nullable=False),
        sa.Column("rate_next_at", sa.Float(), nullable=False, server_default="0"),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("namespace_id", "kind", "task_queue", name="pk_task_queue_configs"),
    )
    op.create_table(
        "task_queue_fairness",
        sa.Column("namespace_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("task_queue", sa.String(1000), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("fairness_key", sa.String(64), nullable=False),
        sa.Column("fairness_pass", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "namespace_id",
            "kind",
            "task_queue",
            "priority",
            "fairness_key",
            name="pk_task_queue_fairness",
        ),
    )
    op.create_index(
        "ix_task_queue_fairness_pass",
        "task_queue_fairness",
        ["namespace_id", "kind", "task_queue", "priority", "fairness_pass"],
    )
    op.create_table(
        "concurrency_limits",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("namespace_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("applies_to", sa.String(10), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("max_running", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(24), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespaces.id"],
            name="fk_concurrency_limits_namespace_id_namespaces",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_concurrency_limits"),
        sa.UniqueConstraint("namespace_id", "name", name="uq_concurrency_limits_namespace_id_name"),
    )
    op.create_table(
        "concurrency_slots",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("namespace_id", sa.String(36), nullable=False),
        sa.Column("limit_id", sa.String(36), nullable=False),
        sa.Column("key_value", sa.String(1000), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("scheduled_event_id", sa.Integer(), nullable=False),
        sa.Column("task", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_concurrency_slots"),
    )
    op.create_index(
        "ix_concurrency_slots_value",
        "concurrency_slots",
        ["limit_id", "key_value", "state", "id"],
    )
    op.create_index(
        "ix_concurrency_slots_run_id", "concurrency_slots", ["run_id", "scheduled_event_id"]
    )
    op.create_table(
        "task_queue_key_rates",
        sa.Column("namespace_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("task_queue", sa.String(1000), nullable=False),
        sa.Column("fairness_key", sa.String(64), nullable=False),
        sa.Column("rate_next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "namespace_id", "kind", "task_queue", "fairness_key", name="pk_task_queue_key_rates"
        ),
    )


def downgrade() -> None:
    op.drop_index("ix_concurrency_slots_run_id", table_name="concurrency_slots")
    op.drop_index("ix_concurrency_slots_value", table_name="concurrency_slots")
    op.drop_table("concurrency_slots")
    op.drop_table("concurrency_limits")
    op.drop_table("task_queue_key_rates")
    op.drop_index("ix_task_queue_fairness_pass", table_name="task_queue_fairness")
    op.drop_table("task_queue_fairness")
    op.drop_table("task_queue_configs")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_queue_order")
        batch.create_index("ix_tasks_queue", ["namespace_id", "kind", "task_queue", "id"])
        for name in ("fairness_weight", "fairness_pass", "fairness_key", "priority"):
            batch.drop_column(name)
    with op.batch_alter_table("activities") as batch:
        batch.drop_column("holds_concurrency_slot")
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_column("concurrency_state")
    for table in ("activities", "workflow_runs"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("concurrency_keys")
            for name in reversed(_PRIORITY_COLUMNS):
                batch.drop_column(name)
