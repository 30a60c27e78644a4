"""Flow control in task queues: per-queue configuration, fairness state, per-key rate
limiters, per-key concurrency limits and the slots they hand out."""

from __future__ import annotations

import sqlalchemy as sa

from app.db.tables.base import metadata
from app.db.types import JSONType, UTCDateTime

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
