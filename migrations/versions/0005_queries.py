"""Queries: questions to a workflow that a worker of its task queue answers.

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.types import UTCDateTime

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "query_tasks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("namespace_id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("workflow_id", sa.String(length=1000), nullable=False),
        sa.Column("workflow_type", sa.String(length=1000), nullable=False),
        sa.Column("task_queue", sa.String(length=1000), nullable=False),
        sa.Column("query_type", sa.String(length=1000), nullable=False),
        sa.Column("args", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("claimed_by", sa.String(length=1000), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_query_tasks")),
    )
    op.create_index(
        "ix_query_tasks_queue",
        "query_tasks",
        ["namespace_id", "task_queue", "state", "created_at"],
    )
    op.create_index("ix_query_tasks_expires_at", "query_tasks", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_query_tasks_expires_at", table_name="query_tasks")
    op.drop_index("ix_query_tasks_queue", table_name="query_tasks")
    op.drop_table("query_tasks")
