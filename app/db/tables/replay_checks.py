"""The replay gate's durable jobs (issue #21 §3): a replay check of one Worker Deployment
version, and one item per sampled run whose history a poller of that version replays.

A check is sampled when it is created (its items are the job); items are handed out as replay
tasks, answered, or handed out again once their `deadline` passes, so a server killed mid-check
loses nothing."""

from __future__ import annotations

import sqlalchemy as sa

from app.db.tables.base import metadata
from app.db.types import UTCDateTime

# status: running → passed | failed. A finished check counts for 24 hours (app/engine/
# versioning/replay_gate.py); the latest one of a version decides a promotion.
replay_checks = sa.Table(
    "replay_checks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("namespace_id", sa.String(36), nullable=False),
    sa.Column("deployment_name", sa.String(255), nullable=False),
    sa.Column("build_id", sa.String(255), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("sample_size", sa.Integer(), nullable=False),
    sa.Column("query", sa.Text(), nullable=True),
    sa.Column("identity", sa.String(1000), nullable=True),
    sa.Column("total", sa.Integer(), nullable=False),
    sa.Column("passed", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("failed", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    # When a poller last took one of its replay tasks: what `waiting_on` reads.
    sa.Column("last_taken_at", UTCDateTime(), nullable=True),
    # The gate's question ("the version's latest finished check") and the listing's order.
    sa.Index(
        "ix_replay_checks_version",
        "namespace_id",
        "deployment_name",
        "build_id",
        "created_at",
    ),
    # What the pollers' claim and the timeout loop look for: running checks only.
    sa.Index("ix_replay_checks_status", "status"),
)

# status: pending → issued → passed | failed; an issued item past its deadline is pending
# again (attempts < the limit) or failed "timed out". `token` names the current hand-out, so
# the answer to an earlier one changes nothing.
replay_check_items = sa.Table(
    "replay_check_items",
    metadata,
    sa.Column("check_id", sa.String(36), primary_key=True),
    sa.Column("seq", sa.Integer(), primary_key=True),
    sa.Column("namespace_id", sa.String(36), nullable=False),
    sa.Column("workflow_id", sa.String(1000), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("workflow_type", sa.String(1000), nullable=False),
    sa.Column("run_status", sa.String(20), nullable=False),
    # The history replayed ends here (an open run's history grows while the check runs).
    sa.Column("last_event_id", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("token", sa.String(36), nullable=True),
    sa.Column("deadline", UTCDateTime(), nullable=True),
    sa.Column("identity", sa.String(1000), nullable=True),
    sa.Column("failure_kind", sa.String(40), nullable=True),
    sa.Column("failure_message", sa.Text(), nullable=True),
    sa.Column("failure_event_id", sa.Integer(), nullable=True),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Index("ix_replay_check_items_status", "check_id", "status"),
    sa.Index("ix_replay_check_items_token", "token", unique=True),
)
