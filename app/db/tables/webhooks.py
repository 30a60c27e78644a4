"""Webhook endpoints and their delivery log."""

from __future__ import annotations

import sqlalchemy as sa

from app.db.tables.base import metadata
from app.db.types import JSONType, UTCDateTime

# ---------------------------------------------------------------------------------------------
# Webhook activities. Endpoints a namespace delivers activity tasks to, and the log of every
# delivery attempt. The server signs with the secrets, so it cannot hash them: they are sealed.
# ---------------------------------------------------------------------------------------------

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("namespace_id", sa.String(36), sa.ForeignKey("namespaces.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("activity_types", JSONType, nullable=False),  # list of names
    sa.Column("task_queues", JSONType, nullable=False),  # list of names
    sa.Column("timeout", sa.Float(), nullable=False),
    sa.Column("headers", JSONType, nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("disabled_reason", sa.Text(), nullable=True),
    sa.Column("retry_client_errors", sa.Boolean(), nullable=False),
    sa.Column("max_concurrency", sa.Integer(), nullable=False),
    # Sealed with PERDURE_SECRET_KEY (app/sealing.py), like credential values in `headers`.
    sa.Column("secret", sa.Text(), nullable=False),
    # After a rotation the previous secret still signs until it expires.
    sa.Column("previous_secret", sa.Text(), nullable=True),
    sa.Column("previous_secret_expires_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("namespace_id", "name"),
    # The delivery loop reads the enabled endpoints of every namespace each tick.
    sa.Index("ix_webhook_endpoints_enabled", "enabled"),
)


webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("namespace_id", sa.String(36), nullable=False),
    sa.Column("endpoint_id", sa.String(36), nullable=False),
    # The Standard Webhooks message id; a redelivery repeats its original's id.
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("workflow_id", sa.String(1000), nullable=False),
    sa.Column("scheduled_event_id", sa.Integer(), nullable=False),
    sa.Column("activity_id", sa.String(1000), nullable=False),
    sa.Column("activity_type", sa.String(1000), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("request_body", sa.Text(), nullable=False),  # kept for a redelivery by hand
    # 'in_flight', 'completed', 'accepted', 'failed', 'refused' (outbound safety) or
    # 'abandoned' (the server died mid-send; the attempt timed out).
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("latency_ms", sa.Float(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("response_excerpt", sa.Text(), nullable=True),
    # The log of one endpoint, newest first.
    sa.Index("ix_webhook_deliveries_endpoint_id", "endpoint_id", "started_at", "id"),
    sa.Index("ix_webhook_deliveries_namespace_id", "namespace_id"),
    # Earlier attempts of an activity, marked abandoned when a later one is claimed.
    sa.Index("ix_webhook_deliveries_run_id", "run_id", "scheduled_event_id"),
)
