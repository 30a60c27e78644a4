"""The replay gate (issue #21 §3): replay checks of Worker Deployment versions and their
per-run items.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.types import UTCDateTime

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replay_checks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("namespace_id", sa.String(36), nullable=False),
        sa.Column("deployment_name", sa.String(255), nullable=False),
        sa.Column("build_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("sample_size", sa.Integer(), nullable=False),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("identity", sa.String(1000), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("last_taken_at", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "ix_replay_checks_version",
        "replay_checks",
        ["namespace_id", "deployment_name", "build_id", "created_at"],
    )
    op.create_index("ix_replay_checks_status", "replay_checks", ["status"])
    op.create_table(
        "replay_check_items",
        sa.Column("check_id", sa.String(36), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("namespace_id", sa.String(36), nullable=False),
        sa.Column("workflow_id", sa.String(1000), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("workflow_type", sa.String(1000), nullable=False),
        sa.Column("run_status", sa.String(20), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("token", sa.String(36), nullable=True),
        sa.Column("deadline", UTCDateTime(), nullable=True),
        sa.Column("identity", sa.String(1000), nullable=True),
        sa.Column("failure_kind", sa.String(40), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("failure_event_id", sa.Integer(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_replay_check_items_status", "replay_check_items", ["check_id", "status"])
    op.create_index("ix_replay_check_items_token", "replay_check_items", ["token"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_replay_check_items_token", "replay_check_items")
    op.drop_index("ix_replay_check_items_status", "replay_check_items")
    op.drop_table("replay_check_items")
    op.drop_index("ix_replay_checks_status", "replay_checks")
    op.drop_index("ix_replay_checks_version", "replay_checks")
    op.drop_table("replay_checks")
