"""Worker Versioning for queries (issue #21): each pending query carries the version it is
pinned to and its workflow id's ramp bucket, as tasks do (migration 0028), so a query goes
only to a poller that may take its run's workflow tasks.

Existing queries (they live at most 30 s) get no pinned version and bucket 0.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy), as migration 0028.
    op.add_column("query_tasks", sa.Column("pinned_version", sa.String(512), nullable=True))
    op.add_column(
        "query_tasks", sa.Column("ramp_bucket", sa.Float(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    with op.batch_alter_table("query_tasks") as batch:
        batch.drop_column("ramp_bucket")
        batch.drop_column("pinned_version")
