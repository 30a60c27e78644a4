"""Schedules and the actions they took."""

from __future__ import annotations

import sqlalchemy as sa

from app.db.tables.base import metadata
from app.db.types import UTCDateTime

# -- schedules (issue #15): Temporal's schedules, fired by the timers above ---------------------

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # the schedule key other tables use
    sa.Column("namespace_id", sa.String(36), sa.ForeignKey("namespaces.id"), nullable=False),
    sa.Column("schedule_id", sa.String(1000), nullable=False),  # the caller's name for it
    sa.Column("spec", sa.Text(), nullable=False),  # JSON, canonical (see app/schedules/spec.py)
    sa.Column("action", sa.Text(), nullable=False),  # JSON: the workflow start
    sa.Column("overlap_policy", sa.String(20), nullable=False),
    sa.Column("catchup_window", sa.Float(), nullable=False),  # seconds
    sa.Column("pause_on_failure", sa.Boolean(), nullable=False),
    sa.Column("paused", sa.Boolean(), nullable=False),
    sa.Column("notes", sa.Text(), nullable=True),
    sa.Column("limited_actions", sa.Boolean(), nullable=False),
    sa.Column("remaining_actions", sa.Integer(), nullable=False),
    sa.Column("memo", sa.Text(), nullable=True),
    sa.Column("search_attributes", sa.Text(), nullable=True),
    sa.Column("action_count", sa.Integer(), nullable=False),
    sa.Column("missed_catchup_window", sa.Integer(), nullable=False),
    sa.Column("overlap_skipped", sa.Integer(), nullable=False),
    sa.Column("buffer_dropped", sa.Integer(), nullable=False),
    # Spec times up to here have been taken, skipped or missed; the next firing looks after it.
    sa.Column("last_processed_time", UTCDateTime(), nullable=False),
    sa.Column("conflict_token", sa.Integer(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=True),
    # The lookup by name, and the list in name order.
    sa.UniqueConstraint("namespace_id", "schedule_id"),
)


# The actions of a schedule: buffered (waiting under an overlap policy), running, closed (the
# run closed; the schedule has yet to look) and done. Only the latest few done ones are kept.
schedule_actions = sa.Table(
    "schedule_actions",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("schedule_key", sa.String(36), nullable=False),
    sa.Column("namespace_id", sa.String(36), nullable=False),
    sa.Column("origin", sa.String(10), nullable=False),  # 'spec', 'trigger' or 'backfill'
    sa.Column("nominal_time", UTCDateTime(), nullable=False),
    sa.Column("scheduled_time", UTCDateTime(), nullable=False),  # nominal + jitter
    sa.Column("overlap_policy", sa.String(20), nullable=True),  # NULL: the schedule's
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("workflow_id", sa.String(1000), nullable=True),
    sa.Column("run_id", sa.String(36), nullable=True),  # first run of the started chain
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("status", sa.String(20), nullable=True),  # RUNNING, then how the chain closed
    sa.Column("closed_at", UTCDateTime(), nullable=True),
    # Each nominal time of the spec is acted on at most once, whatever races or restarts.
    sa.Index(
        "ux_schedule_actions_spec_time",
        "schedule_key",
        "nominal_time",
        unique=True,
        sqlite_where=sa.text("origin = 'spec'"),
        postgresql_where=sa.text("origin = 'spec'"),
    ),
    sa.Index("ix_schedule_actions_schedule_key", "schedule_key", "state", "id"),
)
