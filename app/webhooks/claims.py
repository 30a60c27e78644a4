"""Claiming activity tasks for a webhook endpoint from the engine's task table.

The same single-winner claim a polling worker makes (SKIP LOCKED on PostgreSQL, the run
locked the engine's way), but filtered to what the endpoint serves: its task queues, or its
activity types through a join with the pending activity. The delivery's log row is written
in the claim's transaction, so a started attempt always has its delivery on record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from app.db.tables import activities as activities_table
from app.db.tables import tasks, webhook_deliveries
from app.engine import activities
from app.engine.matching import dispatch
from app.engine.matching.dispatch import lock_run  # the engine's own run lock keeps its lock order
from app.engine.transition import Transition
from app.ids import new_id


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery_id: str
    message_id: str
    task_token: str
    task_queue: str
    body: bytes
    deadline: datetime | None  # when the attempt times out
    traceparent: str | None = None  # W3C trace context the receiver may continue


def next_task_query(endpoint: Any, skip: list[int]) -> sa.Select[Any]:
    """The next ready task the endpoint serves, in the claim order of polls (priority, fairness
    pass, id: ix_tasks_queue_order for queue bindings; the activities primary key for the join
    of type bindings)."""
    serves = []
    if endpoint["task_queues"]:
        serves.append(tasks.c.task_queue.in_(endpoint["task_queues"]))
    if endpoint["activity_types"]:
        serves.append(activities_table.c.activity_type.in_(endpoint["activity_types"]))
    source: sa.FromClause = tasks
    if endpoint["activity_types"]:
        source = tasks.join(
            activities_table,
            sa.and_(
                activities_table.c.run_id == tasks.c.run_id,
                activities_table.c.scheduled_event_id == tasks.c.scheduled_event_id,
            ),
        )
    query = (
        sa.select(tasks)
        .select_from(source)
        .where(
            tasks.c.namespace_id == endpoint["namespace_id"],
            tasks.c.kind == "activity",
            sa.or_(*serves),
            # A pinned run's activity goes only to its version's polling workers
            # (app/engine/versioning/routing.py): never to an endpoint.
            tasks.c.pinned_version.is_(None),
        )
        .order_by(*dispatch.CLAIM_ORDER)
        .limit(1)
    )
    if skip:
        query = query.where(tasks.c.id.not_in(skip))
    return query


def attempt_deadline(activity: Any, started_at: datetime) -> datetime | None:
    """When the started attempt times out: start-to-close, or schedule-to-close if sooner."""
    candidates = []
    if activity["start_to_close_timeout"]:
        candidates.append(started_at + timedelta(seconds=activity["start_to_close_timeout"]))
    if activity["schedule_to_close_timeout"]:
        candidates.append(
            activity["scheduled_time"] + timedelta(seconds=activity["schedule_to_close_timeout"])
        )
    return min(candidates) if candidates else None


async def claim_for_endpoint(tx: Transition, endpoint: Any) -> Claimed | object | None:
    """Start the oldest task the endpoint serves and log its delivery; None when there is
    none, `dispatch.CONTENDED` when only busy runs had some."""
    skip: list[int] = []
    contended = False
    for _ in range(dispatch.MAX_STALE_SKIPS):
        query = next_task_query(endpoint, skip)
        if tx.is_postgres:
            query = query.with_for_update(skip_locked=True, of=tasks)
        task = (await tx.conn.execute(query)).one_or_none()
        if task is None:
            return dispatch.CONTENDED if contended else None
        run = await lock_run(tx, task.run_id)
        if run is None:
            skip.append(task.id)
            contended = True
            continue
        await tx.conn.execute(sa.delete(tasks).where(tasks.c.id == task.id))
        if not run.is_open:
            continue
        activity = await activities.get(tx, run.id, task.scheduled_event_id)
        if (
            activity is None
            or activity["state"] != "scheduled"
            or activity["attempt"] != task.attempt
        ):
            continue
        if not await dispatch.admit_activity(tx, run, activity, task):
            continue  # waits for a concurrency slot, or refused by one
        claim = await dispatch.start_activity_task(tx, run, activity, f"webhook:{endpoint['name']}")
        deadline = attempt_deadline(activity, tx.now)
        payload = {**claim.body, "namespace": endpoint["namespace_name"], "deadline": deadline}
        return await log_delivery(tx, endpoint, payload, message_id=None, deadline=deadline)
    return dispatch.CONTENDED


async def log_delivery(
    tx: Transition,
    endpoint: Any,
    payload: dict[str, Any],
    *,
    message_id: str | None,
    deadline: datetime | None,
) -> Claimed:
    # Deliveries of earlier attempts still in flight belong to a server that died mid-send:
    # their attempts are over (timed out), so the log says so instead of waiting forever.
    await tx.conn.execute(
        sa.update(webhook_deliveries)
        .where(
            webhook_deliveries.c.run_id == payload["run_id"],
            webhook_deliveries.c.scheduled_event_id == payload["scheduled_event_id"],
            webhook_deliveries.c.attempt < payload["attempt"],
            webhook_deliveries.c.state == "in_flight",
        )
        .values(
            state="abandoned",
            finished_at=tx.now,
            error="the server stopped before the answer was recorded; the attempt timed out",
        )
    )
    body = orjson.dumps(payload, option=orjson.OPT_UTC_Z)
    delivery_id = new_id()
    message_id = message_id or "msg_" + delivery_id.replace("-", "")
    await tx.conn.execute(
        sa.insert(webhook_deliveries),
        {
            "id": delivery_id,
            "namespace_id": endpoint["namespace_id"],
            "endpoint_id": endpoint["id"],
            "message_id": message_id,
            "run_id": payload["run_id"],
            "workflow_id": payload["workflow_id"],
            "scheduled_event_id": payload["scheduled_event_id"],
            "activity_id": payload["activity_id"],
            "activity_type": payload["activity_type"],
            "attempt": payload["attempt"],
            "request_body": body.decode(),
            "state": "in_flight",
            "started_at": tx.now,
        },
    )
    return Claimed(
        delivery_id=delivery_id,
        message_id=message_id,
        task_token=payload["task_token"],
        task_queue=payload["task_queue"],
        body=body,
        deadline=deadline,
        traceparent=payload.get("traceparent"),
    )
