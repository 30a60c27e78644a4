"""Operating it: tenants can be disabled by the system administrator (their keys stop
working); activities keep the W3C trace context of the request that scheduled them, so their
tasks and webhook deliveries continue that trace.

Revision ID: 0015
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.types import UTCDateTime

revision = "0015"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("disabled_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("activities") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(55), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("activities") as batch:
        batch.drop_column("traceparent")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("disabled_at")
