"""Queries: a caller asks a workflow a question; a worker polling the run's task queue answers
from the run's history, without a workflow task (nothing is written to the history).

A query is a row in `query_tasks`: created pending (waking the queue's workflow pollers),
claimed by one poller, answered once. The caller long-waits on the query's own wake-up key;
rows are deleted when the caller stops waiting, answered or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.hot import hot
from app.db.statements import (
    MARK_CLAIMED,
    OLDEST_PENDING,
    OLDEST_PENDING_LOCKED,
    PENDING_QUERY,
    QUERY_OR_TASK,
)
from app.db.tables import query_tasks, tasks
from app.engine.events import RunStatus
from app.engine.matching.dispatch import queue_tasks_filter
from app.engine.matching.wakeups import queue_key
from app.engine.payloads import dump, load
from app.engine.transition import Transition
from app.engine.versioning import routing
from app.errors import FailedPrecondition, NotFound
from app.ids import new_id

MAX_QUERY_TIMEOUT = 30.0
DEFAULT_QUERY_TIMEOUT = 10.0
# Temporal fails a query at once while the run's workflow task keeps failing.
FAILING_TASK_ATTEMPT = 3

# Worker Versioning: on a deployment's queue a query goes only to a poller that may take its
# run's workflow tasks, by the claim's own version filter (routing.routed_filter over the
# query's pinned_version and ramp_bucket, stamped at creation as a task's are). A queue no
# versioned worker polls keeps the statements of app/db/statements.py unchanged.
_ROUTED_PENDING = (*PENDING_QUERY, routing.routed_filter(query_tasks))
# index: ix_query_tasks_queue, ix_tasks_queue_order
QUERY_OR_ROUTED_TASK = hot(
    sa.select(
        sa.exists().where(*_ROUTED_PENDING).label("query"),
        sa.exists().where(*queue_tasks_filter(tasks, routed=True)).label("task"),
    )
)
# index: ix_query_tasks_queue
OLDEST_ROUTED_PENDING = hot(
    sa.select(query_tasks).where(*_ROUTED_PENDING).order_by(query_tasks.c.created_at).limit(1)
)
# index: ix_query_tasks_queue
OLDEST_ROUTED_PENDING_LOCKED = hot(OLDEST_ROUTED_PENDING.with_for_update(skip_locked=True))


def query_key(query_id: str) -> str:
    """The query was answered."""
    return f"qa|{query_id}"


@dataclass
class QueryClaim:
    query_id: str
    namespace_id: str
    run_id: str
    workflow_id: str
    workflow_type: str
    task_queue: str
    query_type: str
    args: Any


def ready_for_query(run: Any, now: datetime, remaining: float) -> bool:
    """Whether a worker can answer a query on this run (a row of `workflow_runs`) now: only
    once a workflow task of the run has completed, so that the worker's code has run. False:
    wait for that (a task is coming). Temporal's rules (history service, QueryWorkflow):
    FailedPrecondition at once when the run closed before any workflow task completed, when
    its first task's back-off ends after the query's `remaining` seconds, or while its
    workflow task keeps failing."""
    completed = bool(run["last_completed_started_event_id"])
    if run["status"] != RunStatus.RUNNING.value:
        if completed:
            return True
        raise FailedPrecondition(
            "workflow execution closed before its first workflow task completed: no worker "
            "can answer a query (Temporal: 'Workflow execution closed before "
            "WorkflowTaskStarted event')",
            run_id=run["id"],
            run_status=run["status"],
        )
    if run["wft_attempt"] >= FAILING_TASK_ATTEMPT:
        raise FailedPrecondition(
            "unable to query workflow due to workflow task in failed state", run_id=run["id"]
        )
    if completed:
        return True
    if run["wft_scheduled_event_id"] is None and run["execution_time"] > now + timedelta(
        seconds=remaining
    ):
        raise FailedPrecondition(
            "workflow task is not scheduled yet: the run's first workflow task waits out a "
            "back-off that ends after the query's timeout",
            run_id=run["id"],
            execution_time=run["execution_time"].isoformat(),
        )
    return False


async def create(
    tx: Transition,
    namespace_id: str,
    workflow_id: str,
    run_id: str | None,
    query_type: str,
    args_text: str | None,
    timeout: float,  # noqa: ASYNC109 - stored as the query's expiry, not awaited
) -> str:
    """A pending query for the run (the latest of the workflow unless `run_id`), closed or not.
    It carries the version filter's inputs of a workflow task of the run created now (a
    pinned run's version, the workflow id's ramp bucket) and is offered to the line of the
    pollers the routing sends that task to (Temporal's matching routes a query as the run's
    next workflow task)."""
    run = await tx.find_run(namespace_id, workflow_id, run_id)
    pinned = await routing.pinned_version_for_task(tx.conn, run.data, "workflow", run.task_queue)
    bucket = routing.ramp_bucket(run.workflow_id)
    query_id = new_id()
    await tx.conn.execute(
        sa.insert(query_tasks).values(
            id=query_id,
            namespace_id=namespace_id,
            run_id=run.id,
            workflow_id=run.workflow_id,
            workflow_type=run.workflow_type,
            task_queue=run.task_queue,
            query_type=query_type,
            args=args_text,
            state="pending",
            created_at=tx.now,
            expires_at=tx.now + timedelta(seconds=timeout),
            pinned_version=pinned,
            ramp_bucket=bucket,
        )
    )
    target = routing.TaskTarget(tx.conn, namespace_id, "workflow", run.task_queue, pinned, bucket)
    tx.wake_keys.add(queue_key(namespace_id, "workflow", run.task_queue, await target.line()))
    return query_id


async def pending_and_backlog(
    conn: Connection,
    namespace_id: str,
    task_queue: str,
    now: datetime,
    route: routing.Route | None = None,
) -> tuple[bool, bool]:
    """(whether the queue has a pending, unexpired query; whether its backlog holds a workflow
    task) that the poller may take: a workflow-task poll's look before any claim, one round
    trip. `route`: the poller's version filter (routing.route_for), None on a queue no
    versioned worker polls."""
    params: dict[str, Any] = {"namespace_id": namespace_id, "task_queue": task_queue, "now": now}
    if route is None:
        row = (await conn.execute(QUERY_OR_TASK, params)).one()
    else:
        params.update(kind="workflow", **route.params())
        row = (await conn.execute(QUERY_OR_ROUTED_TASK, params)).one()
    return bool(row.query), bool(row.task)


async def claim(
    tx: Transition,
    namespace_id: str,
    task_queue: str,
    identity: str,
    poller: tuple[str, str] | None = None,
) -> QueryClaim | None:
    """The oldest pending, unexpired query of the queue that this poller may take, now
    claimed by it. `poller`: its version (deployment name, build id), None when unversioned;
    on a deployment's queue it takes a pinned run's queries only when it is of the run's
    version, the others' only when the routing sends the run's next workflow task to it."""
    route = await routing.route_for(tx.conn, namespace_id, "workflow", task_queue, poller)
    params: dict[str, Any] = {"namespace_id": namespace_id, "task_queue": task_queue}
    params["now"] = tx.now
    if route is None:
        query = OLDEST_PENDING_LOCKED if tx.is_postgres else OLDEST_PENDING
    else:
        query = OLDEST_ROUTED_PENDING_LOCKED if tx.is_postgres else OLDEST_ROUTED_PENDING
        params.update(route.params())
    row = (await tx.conn.execute(query, params)).mappings().one_or_none()
    if row is None:
        return None
    await tx.conn.execute(MARK_CLAIMED, {"query_id": row["id"], "identity": identity})
    return QueryClaim(
        query_id=row["id"],
        namespace_id=row["namespace_id"],
        run_id=row["run_id"],
        workflow_id=row["workflow_id"],
        workflow_type=row["workflow_type"],
        task_queue=row["task_queue"],
        query_type=row["query_type"],
        args=load(row["args"]),
    )


async def answer(
    tx: Transition,
    namespace_id: str,
    query_id: str,
    answer_text: str | None,
    error: dict[str, Any] | None,
) -> None:
    """Record a worker's answer to a claimed query and wake its caller."""
    done = await tx.conn.execute(
        sa.update(query_tasks)
        .where(
            query_tasks.c.id == query_id,
            query_tasks.c.namespace_id == namespace_id,
            query_tasks.c.state == "claimed",
        )
        .values(
            state="answered", answer=answer_text, error=dump(error) if error is not None else None
        )
    )
    if done.rowcount != 1:
        raise NotFound(
            "query not found: it was answered already, or its caller stopped waiting",
            query_id=query_id,
        )
    tx.wake_keys.add(query_key(query_id))


