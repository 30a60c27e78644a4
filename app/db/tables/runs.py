"""Workflow runs and what the engine keeps for them: history, tasks, activities, timers,
updates, queries, request ids and the pollers seen on each queue."""

from __future__ import annotations

import sqlalchemy as sa

from app.db.tables.base import metadata
from app.db.types import UTCDateTime

# ---------------------------------------------------------------------------------------------
# The engine. One row per run; its history; what is buffered while a workflow task is out;
# the tasks ready to dispatch; pending activities; every deadline; and search attributes.
# ---------------------------------------------------------------------------------------------

workflow_runs = sa.Table(
    "workflow_runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # run_id
    sa.Column("namespace_id", sa.String(36), sa.ForeignKey("namespaces.id"), nullable=False),
    sa.Column("workflow_id", sa.String(1000), nullable=False),
    sa.Column("workflow_type", sa.String(1000), nullable=False),
    sa.Column("task_queue", sa.String(1000), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("request_id", sa.String(200), nullable=True),  # of the start (idempotency_keys)
    sa.Column("input", sa.Text(), nullable=True),  # JSON text, passed through untouched
    sa.Column("memo", sa.Text(), nullable=True),
    sa.Column("search_attributes", sa.Text(), nullable=True),
    sa.Column("start_time", UTCDateTime(), nullable=False),
    sa.Column("execution_time", UTCDateTime(), nullable=False),  # start_time + start_delay
    sa.Column("close_time", UTCDateTime(), nullable=True),
    sa.Column("execution_timeout", sa.Float(), nullable=True),
    sa.Column("run_timeout", sa.Float(), nullable=True),
    sa.Column("task_timeout", sa.Float(), nullable=False),
    # Shared by every run of a continue-as-new chain.
    sa.Column("execution_deadline", UTCDateTime(), nullable=True),
    sa.Column("first_run_id", sa.String(36), nullable=False),
    sa.Column("continued_from_run_id", sa.String(36), nullable=True),
    sa.Column("continued_to_run_id", sa.String(36), nullable=True),
    sa.Column("parent_run_id", sa.String(36), nullable=True),
    sa.Column("parent_workflow_id", sa.String(1000), nullable=True),
    sa.Column("parent_namespace_id", sa.String(36), nullable=True),
    sa.Column("parent_initiated_event_id", sa.Integer(), nullable=True),
    sa.Column("parent_close_policy", sa.String(20), nullable=True),
    # Child workflows this run has started (migration 0017): 0 proves it has no children, so
    # closing it skips the query for children its parent close policy would reach.
    sa.Column("children_started", sa.Integer(), nullable=False, server_default="0"),
    # The workflow id at the top of the run's chain of parents (its own when it has none).
    sa.Column("root_workflow_id", sa.String(1000), nullable=True),
    sa.Column("result", sa.Text(), nullable=True),
    sa.Column("failure", sa.Text(), nullable=True),
    sa.Column("next_event_id", sa.Integer(), nullable=False),
    sa.Column("history_bytes", sa.BigInteger(), nullable=False, server_default="0"),
    # The one workflow task of a run: 'none', 'scheduled' or 'started'.
    sa.Column("wft_state", sa.String(10), nullable=False, server_default="none"),
    sa.Column("wft_scheduled_event_id", sa.Integer(), nullable=True),
    sa.Column("wft_started_event_id", sa.Integer(), nullable=True),
    sa.Column("wft_attempt", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("wft_identity", sa.String(1000), nullable=True),
    # Started event id of the last completed workflow task (what a sticky worker has seen).
    sa.Column("last_completed_started_event_id", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("buffered_events", sa.Integer(), nullable=False, server_default="0"),
    # Workflow Update (migration 0018): the workflow task is speculative (its scheduled and
    # started events are not written unless its completion needs them); the updates counted
    # against the run's total (every one not rejected; 0: none to look for on close); updates
    # admitted and waiting for a task to carry them.
    sa.Column("wft_speculative", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("updates_total", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("updates_admitted", sa.Integer(), nullable=False, server_default="0"),
    # When the speculative task started: its started event, written later, keeps that time.
    sa.Column("wft_speculative_started_at", UTCDateTime(), nullable=True),
    # Carried by the speculative task's token: successive speculative tasks have the same
    # event ids, and a stale token must not complete a later one.
    sa.Column("wft_speculative_nonce", sa.Integer(), nullable=True),
    sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("signal_count", sa.Integer(), nullable=False, server_default="0"),
    # Where the run's decisions are made: 'queue' (code-first worker) or 'definition'.
    sa.Column("decider", sa.String(20), nullable=False, server_default="queue"),
    # Workflow retries (Temporal's): the policy, and which attempt of the chain this run is.
    sa.Column("retry_policy", sa.Text(), nullable=True),
    sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"),
    # Temporal's cron workflows: each close starts the next run at the next cron time.
    sa.Column("cron_schedule", sa.String(255), nullable=True),
    # The schedule (`schedules.id`) whose action started this run's chain; carried across
    # continue-as-new and retries so that the chain's close reaches the schedule.
    sa.Column("schedule_key", sa.String(36), nullable=True),
    # Temporal's Priority of the run (migration 0025), NULL fields unset: its workflow tasks,
    # and its activities and children that set none of their own, are queued with it.
    sa.Column("priority_key", sa.SmallInteger(), nullable=True),
    sa.Column("fairness_key", sa.String(64), nullable=True),
    sa.Column("fairness_weight", sa.Float(), nullable=True),
    # Per-key concurrency limits (migration 0025): the start's `concurrency_keys` (JSON), and
    # NULL, 'holding' (it or its activities hold slots) or 'waiting' (held back at start).
    sa.Column("concurrency_keys", sa.Text(), nullable=True),
    sa.Column("concurrency_state", sa.String(10), nullable=True),
    # Reset (migration 0019): the run the latest reset of this run started, and the run this
    # one was reset from (Temporal's WorkflowExecutionExtendedInfo.reset_run_id).
    sa.Column("reset_run_id", sa.String(36), nullable=True),
    sa.Column("reset_from_run_id", sa.String(36), nullable=True),
    # Pause (migration 0019): JSON of who paused the run, why and when; NULL when not paused.
    # The status stays RUNNING (the open-run index below); readers show PAUSED.
    sa.Column("pause_info", sa.Text(), nullable=True),
    # Worker Versioning (migration 0026, app/engine/versioning/): the run's behaviour
    # ('PINNED', 'AUTO_UPGRADE'; NULL: unversioned), the version it is on (deployment name and
    # build id of its last completed workflow task, or of the version it was pinned to), and
    # its override (JSON: {"behavior": ..., "pinned_version": {...}}).
    sa.Column("versioning_behavior", sa.String(20), nullable=True),
    sa.Column("deployment_name", sa.String(255), nullable=True),
    sa.Column("build_id", sa.String(255), nullable=True),
    sa.Column("versioning_override", sa.Text(), nullable=True),
    # Routing (migration 0028): what the run inherited at start (JSON: {"pinned_version":
    # {...}} or {"auto_upgrade_info": {...}}; a retry of it inherits the same) and what the
    # worker of its last completed workflow task declared (JSON: {"behavior", "version"};
    # what applies when an override is removed).
    sa.Column("versioning_inherited", sa.Text(), nullable=True),
    sa.Column("declared_versioning", sa.Text(), nullable=True),
    # Only one run of a workflow id may be open: enforced by a partial unique index below.
    sa.Index(
        "ux_workflow_runs_open_workflow_id",
        "namespace_id",
        "workflow_id",
        unique=True,
        sqlite_where=sa.text("status = 'RUNNING'"),
        postgresql_where=sa.text("status = 'RUNNING'"),
    ),
    # Visibility: newest first, optionally by workflow id, type or status.
    sa.Index("ix_workflow_runs_namespace_id_start_time", "namespace_id", "start_time", "id"),
    # With the id, so that "the latest run of a workflow id" is one probe (migration 0008).
    sa.Index(
        "ix_workflow_runs_namespace_id_workflow_id",
        "namespace_id",
        "workflow_id",
        "start_time",
        "id",
    ),
    sa.Index("ix_workflow_runs_namespace_id_status", "namespace_id", "status", "start_time"),
    sa.Index(
        "ix_workflow_runs_namespace_id_workflow_type", "namespace_id", "workflow_type", "start_time"
    ),
    sa.Index("ix_workflow_runs_namespace_id_close_time", "namespace_id", "close_time"),
    sa.Index("ix_workflow_runs_parent_run_id", "parent_run_id"),
    # Worker Versioning (migration 0029): a version's open runs by behaviour (drainage, the
    # describe of a version). Unversioned and closed runs are not in it.
    sa.Index(
        "ix_workflow_runs_open_version",
        "namespace_id",
        "deployment_name",
        "build_id",
        "versioning_behavior",
        sqlite_where=sa.text("status = 'RUNNING' AND deployment_name IS NOT NULL"),
        postgresql_where=sa.text("status = 'RUNNING' AND deployment_name IS NOT NULL"),
    ),
)


# Request ids (Idempotency-Key, Temporal's request_id) of starts, signals, cancels and
# terminates: the fingerprint of the request that used each one and the run it reached.
# Kept until `expires_at` and while that run is open (app/engine/idempotency.py).
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("namespace_id", sa.String(36), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("operation", sa.String(32), nullable=False),
    sa.Column("workflow_id", sa.String(1000), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index("ix_idempotency_keys_expires_at", "expires_at"),
)


history_events = sa.Table(
    "history_events",
    metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("event_id", sa.Integer(), primary_key=True),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("event_time", UTCDateTime(), nullable=False),
    sa.Column("attributes", sa.Text(), nullable=False),  # JSON text
)


# Events that arrived while a workflow task was started: they join the history (and get their
# event ids) when that task completes, fails or times out, as Temporal does.
buffered_events = sa.Table(
    "buffered_events",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("event_time", UTCDateTime(), nullable=False),
    sa.Column("attributes", sa.Text(), nullable=False),
    sa.Index("ix_buffered_events_run_id", "run_id", "id"),
)


# Tasks ready to hand to a poller. A claim deletes the row in the transaction that marks the
# task started, so a task is never handed out twice.
tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("namespace_id", sa.String(36), nullable=False),
    sa.Column("task_queue", sa.String(1000), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),  # 'workflow' | 'activity'
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("scheduled_event_id", sa.Integer(), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # Flow control (migration 0025, app/engine/matching/queue_order.py): priority 1..5 first, then the
    # fairness pass (0 for queues that never saw a fairness key: FIFO by id), then id.
    sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="3"),
    sa.Column("fairness_key", sa.String(64), nullable=False, server_default=""),
    sa.Column("fairness_pass", sa.Float(), nullable=False, server_default="0"),
    sa.Column("fairness_weight", sa.Float(), nullable=False, server_default="1"),
    # Worker Versioning (migration 0028, app/engine/versioning/routing.py): the version
    # ('deployment.build_id') only whose workers may take the task (a pinned run's), and the
    # workflow id's ramp bucket in [0, 100) that routes an unpinned task at claim time.
    sa.Column("pinned_version", sa.String(512), nullable=True),
    sa.Column("ramp_bucket", sa.Float(), nullable=False, server_default="0"),
    # The claim: in (priority, pass, id) order within one queue.
    sa.Index(
        "ix_tasks_queue_order",
        "namespace_id",
        "kind",
        "task_queue",
        "priority",
        "fairness_pass",
        "id",
    ),
    sa.Index("ix_tasks_run_id", "run_id"),
)


activities = sa.Table(
    "activities",
    metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("scheduled_event_id", sa.Integer(), primary_key=True),
    sa.Column("namespace_id", sa.String(36), nullable=False),
    sa.Column("activity_id", sa.String(1000), nullable=False),
    sa.Column("activity_type", sa.String(1000), nullable=False),
    sa.Column("task_queue", sa.String(1000), nullable=False),
    sa.Column("input", sa.Text(), nullable=True),
    # 'scheduled' (waiting for a poller), 'started', or 'backoff' (waiting to retry).
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("schedule_to_close_timeout", sa.Float(), nullable=True),
    sa.Column("schedule_to_start_timeout", sa.Float(), nullable=True),
    sa.Column("start_to_close_timeout", sa.Float(), nullable=True),
    sa.Column("heartbeat_timeout", sa.Float(), nullable=True),
    sa.Column("retry_policy", sa.Text(), nullable=False),
    sa.Column("scheduled_time", UTCDateTime(), nullable=False),  # of the first attempt
    sa.Column("attempt_scheduled_time", UTCDateTime(), nullable=False),
    sa.Column("started_time", UTCDateTime(), nullable=True),
    sa.Column("started_identity", sa.String(1000), nullable=True),
    sa.Column("last_heartbeat_time", UTCDateTime(), nullable=True),
    sa.Column("heartbeat_details", sa.Text(), nullable=True),
    sa.Column("last_failure", sa.Text(), nullable=True),
    sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("cancel_requested_event_id", sa.Integer(), nullable=True),
    # W3C trace context of the request that scheduled it (tracing on), handed to its workers.
    sa.Column("traceparent", sa.String(55), nullable=True),
    # Its Priority after inheritance from the run (migration 0025): every attempt is queued
    # with it.
    sa.Column("priority_key", sa.SmallInteger(), nullable=True),
    sa.Column("fairness_key", sa.String(64), nullable=True),
    sa.Column("fairness_weight", sa.Float(), nullable=True),
    # Its own `concurrency_keys` (JSON; NULL: the run's), and whether its attempt holds,
    # reserves or waits for a concurrency slot (app/engine/concurrency_slots.py).
    sa.Column("concurrency_keys", sa.Text(), nullable=True),
    sa.Column("holds_concurrency_slot", sa.Boolean(), nullable=False, server_default=sa.false()),
    # Activity controls (migration 0019, app/engine/activity_controls.py): paused by an
    # operator (no attempt dispatched; JSON of who, why, when), and a reset asked of the
    # attempt under way (the next attempt is attempt 1).
    sa.Column("paused", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("pause_info", sa.Text(), nullable=True),
    sa.Column("reset_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Index("ix_activities_run_id_activity_id", "run_id", "activity_id", unique=True),
)


# Every deadline the engine keeps. A timer names what it is for (`kind`, `ref`, `attempt`);
# when it fires the engine checks it still applies, so a stale timer is harmless. It belongs to
# a run or (its next firing, a wake-up) to a schedule: exactly one of the two is set.
timers = sa.Table(
    "timers",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("namespace_id", sa.String(36), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=True),
    sa.Column("schedule_key", sa.String(36), nullable=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("ref", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("attempt", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("label", sa.String(1000), nullable=True),  # user timer id
    sa.Column("fire_at", UTCDateTime(), nullable=False),
    sa.Index("ix_timers_fire_at", "fire_at"),
    sa.Index("ix_timers_run_id", "run_id", "kind", "ref"),
    sa.Index("ix_timers_schedule_key", "schedule_key"),
)


# Who polled a task queue lately (written at most every few seconds per poller).
task_queue_pollers = sa.Table(
    "task_queue_pollers",
    metadata,
    sa.Column("namespace_id", sa.String(36), primary_key=True),
    sa.Column("task_queue", sa.String(1000), primary_key=True),
    sa.Column("kind", sa.String(10), primary_key=True),
    sa.Column("identity", sa.String(1000), primary_key=True),
    sa.Column("last_poll_time", UTCDateTime(), nullable=False),
    # The end of the poller's latest long poll: present until then (migration 0016).
    sa.Column("open_until", UTCDateTime(), nullable=True),
)


# -- queries (issue #4): questions to a workflow, answered by a worker of its task queue --------

# Workflow Update (app/engine/updates.py): one row per update id and run. States: admitted,
# sent (in a started workflow task), accepted, completed, rejected (kept only for the callers
# waiting on it; it counts for nothing), aborted (the run closed first), moved (continue-as-new
# carried it to `moved_to_run_id`).
workflow_updates = sa.Table(
    "workflow_updates",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("namespace_id", sa.String(36), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("workflow_id", sa.String(1000), nullable=False),
    sa.Column("update_id", sa.String(1000), nullable=False),
    sa.Column("name", sa.String(1000), nullable=False),
    sa.Column("args", sa.Text(), nullable=True),
    sa.Column("header", sa.Text(), nullable=True),
    sa.Column("identity", sa.String(1000), nullable=True),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("payload_bytes", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("sent_started_event_id", sa.Integer(), nullable=True),
    sa.Column("accepted_event_id", sa.Integer(), nullable=True),
    sa.Column("completed_event_id", sa.Integer(), nullable=True),
    sa.Column("outcome", sa.Text(), nullable=True),
    sa.Column("moved_to_run_id", sa.String(36), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("run_id", "update_id", name="ux_workflow_updates_run_id_update_id"),
    sa.Index("ix_workflow_updates_run_id_state", "run_id", "state"),
    # GET .../updates/{update_id} without a run id: the update among the workflow's runs.
    sa.Index(
        "ix_workflow_updates_namespace_id_workflow_id_update_id",
        "namespace_id",
        "workflow_id",
        "update_id",
    ),
)


query_tasks = sa.Table(
    "query_tasks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("namespace_id", sa.String(36), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("workflow_id", sa.String(1000), nullable=False),
    sa.Column("workflow_type", sa.String(1000), nullable=False),
    sa.Column("task_queue", sa.String(1000), nullable=False),
    sa.Column("query_type", sa.String(1000), nullable=False),
    sa.Column("args", sa.Text(), nullable=True),
    sa.Column("state", sa.String(10), nullable=False),  # pending, claimed, answered
    sa.Column("claimed_by", sa.String(1000), nullable=True),
    sa.Column("answer", sa.Text(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    # Worker Versioning (migration 0031): as the tasks' columns, so that a query goes only to
    # a poller that may take its run's workflow tasks (app/engine/queries.py `claim`).
    sa.Column("pinned_version", sa.String(512), nullable=True),
    sa.Column("ramp_bucket", sa.Float(), nullable=False, server_default="0"),
    # Pollers claim the oldest pending query of their queue.
    sa.Index("ix_query_tasks_queue", "namespace_id", "task_queue", "state", "created_at"),
    sa.Index("ix_query_tasks_expires_at", "expires_at"),
)
