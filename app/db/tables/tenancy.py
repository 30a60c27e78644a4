"""Tenants, namespaces, API keys and console sessions: who may do what."""

from __future__ import annotations

import sqlalchemy as sa

from app.db.tables.base import metadata
from app.db.types import JSONType, UTCDateTime

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # Set by the system administrator: the tenant's keys stop working; its data stays.
    sa.Column("disabled_at", UTCDateTime(), nullable=True),
)


namespaces = sa.Table(
    "namespaces",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=False, server_default=""),
    sa.Column("retention_days", sa.Integer(), nullable=False, server_default="30"),
    sa.Column("settings", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # Serves the namespace lookup on every namespaced request and the per-tenant list.
    sa.UniqueConstraint("tenant_id", "name"),
)


api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    # NULL: every namespace of the tenant; otherwise a JSON list of namespace ids (ids, not
    # names: a namespace deleted and made again under the same name is not in the scope).
    sa.Column("namespace_ids", JSONType, nullable=True),
    # SHA-256 of the whole secret: keys carry 256 random bits, so a fast hash is safe.
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("key_prefix", sa.String(16), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_api_keys_tenant_id_created_at", "tenant_id", "created_at", "id"),
)


# ---------------------------------------------------------------------------------------------
# The web console. A signed-in browser holds only a random session id (its hash is stored);
# the session names the API key it was opened with (checked on every request, so revoking the
# key ends it) or, for OIDC sign-in, the principal its claims mapped to and the tokens that
# refresh it. Sign-ins in progress keep their PKCE verifier and nonce server-side.
# ---------------------------------------------------------------------------------------------

console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("api_key_id", sa.String(36), nullable=True),  # NULL for OIDC sessions
    sa.Column("oidc_subject", sa.String(1000), nullable=True),
    sa.Column("display_name", sa.String(1000), nullable=False),
    # OIDC sessions: the role and namespaces their claims mapped to (API-key sessions read
    # them from the key on every request).
    sa.Column("role", sa.String(20), nullable=True),
    sa.Column("namespaces", JSONType, nullable=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("refresh_token", sa.Text(), nullable=True),
    sa.Column("tokens_expire_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index("ix_console_sessions_expires_at", "expires_at"),
)


console_sign_ins = sa.Table(
    "console_sign_ins",
    metadata,
    sa.Column("state", sa.String(64), primary_key=True),
    sa.Column("code_verifier", sa.String(128), nullable=False),
    sa.Column("nonce", sa.String(64), nullable=False),
    sa.Column("next_path", sa.String(2000), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index("ix_console_sign_ins_expires_at", "expires_at"),
)
