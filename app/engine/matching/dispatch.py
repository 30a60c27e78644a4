"""Handing tasks to pollers: single-winner claims, and what a claimed task carries.

A claim deletes the ready task and marks the workflow task or activity attempt started in
the same transaction. On PostgreSQL the task row is taken with SKIP LOCKED and the run with
SKIP LOCKED too: a run busy in another transition is skipped for a moment rather than waited
for, which keeps the lock order (run, then its rows) of every other transition deadlock-free.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection, Row
from app.db.hot import hot
from app.db.tables import tasks, workflow_runs
from app.engine import activities, concurrency_slots, updates, workflow_tasks
from app.engine.matching import queue_config, queue_rates
from app.engine.payloads import load
from app.engine.tokens import TaskToken
from app.engine.transition import Run, Transition
from app.engine.versioning import routing
from app.engine.versioning import runs as versioning_runs

# The metric that times a task's wait in its queue, by task kind.
SCHEDULE_TO_START = {
    "workflow": "workflow_task_schedule_to_start",
    "activity": "activity_schedule_to_start",
}
CONTENDED = object()  # a task was there but its run was busy: look again very soon
MAX_STALE_SKIPS = 20


@dataclass
class WorkflowTaskClaim:
    token: str
    namespace_id: str
    run_id: str
    workflow_id: str
    workflow_type: str
    task_queue: str
    attempt: int
    scheduled_event_id: int
    started_event_id: int
    previous_started_event_id: int
    # Its run's history up to started_event_id when the claiming transition knows all of it
    # (a run it started: the eager first task), as Transition.new_run_history gives it.
    history: list[dict[str, Any]] | None = None
    # Workflow Update: the Request messages the task carries, and, for a speculative task,
    # its scheduled and started events (not written, shown to the worker all the same).
    messages: list[dict[str, Any]] = field(default_factory=list)
    speculative_events: list[dict[str, Any]] = field(default_factory=list)
    speculative_nonce: int = 0
    # Worker Versioning: the run is pinned and its deployment now routes it to another
    # version (Temporal's target_worker_deployment_version_changed).
    target_version_changed: bool = False


@dataclass
class ActivityTaskClaim:
    body: dict[str, Any]


def queue_tasks_filter(table: sa.FromClause, routed: bool = False) -> list[sa.ColumnElement[bool]]:
    """The claim's WHERE clause: the tasks of one queue (`:namespace_id`, `:kind`,
    `:task_queue`) in `table` (the tasks table or an alias of it); `routed` adds the version
    filter of a deployment's queue (app/engine/versioning/routing.py `Route.params`). Every
    statement that looks at a queue's backlog for a claim is built from this one place, so
    the claim, its look-ahead and the backlog look agree on which tasks a poller may take."""
    where = [
        table.c.namespace_id == sa.bindparam("namespace_id"),
        table.c.kind == sa.bindparam("kind"),
        table.c.task_queue == sa.bindparam("task_queue"),
    ]
    if routed:
        where.append(routing.routed_filter(table))
    return where


# The claim order: priority (1 first), then fairness pass (app/engine/matching/queue_order.py), then
# id; ix_tasks_queue_order serves it. A queue without priorities or fairness keys has every
# task at (3, 0.0), so this is FIFO by id as before, from the same index.
CLAIM_ORDER = (tasks.c.priority, tasks.c.fairness_pass, tasks.c.id)

# A queue's next tasks in claim order, each with whether another one waits behind it (`later`:
# read, never locked, so a concurrent claimer on PostgreSQL is not kept from it by SKIP LOCKED).
_behind = tasks.alias("behind")


def _next_tasks_statement(routed: bool) -> sa.Select[Any]:
    return (
        sa.select(
            *tasks.c,
            sa.exists()
            .where(
                *queue_tasks_filter(_behind, routed),
                sa.tuple_(_behind.c.priority, _behind.c.fairness_pass, _behind.c.id)
                > sa.tuple_(*CLAIM_ORDER),
            )
            .label("later"),
        )
        .where(*queue_tasks_filter(tasks, routed))
        .order_by(*CLAIM_ORDER)
        .limit(sa.bindparam("limit"))
    )


NEXT_TASKS: sa.Select[Any] = hot(_next_tasks_statement(routed=False))
NEXT_TASKS_LOCKED = hot(NEXT_TASKS.with_for_update(of=tasks, skip_locked=True))
# The same on a deployment's queue, with the version filter of the poller's Route.
NEXT_ROUTED_TASKS: sa.Select[Any] = hot(_next_tasks_statement(routed=True))
NEXT_ROUTED_TASKS_LOCKED = hot(NEXT_ROUTED_TASKS.with_for_update(of=tasks, skip_locked=True))
# lock_run's: the run, unless another transaction holds it; and whether it exists at all.
SELECT_RUN_SKIP_LOCKED = hot(
    sa.select(workflow_runs)
    .where(workflow_runs.c.id == sa.bindparam("run_id"))
    .with_for_update(skip_locked=True)
)
RUN_EXISTS = hot(sa.select(workflow_runs.c.id).where(workflow_runs.c.id == sa.bindparam("run_id")))
DELETE_WORKFLOW_TASKS_OF_RUN = hot(
    sa.delete(tasks).where(tasks.c.run_id == sa.bindparam("run_id"), tasks.c.kind == "workflow")
)
DELETE_TASK = hot(sa.delete(tasks).where(tasks.c.id == sa.bindparam("task_id")))
ANY_TASK = hot(sa.select(tasks.c.id).where(*queue_tasks_filter(tasks)).limit(1))
ANY_ROUTED_TASK = hot(sa.select(tasks.c.id).where(*queue_tasks_filter(tasks, True)).limit(1))


async def has_backlog(
    conn: Connection,
    namespace_id: str,
    kind: str,
    task_queue: str,
    route: routing.Route | None = None,
) -> bool:
    """Whether the queue's backlog holds a task the poller may take (`route`: its version
    filter, None for an unversioned queue) — a read: the look an idle poll makes before it
    would run a claim transaction."""
    params = {"namespace_id": namespace_id, "kind": kind, "task_queue": task_queue}
    if route is None:
        found = await conn.execute(ANY_TASK, params)
    else:
        found = await conn.execute(ANY_ROUTED_TASK, {**params, **route.params()})
    return found.first() is not None


async def _next_tasks(
    tx: Transition,
    namespace_id: str,
    kind: str,
    task_queue: str,
    skip: list[int],
    limit: int,
    excluded_keys: list[str],
    route: routing.Route | None,
) -> list[Row]:
    params = {"namespace_id": namespace_id, "kind": kind, "task_queue": task_queue, "limit": limit}
    if route is not None:
        params.update(route.params())
    if skip or excluded_keys:  # after a stale or busy task, or keys over their rate: built
        query = NEXT_TASKS if route is None else NEXT_ROUTED_TASKS
        if skip:
            query = query.where(tasks.c.id.not_in(skip))
        if excluded_keys:
            query = query.where(tasks.c.fairness_key.not_in(excluded_keys))
        if tx.is_postgres:
            query = query.with_for_update(of=tasks, skip_locked=True)
    elif route is None:
        query = NEXT_TASKS_LOCKED if tx.is_postgres else NEXT_TASKS
    else:
        query = NEXT_ROUTED_TASKS_LOCKED if tx.is_postgres else NEXT_ROUTED_TASKS
    found = await tx.conn.execute(query, params)
    return list(found.all())


async def lock_run(tx: Transition, run_id: str) -> Run | None:
    """The run, or None when another transaction holds it (PostgreSQL only). Every claimer of
    ready tasks (pollers, webhook deliveries) locks runs through here, after the task row."""
    if not tx.is_postgres or run_id in tx.runs:
        return await tx.run(run_id)
    params = {"run_id": run_id}
    row = (await tx.conn.execute(SELECT_RUN_SKIP_LOCKED, params)).mappings().one_or_none()
    if row is None:
        if await tx.conn.scalar(RUN_EXISTS, params) is None:
            return await tx.run(run_id)  # gone: let tx.run report it
        return None
    return await tx.adopt_run(dict(row))


async def _claim(
    tx: Transition,
    namespace_id: str,
    kind: str,
    task_queue: str,
    take: Callable[[Run, Row], Awaitable[Any | None]],
    limit: int = 1,
    read_ahead: Callable[[Row], None] | None = None,
    poller: tuple[str, str] | None = None,
) -> list[Any] | object:
    """Up to `limit` of the queue's oldest tasks whose runs can take them now. Stale tasks (the
    run closed or moved on) are dropped on the way; a run busy in another transaction is
    skipped, and CONTENDED (when nothing was claimed) tells the poller to look again soon.
    `read_ahead(task)` names what `take` will read, to send with the run's lock. `poller` is
    the poller's version (deployment name, build id), None when unversioned: on a
    deployment's queue it takes only the tasks routed to it (app/engine/versioning/routing.py;
    an unversioned queue costs one cached look, no statement)."""
    route = await routing.route_for(tx.conn, namespace_id, kind, task_queue, poller)
    claims: list[Any] = []
    skip: list[int] = []
    contended = False
    # Rate limits (app/engine/matching/queue_rates.py) only for queues that have them: the claim of a
    # queue without runs no statement more than before (the configuration is cached).
    config = await queue_config.cached(tx.conn, namespace_id, kind, task_queue)
    gate: queue_rates.Gate | None = None
    taken: list[tuple[str, float]] = []
    if config.queue_rate is not None or config.key_rate is not None:
        opened = await queue_rates.open_gate(tx, namespace_id, kind, task_queue, config, limit)
        if isinstance(opened, queue_rates.Throttled):
            return opened
        gate, limit = opened, opened.limit
    excluded = gate.excluded if gate is not None else []
    for _ in range(MAX_STALE_SKIPS):
        wanted = limit - len(claims)
        found = await _next_tasks(tx, namespace_id, kind, task_queue, skip, wanted, excluded, route)
        # Whether the backlog holds more than this claim takes (tx.more_ready).
        tx.more_ready = len(found) == wanted and bool(found[-1].later)
        for task in found:
            if read_ahead is not None:
                read_ahead(task)
            run = await lock_run(tx, task.run_id)
            if run is None:
                skip.append(task.id)
                contended = True
                continue
            await tx.conn.execute(DELETE_TASK, {"task_id": task.id})
            if run.is_open and (claim := await take(run, task)) is not None:
                claims.append(claim)
                taken.append((task.fairness_key, task.fairness_weight))
                tx.observe(
                    SCHEDULE_TO_START[kind],
                    (namespace_id,),
                    max(0.0, (tx.now - task.created_at).total_seconds()),
                )
        if len(claims) >= limit or not tx.more_ready:
            break  # enough, or the queue has no more
    if gate is not None:
        await queue_rates.spend(tx, namespace_id, kind, task_queue, config, gate, taken)
        if not claims and (throttled := queue_rates.throttled_for(gate)) is not None:
            if await has_backlog(tx.conn, namespace_id, kind, task_queue, route):
                return throttled
    if not claims and (contended or tx.more_ready):
        # A busy run's task, or more tasks after MAX_STALE_SKIPS looks that all went to
        # concurrency waits (or were stale): look again soon instead of idling with a backlog.
        return CONTENDED
    if (
        not claims
        and tx.is_postgres
        and await has_backlog(tx.conn, namespace_id, kind, task_queue, route)
    ):
        # SKIP LOCKED saw nothing, yet tasks are there: other claimers hold them right now.
        # Should one of them give a task up (its run is busy), this poller, which was offered
        # a task, must still be there to take it.
        return CONTENDED
    return claims


async def _claim_one(
    tx: Transition,
    namespace_id: str,
    kind: str,
    task_queue: str,
    take: Callable[[Run, Row], Awaitable[Any | None]],
    poller: tuple[str, str] | None = None,
) -> Any:
    claims = await _claim(tx, namespace_id, kind, task_queue, take, poller=poller)
    if not isinstance(claims, list):
        return claims  # CONTENDED
    return claims[0] if claims else None


async def claim_workflow_task(
    tx: Transition,
    namespace_id: str,
    task_queue: str,
    identity: str,
    poller: tuple[str, str] | None = None,
) -> WorkflowTaskClaim | object | None:
    """The queue's next workflow task for a poller (`poller`: its version, None when
    unversioned), started; None when there is none, CONTENDED when its run is busy."""

    async def take(run: Run, task: Row) -> WorkflowTaskClaim | None:
        if run.wft_state != "scheduled" or run.wft_scheduled_event_id != task.scheduled_event_id:
            return None
        claim = await start_workflow_task(tx, run, identity)
        if poller is not None and run.versioning_behavior == "PINNED":
            claim.target_version_changed = await versioning_runs.target_changed(tx, run)
        return claim

    found: WorkflowTaskClaim | object | None = await _claim_one(
        tx, namespace_id, "workflow", task_queue, take, poller
    )
    return found


async def start_workflow_task(tx: Transition, run: Run, identity: str) -> WorkflowTaskClaim:
    started_id = await workflow_tasks.start(tx, run, identity)
    speculative = bool(run.data.get("wft_speculative"))
    token = TaskToken(
        "w",
        run.namespace_id,
        run.id,
        run.wft_scheduled_event_id,
        run.wft_attempt,
        started_id,
        run.wft_speculative_nonce if speculative else 0,
    )
    return WorkflowTaskClaim(
        messages=await updates.take_for_task(tx, run, started_id),
        speculative_events=(
            workflow_tasks.speculative_events(run, tx.now, await tx.update_suggestion(run))
            if speculative
            else []
        ),
        speculative_nonce=run.wft_speculative_nonce if speculative else 0,
        token=token.encode(),
        namespace_id=run.namespace_id,
        run_id=run.id,
        workflow_id=run.workflow_id,
        workflow_type=run.workflow_type,
        task_queue=run.task_queue,
        attempt=run.wft_attempt,
        scheduled_event_id=run.wft_scheduled_event_id,
        started_event_id=started_id,
        previous_started_event_id=run.last_completed_started_event_id,
    )


async def claim_activity_tasks(
    tx: Transition,
    namespace_id: str,
    task_queue: str,
    identity: str,
    limit: int = 1,
    poller: tuple[str, str] | None = None,
) -> list[ActivityTaskClaim] | object:
    async def take(run: Run, task: Row) -> ActivityTaskClaim | None:
        activity = await activities.get(tx, run.id, task.scheduled_event_id)
        if (
            activity is None
            or activity["state"] != "scheduled"
            or activity["attempt"] != task.attempt
        ):
            return None
        if not await admit_activity(tx, run, activity, task):
            return None
        return await start_activity_task(tx, run, activity, identity)

    def read_ahead(task: Row) -> None:
        # The activity row rides in the round trip of its run's lock (PostgreSQL).
        activities.read_with_next(tx, task.run_id, task.scheduled_event_id)

    return await _claim(tx, namespace_id, "activity", task_queue, take, limit, read_ahead, poller)


async def admit_activity(tx: Transition, run: Run, activity: Any, task: Row) -> bool:
    """Whether the claimed task's attempt may start under the namespace's per-key concurrency
    limits (app/engine/concurrency_slots.py; a namespace without activity limits pays one
    cached look). False when its task now waits for a slot, out of its queue, or when
    CANCEL_NEWEST refused it: the attempt then fails, not to be retried."""
    verdict = await concurrency_slots.admit_activity(tx, run, activity, task)
    if verdict is concurrency_slots.HELD:
        return False
    if isinstance(verdict, concurrency_slots.Refused):
        await activities.fail(
            tx,
            run,
            activity,
            {"message": verdict.message, "type": "ConcurrencyLimitExceeded", "non_retryable": True},
            identity="perdure-concurrency-limit",
        )
        return False
    return True


async def start_activity_task(
    tx: Transition, run: Run, activity: sa.RowMapping, identity: str
) -> ActivityTaskClaim:
    await activities.start(tx, run, activity, identity)
    return activity_task(tx, run, activity)


def activity_task(tx: Transition, run: Run, activity: Any) -> ActivityTaskClaim:
    """What a worker receives for a started attempt."""
    token = TaskToken(
        "a", run.namespace_id, run.id, activity["scheduled_event_id"], activity["attempt"]
    )
    return ActivityTaskClaim(
        body={
            "task_token": token.encode(),
            "workflow_id": run.workflow_id,
            "run_id": run.id,
            "workflow_type": run.workflow_type,
            "activity_id": activity["activity_id"],
            "activity_type": activity["activity_type"],
            "task_queue": activity["task_queue"],
            "input": load(activity["input"]),
            "attempt": activity["attempt"],
            "scheduled_event_id": activity["scheduled_event_id"],
            "scheduled_time": activity["scheduled_time"],
            "current_attempt_scheduled_time": activity["attempt_scheduled_time"],
            "started_time": tx.now,
            "schedule_to_close_timeout": activity["schedule_to_close_timeout"],
            "start_to_close_timeout": activity["start_to_close_timeout"],
            "heartbeat_timeout": activity["heartbeat_timeout"],
            "heartbeat_details": load(activity["heartbeat_details"]),
            "last_failure": load(activity["last_failure"]),
            "traceparent": activity.get("traceparent"),
        }
    )


async def take_scheduled_workflow_task(
    tx: Transition, run: Run, identity: str
) -> WorkflowTaskClaim | None:
    """Start the run's just-scheduled workflow task for this caller instead of a poller."""
    if not (run.is_open and run.wft_state == "scheduled" and run.decider == "queue"):
        return None
    if run.id in tx.held_workflow_tasks:
        tx.held_workflow_tasks.discard(run.id)
    else:
        await tx.conn.execute(DELETE_WORKFLOW_TASKS_OF_RUN, {"run_id": run.id})
    claim = await start_workflow_task(tx, run, identity)
    claim.history = tx.new_run_history(run.id)
    return claim
