"""Worker Versioning administration (issue #21): when each version's routing and drainage
last changed, and an index that counts a version's open runs by behaviour (drainage, the
describe of a version) without reading unversioned runs.

The index is partial: unversioned runs (deployment_name NULL) and closed runs are not in it,
so the unversioned path writes nothing more than before.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.types import UTCDateTime

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

_OPEN_VERSIONED = "status = 'RUNNING' AND deployment_name IS NOT NULL"


def upgrade() -> None:
    op.add_column(
        "worker_deployment_versions", sa.Column("routing_changed_at", UTCDateTime(), nullable=True)
    )
    op.add_column(
        "worker_deployment_versions",
        sa.Column("drainage_changed_at", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "ix_workflow_runs_open_version",
        "workflow_runs",
        ["namespace_id", "deployment_name", "build_id", "versioning_behavior"],
        sqlite_where=sa.text(_OPEN_VERSIONED),
        postgresql_where=sa.text(_OPEN_VERSIONED),
    )
    op.create_index(
        "ix_worker_deployment_versions_drainage",
        "worker_deployment_versions",
        ["status", "drainage_checked_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_worker_deployment_versions_drainage", "worker_deployment_versions")
    op.drop_index("ix_workflow_runs_open_version", "workflow_runs")
    with op.batch_alter_table("worker_deployment_versions") as batch:
        batch.drop_column("drainage_changed_at")
        batch.drop_column("routing_changed_at")
