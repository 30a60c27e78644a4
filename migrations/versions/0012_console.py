"""The web console: server-side sessions and OIDC sign-ins in progress.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from app.db.types import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("api_key_id", sa.String(length=36), nullable=True),
        sa.Column("oidc_subject", sa.String(length=1000), nullable=True),
        sa.Column("display_name", sa.String(length=1000), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("namespaces", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=True),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("tokens_expire_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_console_sessions_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_console_sessions_token_hash")),
    )
    op.create_index("ix_console_sessions_expires_at", "console_sessions", ["expires_at"])
    op.create_table(
        "console_sign_ins",
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("next_path", sa.String(length=2000), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("state", name=op.f("pk_console_sign_ins")),
    )
    op.create_index("ix_console_sign_ins_expires_at", "console_sign_ins", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_console_sign_ins_expires_at", table_name="console_sign_ins")
    op.drop_table("console_sign_ins")
    op.drop_index("ix_console_sessions_expires_at", table_name="console_sessions")
    op.drop_table("console_sessions")
