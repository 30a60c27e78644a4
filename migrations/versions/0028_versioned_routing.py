"""Worker Versioning routing (issue #21): each task carries the version it is pinned to and
its workflow id's ramp bucket, so a claim routes it at claim time; each run keeps what it
inherited and what its workers last declared.

Existing tasks get no pinned version and bucket 0 (they follow their queue's routing; on a
ramping deployment they count as under the percentage). Existing runs stay unversioned.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): the tables keep their rows, indexes and statistics.
    op.add_column("tasks", sa.Column("pinned_version", sa.String(512), nullable=True))
    op.add_column("tasks", sa.Column("ramp_bucket", sa.Float(), nullable=False, server_default="0"))
    op.add_column("workflow_runs", sa.Column("versioning_inherited", sa.Text(), nullable=True))
    op.add_column("workflow_runs", sa.Column("declared_versioning", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_column("declared_versioning")
        batch.drop_column("versioning_inherited")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("ramp_bucket")
        batch.drop_column("pinned_version")
