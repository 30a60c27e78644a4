"""Request ids bound to their request; key scopes by namespace id; room for sealed secrets.

- `idempotency_keys`: each request id (Idempotency-Key, Temporal's request_id) with the
  fingerprint of the request that used it and the run it reached. Starts no longer look their
  request id up among runs, so that index goes.
- `api_keys.namespaces` (names) becomes `namespace_ids`: a namespace deleted and made again
  under the same name is a new one, out of the old keys' reach. Names that no longer exist
  are dropped from the scopes.
- Webhook secrets are stored sealed (app/sealing.py), longer than the plain values: Text.
  The server seals values written before this revision when it starts.

Revision ID: 0009
Revises: 0012
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.types import JSONType, UTCDateTime

revision = "0009"
down_revision = "0012"
branch_labels = None
depends_on = None


def _convert_scopes(*, to_ids: bool) -> None:
    """Rewrite every scoped key's list, names to ids (or back), within its tenant."""
    conn = op.get_bind()
    namespaces = {
        (row.tenant_id, row.name if to_ids else row.id): row.id if to_ids else row.name
        for row in conn.execute(sa.text("SELECT id, tenant_id, name FROM namespaces"))
    }
    source, target = ("namespaces", "namespace_ids") if to_ids else ("namespace_ids", "namespaces")
    keys = sa.table(
        "api_keys",
        sa.column("id", sa.String),
        sa.column("tenant_id", sa.String),
        sa.column(source, JSONType),
        sa.column(target, JSONType),
    )
    scoped = conn.execute(
        sa.select(keys.c.id, keys.c.tenant_id, keys.c[source]).where(keys.c[source].is_not(None))
    ).all()
    for key_id, tenant_id, scope in scoped:
        converted = sorted(
            namespaces[(tenant_id, item)] for item in scope if (tenant_id, item) in namespaces
        )
        conn.execute(sa.update(keys).where(keys.c.id == key_id).values({target: converted}))


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("namespace_id", sa.String(36), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("workflow_id", sa.String(1000), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("namespace_id", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])
    op.drop_index("ix_workflow_runs_namespace_id_request_id", table_name="workflow_runs")

    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("namespace_ids", JSONType, nullable=True))
    _convert_scopes(to_ids=True)
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("namespaces")

    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.alter_column("secret", type_=sa.Text(), existing_nullable=False)
        batch.alter_column("previous_secret", type_=sa.Text(), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.alter_column("previous_secret", type_=sa.String(200), existing_nullable=True)
        batch.alter_column("secret", type_=sa.String(200), existing_nullable=False)

    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("namespaces", JSONType, nullable=True))
    _convert_scopes(to_ids=False)
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("namespace_ids")

    op.create_index(
        "ix_workflow_runs_namespace_id_request_id", "workflow_runs", ["namespace_id", "request_id"]
    )
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
