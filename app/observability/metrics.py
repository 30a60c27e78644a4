"""The engine's Prometheus metrics, named after Temporal's where Temporal has one
(`workflow_*`, `*_schedule_to_start_latency`, `approximate_backlog_count`, pollers).

Transitions note what happened (`Transition.observe`); the engine applies the notes after
commit, so a rolled-back or retried transition counts nothing twice. A `namespace` label
("tenant/namespace") is given to at most PERDURE_METRICS_MAX_NAMESPACES namespaces per process;
the rest share the label "_other", so a tenant with many namespaces cannot blow up the series.

With PERDURE_WORKERS > 1, `perdure serve` sets PROMETHEUS_MULTIPROC_DIR for its processes and
/metrics sums them (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    multiprocess,
)

OTHER = "_other"
# The backlog gauge counts at most this many tasks per kind, so a scrape stays cheap.
BACKLOG_COUNT_CAP = 100_000
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
# (name, labels, value): what a transition observed, applied after it commits.
Observation = tuple[str, tuple[str, ...], float]
NamespaceNames = Callable[[str], Awaitable[str | None]]


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class EngineMetrics:
    def __init__(self, registry: CollectorRegistry, max_namespaces: int) -> None:
        self.max_namespaces = max_namespaces
        self._labels: dict[str, str] = {}
        self.workflow_started = Counter(
            "perdure_workflow_started",
            "Workflow runs started (Temporal: workflow started)",
            ["namespace"],
            registry=registry,
        )
        self.workflow_closed = Counter(
            "perdure_workflow_closed",
            "Workflow runs closed, by status (Temporal: workflow_success, workflow_failed, ...)",
            ["namespace", "status"],
            registry=registry,
        )
        self.workflow_task_schedule_to_start = Histogram(
            "perdure_workflow_task_schedule_to_start_latency_seconds",
            "From a workflow task's scheduling to a poller taking it from the queue",
            ["namespace"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.activity_schedule_to_start = Histogram(
            "perdure_activity_schedule_to_start_latency_seconds",
            "From an activity attempt's scheduling to a worker or webhook taking it",
            ["namespace"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.timers_fired = Counter(
            "perdure_timers_fired",
            "Deadlines fired by the deadline loop, by kind (user timers, timeouts, retries)",
            ["kind"],
            registry=registry,
        )
        self.timer_lateness = Histogram(
            "perdure_timer_lateness_seconds",
            "How long after its due time a deadline fired",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.webhook_deliveries = Counter(
            "perdure_webhook_deliveries",
            "Webhook activity deliveries, by outcome",
            ["outcome"],
            registry=registry,
        )
        self.webhook_latency = Histogram(
            "perdure_webhook_delivery_latency_seconds",
            "Time for a webhook receiver to answer",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.poll_looks = Counter(
            "perdure_poll_looks",
            "Database looks made for long polls, by outcome: `claimed` (a claim took a task), "
            "`empty_claim` (a claim transaction found nothing: wasted work), `empty_look` (a "
            "read of the backlog found nothing), `contended` (the task's run was busy). "
            "Temporal: poll_success; its pollers never look without a task.",
            ["namespace", "kind", "outcome"],
            registry=registry,
        )
        self.transition_retries = Counter(
            "perdure_transition_retries",
            "Transitions retried after a deadlock or serialization failure, by SQLSTATE",
            ["sqlstate"],
            registry=registry,
        )
        mode: dict[str, Any] = {"multiprocess_mode": "livesum"}
        self.pollers = Gauge(
            "perdure_pollers",
            "Long polls waiting in this process now, by task kind (Temporal: pollers)",
            ["kind"],
            registry=registry,
            **mode,
        )
        self.approximate_backlog = Gauge(
            "perdure_approximate_backlog_count",
            f"Tasks waiting in task queues for a poller (all namespaces, counted up to {BACKLOG_COUNT_CAP}), by kind",
            ["kind"],
            registry=registry,
            multiprocess_mode="max",  # every process reads the same table
        )
        self.db_connections_in_use = Gauge(
            "perdure_db_connections_in_use",
            "Database connections checked out of this process's pool",
            registry=registry,
            **mode,
        )
        if multiprocess_dir() is None:
            ProcessCollector(registry=registry)

    async def namespace_label(self, namespace_id: str, names: NamespaceNames) -> str:
        label = self._labels.get(namespace_id)
        if label is not None:
            return label
        if len(self._labels) >= self.max_namespaces:
            return OTHER
        label = await names(namespace_id) or OTHER
        self._labels[namespace_id] = label
        return label

    async def apply(self, observations: list[Observation], names: NamespaceNames) -> None:
        """Record what a committed transition observed. Label tuples start with a namespace
        id where the metric has a `namespace` label."""
        for name, labels, value in observations:
            metric = getattr(self, name)
            if name in NAMESPACED:
                labels = (await self.namespace_label(labels[0], names), *labels[1:])
            if isinstance(metric, Counter):
                metric.labels(*labels).inc(value)
            else:
                metric.labels(*labels).observe(value)


NAMESPACED = {
    "poll_looks",
    "workflow_started",
    "workflow_closed",
    "workflow_task_schedule_to_start",
    "activity_schedule_to_start",
}


def scrape_registry(own: CollectorRegistry) -> CollectorRegistry:
    """What /metrics renders: this process's registry, or every process's in multiprocess mode."""
    directory = multiprocess_dir()
    if directory is None:
        return own
    combined = CollectorRegistry()
    multiprocess.MultiProcessCollector(combined, path=directory)
    return combined


async def refresh_gauges(metrics: EngineMetrics, db: Any, queue_waiters: dict[str, int]) -> None:
    """Set the gauges a scrape reads from process state and the database."""
    import sqlalchemy as sa

    from app.db.tables import tasks

    for kind in ("workflow", "activity"):
        metrics.pollers.labels(kind).set(queue_waiters.get(kind, 0))
    metrics.db_connections_in_use.set(db.connections_in_use())
    async with db.read() as conn:
        for kind in ("workflow", "activity"):
            capped = (
                sa.select(tasks.c.id).where(tasks.c.kind == kind).limit(BACKLOG_COUNT_CAP)
            ).subquery()
            count = await conn.scalar(sa.select(sa.func.count()).select_from(capped))
            metrics.approximate_backlog.labels(kind).set(count or 0)
