"""The schema as SQLAlchemy Core tables, one module per part of the server; Alembic migrations
must produce exactly this (tests/db/test_migrations.py).

Every row that belongs to a tenant carries `tenant_id` (directly or through its namespace) so
that the schema can later be partitioned by namespace without changing the API.
"""

from __future__ import annotations

from app.db.tables.base import metadata
from app.db.tables.definitions import (
    definition_aliases,
    definition_runs,
    definitions,
)
from app.db.tables.flow import (
    concurrency_limits,
    concurrency_slots,
    task_queue_configs,
    task_queue_fairness,
    task_queue_key_rates,
)
from app.db.tables.replay_checks import replay_check_items, replay_checks
from app.db.tables.runs import (
    activities,
    buffered_events,
    history_events,
    idempotency_keys,
    query_tasks,
    task_queue_pollers,
    tasks,
    timers,
    workflow_runs,
    workflow_updates,
)
from app.db.tables.schedules import (
    schedule_actions,
    schedules,
)
from app.db.tables.tenancy import (
    api_keys,
    console_sessions,
    console_sign_ins,
    namespaces,
    tenants,
)
from app.db.tables.versioning import (
    worker_deployment_task_queues,
    worker_deployment_versions,
    worker_deployments,
)
from app.db.tables.visibility import (
    SQLITE_FTS_TABLE,
    batch_operation_runs,
    batch_operations,
    is_model_object,
    namespace_search_attributes,
    workflow_search_attributes,
    workflow_search_texts,
)
from app.db.tables.webhooks import (
    webhook_deliveries,
    webhook_endpoints,
)

__all__ = [
    "metadata",
    "worker_deployments",
    "worker_deployment_versions",
    "worker_deployment_task_queues",
    "replay_checks",
    "replay_check_items",
    "tenants",
    "namespaces",
    "api_keys",
    "console_sessions",
    "console_sign_ins",
    "workflow_runs",
    "idempotency_keys",
    "history_events",
    "buffered_events",
    "tasks",
    "activities",
    "timers",
    "task_queue_pollers",
    "workflow_updates",
    "query_tasks",
    "workflow_search_attributes",
    "workflow_search_texts",
    "SQLITE_FTS_TABLE",
    "is_model_object",
    "namespace_search_attributes",
    "batch_operations",
    "batch_operation_runs",
    "definitions",
    "definition_runs",
    "definition_aliases",
    "webhook_endpoints",
    "webhook_deliveries",
    "schedules",
    "schedule_actions",
    "task_queue_configs",
    "task_queue_fairness",
    "task_queue_key_rates",
    "concurrency_limits",
    "concurrency_slots",
]
