"""The schema as SQLAlchemy Core tables. Alembic migrations must produce exactly this.

Every row that belongs to a tenant carries `tenant_id` (directly or through its namespace) so
that the schema can later be partitioned by namespace without changing the API.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.db.types import JSONType, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

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
    # Flow control (migration 0025, app/engine/queue_order.py): priority 1..5 first, then the
    # fairness pass (0 for queues that never saw a fairness key: FIFO by id), then id.
    sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="3"),
    sa.Column("fairness_key", sa.String(64), nullable=False, server_default=""),
    sa.Column("fairness_pass", sa.Float(), nullable=False, server_default="0"),
    sa.Column("fairness_weight", sa.Float(), nullable=False, server_default="1"),
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

# Indexed search attribute values, one row per value (a KeywordList has a row per item), in
# the order-preserving text form of app/engine/search_attribute_types.py. Byte order ("C"
# collation on PostgreSQL; SQLite's default) makes that form sort the way its type does.
SortableText = sa.String(2000).with_variant(sa.String(2000, collation="C"), "postgresql")
workflow_search_attributes = sa.Table(
    "workflow_search_attributes",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("namespace_id", sa.String(36), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("value", SortableText, nullable=False),
    # Visibility filters: equality, ranges and prefixes of one attribute, yielding run ids.
    sa.Index("ix_workflow_search_attributes_lookup", "namespace_id", "name", "value", "run_id"),
    # An upsert replaces a run's values of the names it sets.
    sa.Index("ix_workflow_search_attributes_run_id", "run_id", "name"),
)

# Values of Text attributes, matched by words: a GIN index on to_tsvector('simple', value) on
# PostgreSQL; on SQLite the FTS5 table `workflow_search_texts_fts` (kept by triggers), both
# made by migration 0011.
workflow_search_texts = sa.Table(
    "workflow_search_texts",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("namespace_id", sa.String(36), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("value", sa.Text(), nullable=False),
    sa.Index("ix_workflow_search_texts_run_id", "run_id", "name"),
    sa.Index(
        "ix_workflow_search_texts_words",
        sa.text("to_tsvector('simple'::regconfig, value)"),
        postgresql_using="gin",
    ).ddl_if(dialect="postgresql"),
)
SQLITE_FTS_TABLE = "workflow_search_texts_fts"


def is_model_object(name: str | None, type_: str, parent_names: object) -> bool:
    """Whether a schema object is described here (Alembic's `include_name`): SQLite's FTS5
    table and the shadow tables it makes for itself belong to migration 0011 alone."""
    return not (type_ == "table" and (name or "").startswith(SQLITE_FTS_TABLE))


# The custom search attributes a namespace registered, with their types (Temporal's
# AddSearchAttributes). System and predefined attributes are not stored: see
# app/engine/search_attribute_types.py.
namespace_search_attributes = sa.Table(
    "namespace_search_attributes",
    metadata,
    sa.Column("namespace_id", sa.String(36), sa.ForeignKey("namespaces.id"), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
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


# ---------------------------------------------------------------------------------------------
# Stored definitions (Amazon States Language): immutable numbered versions per name, and the
# version each run is pinned to for its whole life.
# ---------------------------------------------------------------------------------------------

definitions = sa.Table(
    "definitions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("namespace_id", sa.String(36), sa.ForeignKey("namespaces.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("language", sa.String(20), nullable=False),
    sa.Column("document", sa.Text(), nullable=False),  # canonical JSON text
    sa.Column("digest", sa.String(64), nullable=False),  # SHA-256 of `document`
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # Serves "latest version of a name" (ORDER BY version DESC LIMIT 1) and the list by name.
    sa.UniqueConstraint("namespace_id", "name", "version"),
)

definition_runs = sa.Table(
    "definition_runs",
    metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("namespace_id", sa.String(36), nullable=False),
    sa.Column("definition_id", sa.String(36), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    # The alias the run was started through (Step Functions' StartExecution by alias ARN).
    sa.Column("alias", sa.String(80), nullable=True),
    # Serves the "open runs of this definition?" check before a delete.
    sa.Index("ix_definition_runs_namespace_id_name", "namespace_id", "name"),
)

# Step Functions' aliases: an alias of a definition name routes new runs to one version, or to
# two by integer weights summing to 100 (`routing`: JSON `[{"version", "weight"}]`).
definition_aliases = sa.Table(
    "definition_aliases",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("namespace_id", sa.String(36), sa.ForeignKey("namespaces.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("alias", sa.String(80), nullable=False),
    sa.Column("routing", sa.Text(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # Serves a start by alias and the list of a name's aliases.
    sa.UniqueConstraint("namespace_id", "name", "alias"),
)


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
    # Pollers claim the oldest pending query of their queue.
    sa.Index("ix_query_tasks_queue", "namespace_id", "task_queue", "state", "created_at"),
    sa.Index("ix_query_tasks_expires_at", "expires_at"),
)


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

# -- batch operations (issue #16): one action on every run a visibility query matches --------

batch_operations = sa.Table(
    "batch_operations",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("namespace_id", sa.String(36), sa.ForeignKey("namespaces.id"), nullable=False),
    sa.Column("job_id", sa.String(200), nullable=False),
    sa.Column("operation_type", sa.String(32), nullable=False),  # SIGNAL, CANCEL, ...
    sa.Column("query", sa.Text(), nullable=False),
    sa.Column("signal_name", sa.String(1000), nullable=True),
    sa.Column("input", sa.Text(), nullable=True),  # JSON text of the signal input
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("identity", sa.String(1000), nullable=True),
    sa.Column("max_per_second", sa.Float(), nullable=False),
    # RUNNING, COMPLETED, STOPPED or FAILED.
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("total", sa.Integer(), nullable=False),
    sa.Column("completed", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("failed", sa.Integer(), nullable=False, server_default="0"),
    # Runs started up to this time are in scope; later ones are not (the job's snapshot).
    sa.Column("started_before", UTCDateTime(), nullable=False),
    # The last run acted on, in (start_time, run id) order: the job resumes after it.
    sa.Column("cursor_start_time", UTCDateTime(), nullable=True),
    sa.Column("cursor_run_id", sa.String(36), nullable=True),
    # Which loop works the job, until when (renewed with every run it acts on).
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
    sa.Column("stop_reason", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("closed_at", UTCDateTime(), nullable=True),
    # JSON of a RESET's target and reapply options, or an activity operation's (migration 0019).
    sa.Column("options", sa.Text(), nullable=True),
    sa.UniqueConstraint("namespace_id", "job_id"),
    # The namespace's list, newest first.
    sa.Index("ix_batch_operations_namespace_id_created_at", "namespace_id", "created_at", "id"),
    # Loops look for running jobs whose lease is free.
    sa.Index("ix_batch_operations_state", "state", "lease_expires_at"),
)

# What a job did to each run, written in the transaction of the action itself: a run is acted
# on at most once per job, and a failure is kept with its reason.
batch_operation_runs = sa.Table(
    "batch_operation_runs",
    metadata,
    sa.Column("operation_id", sa.String(36), primary_key=True),
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("workflow_id", sa.String(1000), nullable=False),
    sa.Column("outcome", sa.String(10), nullable=False),  # 'completed' | 'failed'
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Index("ix_batch_operation_runs_outcome", "operation_id", "outcome", "at"),
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


# -- flow control (issue #25): per-queue configuration and fairness state ------------------------

# Temporal's TaskQueueConfig, per queue and task kind: rate limits with who set them, when and
# why, and fairness weight overrides; `rate_next_at` is the queue's rate limiter (GCRA: the
# earliest time the next dispatch conforms).
task_queue_configs = sa.Table(
    "task_queue_configs",
    metadata,
    sa.Column("namespace_id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(10), primary_key=True),
    sa.Column("task_queue", sa.String(1000), primary_key=True),
    sa.Column("queue_rate_limit", JSONType, nullable=True),
    sa.Column("key_rate_limit_default", JSONType, nullable=True),
    sa.Column("fairness_weight_overrides", JSONType, nullable=False),
    sa.Column("rate_next_at", sa.Float(), nullable=False, server_default="0"),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# Fairness keys of a queue: each key's pass per priority (stride scheduling: a key's tasks
# are numbered 1/weight apart, starting no earlier than the queue's backlog) and each key's
# rate limiter. Rows exist only for queues that have seen a fairness key or a key rate limit.
task_queue_fairness = sa.Table(
    "task_queue_fairness",
    metadata,
    sa.Column("namespace_id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(10), primary_key=True),
    sa.Column("task_queue", sa.String(1000), primary_key=True),
    sa.Column("priority", sa.SmallInteger(), primary_key=True),
    sa.Column("fairness_key", sa.String(64), primary_key=True),
    sa.Column("fairness_pass", sa.Float(), nullable=False),
    # A new key starts at the highest pass of its priority when the backlog is empty.
    sa.Index(
        "ix_task_queue_fairness_pass",
        "namespace_id",
        "kind",
        "task_queue",
        "priority",
        "fairness_pass",
    ),
)

task_queue_key_rates = sa.Table(
    "task_queue_key_rates",
    metadata,
    sa.Column("namespace_id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(10), primary_key=True),
    sa.Column("task_queue", sa.String(1000), primary_key=True),
    sa.Column("fairness_key", sa.String(64), primary_key=True),
    sa.Column("rate_next_at", sa.Float(), nullable=False),
)

# Per-key concurrency limits (Hatchet's strategies): at most `max_running` activity attempts in
# workers' hands, or open runs, per value of `key`.
concurrency_limits = sa.Table(
    "concurrency_limits",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("namespace_id", sa.String(36), sa.ForeignKey("namespaces.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("applies_to", sa.String(10), nullable=False),  # 'activities' | 'workflows'
    sa.Column("key", sa.String(300), nullable=False),
    sa.Column("max_running", sa.Integer(), nullable=False),
    sa.Column("strategy", sa.String(24), nullable=False),
    sa.Column("paused", sa.Boolean(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("namespace_id", "name"),
)

# Who holds a limit's slots ('running'; 'reserved' for a task handed back to its queue until
# a poller claims it) and who waits for one ('waiting', oldest first), per key value. An
# activity's row names its attempt; a run's has scheduled_event_id 0. A waiting activity's
# task is kept in `task` (JSON of its tasks row) until a slot frees.
concurrency_slots = sa.Table(
    "concurrency_slots",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("namespace_id", sa.String(36), nullable=False),
    sa.Column("limit_id", sa.String(36), nullable=False),
    sa.Column("key_value", sa.String(1000), nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("scheduled_event_id", sa.Integer(), nullable=False),
    sa.Column("task", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_concurrency_slots_value", "limit_id", "key_value", "state", "id"),
    sa.Index("ix_concurrency_slots_run_id", "run_id", "scheduled_event_id"),
)
