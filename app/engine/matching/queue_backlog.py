"""A queue's backlog as flow control sees it: counts by priority and the largest fairness keys,
per task kind (the `backlog_by_priority` and `top_fairness_keys` of a task-queue describe)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import tasks

TOP_KEYS = 10  # Temporal's describe lists this many fairness keys


async def describe(conn: Connection, namespace_id: str, task_queue: str) -> dict[str, Any]:
    """`{"backlog_by_priority": {kind: {"1": n, …}}, "top_fairness_keys": {kind: [{key,
    backlog}, …]}}` for kinds `workflow` and `activity`; priorities without tasks are left out,
    and unkeyed tasks count under the key "". Reads served by ix_tasks_queue_order."""
    by_priority: dict[str, dict[str, int]] = {"workflow": {}, "activity": {}}
    top_keys: dict[str, list[dict[str, Any]]] = {"workflow": [], "activity": []}
    for kind in by_priority:
        where = (
            tasks.c.namespace_id == namespace_id,
            tasks.c.kind == kind,
            tasks.c.task_queue == task_queue,
        )
        for level, count in await conn.execute(
            sa.select(tasks.c.priority, sa.func.count())
            .where(*where)
            .group_by(tasks.c.priority)
            .order_by(tasks.c.priority)
        ):
            by_priority[kind][str(level)] = count
        backlog = sa.func.count().label("backlog")
        top_keys[kind] = [
            {"key": key, "backlog": count}
            for key, count in await conn.execute(
                sa.select(tasks.c.fairness_key, backlog)
                .where(*where)
                .group_by(tasks.c.fairness_key)
                .order_by(backlog.desc(), tasks.c.fairness_key)
                .limit(TOP_KEYS)
            )
        ]
    return {"backlog_by_priority": by_priority, "top_fairness_keys": top_keys}
