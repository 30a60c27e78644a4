"""Flow control in task queues (issue #25): priority and fairness keys on runs, activities and
tasks; the claim's index in (priority, fairness pass, id) order; per-queue configuration and
fairness state.

Existing tasks get priority 3 and pass 0, so they are served first among tasks of priority 3,
in the order they were queued (Temporal: tasks queued before fairness was used come first).

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.types import JSONType, UTCDateTime

revision = "0020"
down_revision = "0017"
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
    op.drop_table("task_queue_key_rates")
    op.drop_index("ix_task_queue_fairness_pass", table_name="task_queue_fairness")
    op.drop_table("task_queue_fairness")
    op.drop_table("task_queue_configs")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_queue_order")
        batch.create_index("ix_tasks_queue", ["namespace_id", "kind", "task_queue", "id"])
        for name in ("fairness_weight", "fairness_pass", "fairness_key", "priority"):
            batch.drop_column(name)
    for table in ("activities", "workflow_runs"):
        with op.batch_alter_table(table) as batch:
            for name in reversed(_PRIORITY_COLUMNS):
                batch.drop_column(name)
