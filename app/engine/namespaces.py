"""What the engine owns inside a namespace, for namespace deletion."""

from __future__ import annotations

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import (
    activities,
    buffered_events,
    concurrency_limits,
    concurrency_slots,
    history_events,
    namespace_search_attributes,
    replay_check_items,
    replay_checks,
    task_queue_configs,
    task_queue_fairness,
    task_queue_key_rates,
    task_queue_pollers,
    tasks,
    timers,
    worker_deployment_task_queues,
    worker_deployment_versions,
    worker_deployments,
    workflow_runs,
    workflow_search_attributes,
    workflow_search_texts,
)
from app.engine.events import RunStatus
from app.errors import FailedPrecondition


async def refuse_if_running(conn: Connection, namespace_id: str) -> None:
    running = await conn.scalar(
        sa.select(sa.func.count()).where(
            workflow_runs.c.namespace_id == namespace_id,
            workflow_runs.c.status == RunStatus.RUNNING.value,
        )
    )
    if running:
        raise FailedPrecondition(
            f"the namespace has {running} running workflow(s); terminate them or wait for them to close",
            running_workflows=running,
        )


async def delete_engine_rows(conn: Connection, namespace_id: str) -> None:
    runs = (
        sa.select(workflow_runs.c.id)
        .where(workflow_runs.c.namespace_id == namespace_id)
        .scalar_subquery()
    )
    for table in (history_events, buffered_events, workflow_search_texts):
        await conn.execute(sa.delete(table).where(table.c.run_id.in_(runs)))
    for table in (
        activities,
        tasks,
        timers,
        workflow_search_attributes,
        task_queue_pollers,
        namespace_search_attributes,
        task_queue_configs,
        task_queue_fairness,
        task_queue_key_rates,
        concurrency_slots,
        concurrency_limits,
        worker_deployments,
        worker_deployment_versions,
        worker_deployment_task_queues,
        replay_checks,
        replay_check_items,
    ):
        await conn.execute(sa.delete(table).where(table.c.namespace_id == namespace_id))
    await conn.execute(sa.delete(workflow_runs).where(workflow_runs.c.namespace_id == namespace_id))
