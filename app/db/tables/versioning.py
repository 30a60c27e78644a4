"""Worker Versioning (Temporal's Worker Deployments, issue #21): deployments, their versions,
the task queues each version's workers poll, and the replay checks that gate a promotion.

A version exists once a worker of it polls. A deployment routes new runs, and the workflow
tasks of auto-upgrade runs, to its current version, or to its ramping one when the run's
workflow-id hash falls under the ramping percentage. An empty `build_id` names the
unversioned workers (as current or ramping target)."""

from __future__ import annotations

import sqlalchemy as sa

from app.db.tables.base import metadata
from app.db.types import JSONType, UTCDateTime

# One row per Worker Deployment of a namespace (created by its first versioned poll).
# `conflict_token` changes on every routing change: a set-current or set-ramping that names
# an older token is refused (409 conflict-token-mismatch), as Temporal's are.
worker_deployments = sa.Table(
    "worker_deployments",
    metadata,
    sa.Column("namespace_id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # '' : the unversioned workers are current (a new deployment's state, and a rollback).
    sa.Column("current_build_id", sa.String(255), nullable=False, server_default=""),
    sa.Column("current_changed_at", UTCDateTime(), nullable=True),
    # NULL: nothing ramps; '' : the unversioned workers ramp.
    sa.Column("ramping_build_id", sa.String(255), nullable=True),
    sa.Column("ramping_percentage", sa.Float(), nullable=False, server_default="0"),
    sa.Column("ramping_changed_at", UTCDateTime(), nullable=True),
    # Bumped by every routing change, so that every server process sees it in the claim.
    sa.Column("routing_revision", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("conflict_token", sa.String(36), nullable=False),
    sa.Column("last_modifier_identity", sa.String(1000), nullable=True),
)


# One row per version (deployment name, build id). `status`: inactive, current, ramping,
# draining (no longer current or ramping, pinned runs still open) or drained.
worker_deployment_versions = sa.Table(
    "worker_deployment_versions",
    metadata,
    sa.Column("namespace_id", sa.String(36), primary_key=True),
    sa.Column("deployment_name", sa.String(255), primary_key=True),
    sa.Column("build_id", sa.String(255), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(10), nullable=False, server_default="inactive"),
    sa.Column("current_since", UTCDateTime(), nullable=True),
    sa.Column("ramping_since", UTCDateTime(), nullable=True),
    sa.Column("first_activation_time", UTCDateTime(), nullable=True),
    sa.Column("last_deactivation_time", UTCDateTime(), nullable=True),
    sa.Column("drainage_checked_at", UTCDateTime(), nullable=True),
    # Migration 0029: when the deployment last changed this version's routing (Temporal's
    # routing_update_time), and when its drainage status last changed.
    sa.Column("routing_changed_at", UTCDateTime(), nullable=True),
    sa.Column("drainage_changed_at", UTCDateTime(), nullable=True),
    sa.Column("last_poll_time", UTCDateTime(), nullable=True),
    # Workflow types the version's workers completed tasks of (JSON list, at most 1,000):
    # what a replay check samples.
    sa.Column("workflow_types", JSONType, nullable=True),
    # The drainage loop's look for versions due a recount (app/engine/versioning/drainage.py).
    sa.Index("ix_worker_deployment_versions_drainage", "status", "drainage_checked_at"),
)


# The task queues (and task kinds) each version's workers poll: a queue belongs to a
# deployment once a versioned worker polls it.
worker_deployment_task_queues = sa.Table(
    "worker_deployment_task_queues",
    metadata,
    sa.Column("namespace_id", sa.String(36), primary_key=True),
    sa.Column("deployment_name", sa.String(255), primary_key=True),
    sa.Column("build_id", sa.String(255), primary_key=True),
    sa.Column("task_queue", sa.String(1000), primary_key=True),
    sa.Column("kind", sa.String(10), primary_key=True),
    sa.Column("first_poll_time", UTCDateTime(), nullable=False),
    sa.Column("last_poll_time", UTCDateTime(), nullable=False),
    sa.Index("ix_worker_deployment_task_queues_queue", "namespace_id", "task_queue", "kind"),
)