async def outcome(conn: Any, query_id: str) -> dict[str, Any] | None:
    """The answer of an answered query, or None while it waits."""
    row = (
        (
            await conn.execute(
                sa.select(query_tasks.c.state, query_tasks.c.answer, query_tasks.c.error).where(
                    query_tasks.c.id == query_id
                )
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None or row["state"] != "answered":
        return None
    return {"answer": load(row["answer"]), "error": load(row["error"])}


async def forget(tx: Transition, query_id: str) -> None:
    await tx.conn.execute(sa.delete(query_tasks).where(query_tasks.c.id == query_id))


async def query_task_body(db: Any, claim: QueryClaim) -> dict[str, Any]:
    """The poll answer for a claimed query: the run and its whole history so far (first page;
    the rest by `next_page_token`), shaped like a workflow task without a task token."""
    from app.engine.reads import history_page, run_row
    from app.engine.run_limits import HISTORY_PAGE_SIZE
    from app.pagination import encode_token

    async with db.read() as conn:
        last_event_id = (await run_row(conn, claim.run_id))["next_event_id"] - 1
        events = await history_page(
            conn,
            claim.run_id,
            after_event_id=0,
            up_to_event_id=last_event_id,
            page_size=HISTORY_PAGE_SIZE,
        )
    token = None
    if events and events[-1]["event_id"] < last_event_id:
        token = encode_token([events[-1]["event_id"]])
    return {
        "task_token": "",
        "workflow_id": claim.workflow_id,
        "run_id": claim.run_id,
        "workflow_type": claim.workflow_type,
        "task_queue": claim.task_queue,
        "attempt": 0,
        "scheduled_event_id": 0,
        "started_event_id": last_event_id,
        "previous_started_event_id": 0,
        "history": {"events": events, "next_page_token": token},
        "query": {
            "query_id": claim.query_id,
            "query_type": claim.query_type,
            "args": claim.args,
        },
    }
