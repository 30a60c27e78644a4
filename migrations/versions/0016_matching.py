"""Matching: a poller counts as present while its long poll is open.

`task_queue_pollers.open_until` is the end of the poller's latest long poll (its start plus
the wait it asked for): a worker sitting in a 60 s poll is present until then, however long
ago the poll started (Temporal's DescribeTaskQueue lists such pollers too).

Revision ID: 0016
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.types import UTCDateTime

revision = "0016"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_queue_pollers") as batch:
        batch.add_column(sa.Column("open_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_queue_pollers") as batch:
        batch.drop_column("open_until")
