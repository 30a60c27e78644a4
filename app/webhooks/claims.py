"""Claiming activity tasks for a webhook endpoint from the engine's task table.

The same single-winner claim a polling worker makes (SKIP LOCKED on PostgreSQL, the run
locked the engine's way), but filtered to what the endpoint serves: its task queues, or its
activity types through a join with the pending activity. The queues' rate limits bind it as
they bind polls (the limiters live in the database, so across server processes too). The
delivery's log row is written in the claim's transaction, so a started attempt always has
its delivery on record.
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
from app.engine.matching import dispatch, queue_config, queue_rates
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


def next_task_query(
    endpoint: Any, skip: list[int], held_back: list[sa.ColumnElement[bool]] | None = None
) -> sa.Select[Any]:
    """The next ready task the endpoint serves, in the claim order of polls (priority, fairness
    pass, id: ix_tasks_queue_order for queue bindings; the activities primary key for the join
    of type bindings), leaving out the tasks `held_back` names (queues or keys over their
    rate limits)."""
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
    if held_back:
        query = query.where(sa.not_(sa.or_(*held_back)))
    return query


class _RateGates:
    """The rate limits of the queues one claim met: opened once per queue and claim, as a
    poll's claim opens its queue's (app/engine/matching/queue_rates.py)."""

    def __init__(self, tx: Transition, namespace_id: str) -> None:
        self.tx = tx
        self.namespace_id = namespace_id
        self.gates: dict[str, tuple[queue_config.QueueConfig, queue_rates.Gate] | None] = {}
        self.held_back: list[sa.ColumnElement[bool]] = []
        self.wait: float | None = None  # seconds until a held-back task may go

    def _hold(self, where: sa.ColumnElement[bool], throttled: queue_rates.Throttled) -> None:
        self.held_back.append(where)
        self.wait = throttled.seconds if self.wait is None else min(self.wait, throttled.seconds)

    async def admits(self, task: Any) -> bool:
        """Whether the queue's limits let this task go now; when not, its queue (or its
        fairness key in that queue) is held back for the rest of the claim."""
        queue = task.task_queue
        if queue not in self.gates:
            config = await queue_config.cached(self.tx.conn, self.namespace_id, "activity", queue)
            if config.queue_rate is None and config.key_rate is None:
                self.gates[queue] = None
            else:
                opened = await queue_rates.open_gate(
                    self.tx, self.namespace_id, "activity", queue, config, 1
                )
                if isinstance(opened, queue_rates.Throttled):
                    self._hold(tasks.c.task_queue == queue, opened)
                    return False
                self.gates[queue] = (config, opened)
        entry = self.gates[queue]
        if entry is None:
            return True
        gate = entry[1]
        if gate.limit < 1:
            self._hold(tasks.c.task_queue == queue, queue_rates.Throttled(queue_rates.MIN_WAIT))
            return False
        if task.fairness_key in gate.excluded:
            throttled = queue_rates.throttled_for(gate) or queue_rates.Throttled(
                queue_rates.MIN_WAIT
            )
            self._hold(
                sa.and_(tasks.c.task_queue == queue, tasks.c.fairness_key.in_(gate.excluded)),
                throttled,
            )
            return False
        return True

    async def spend(self, task: Any) -> None:
        """Charge the limiters of the task's queue for its dispatch."""
        entry = self.gates.get(task.task_queue)
        if entry is None:
            return
        config, gate = entry
        await queue_rates.spend(
            self.tx,
            self.namespace_id,
            "activity",
            task.task_queue,
            config,
            gate,
            [(task.fairness_key, task.fairness_weight)],
        )
        # One dispatch per gate: the next task of this queue in the claim opens it anew.
        del self.gates[task.task_queue]

    def throttled(self) -> queue_rates.Throttled | None:
        return None if self.wait is None else queue_rates.Throttled(self.wait)


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


async def claim_for_endpoint(
    tx: Transition, endpoint: Any
) -> Claimed | queue_rates.Throttled | object | None:
    """Start the oldest task the endpoint serves and log its delivery; None when there is
    none, `dispatch.CONTENDED` when only busy runs had some, `queue_rates.Throttled` when only
    tasks its queues' rate limits hold back had some."""
    skip: list[int] = []
    contended = False
    gates = _RateGates(tx, endpoint["namespace_id"])
    for _ in range(dispatch.MAX_STALE_SKIPS):
        query = next_task_query(endpoint, skip, gates.held_back)
        if tx.is_postgres:
            query = query.with_for_update(skip_locked=True, of=tasks)
        task = (await tx.conn.execute(query)).one_or_none()
        if task is None:
            if contended:
                return dispatch.CONTENDED
            return gates.throttled()
        if not await gates.admits(task):
            continue
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
        await gates.spend(task)
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
