"""Batch operations (Temporal's StartBatchOperation): one action — signal, cancel, terminate,
or delete of closed runs — on every run a list filter matches, as a durable job.

A job walks the runs that match its filter and started before it was created, in (start time,
run id) order. Each run is acted on in one engine transition that also advances the job's
cursor, counts the run and records it in `batch_operation_runs`, fenced by the job's lease: an
action and the record of it commit together or not at all, so a job resumed after a crash
goes on after the last run it acted on and acts on each run at most once. A run the action
refuses (e.g. already closed) is recorded as failed with the reason; the job goes on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import batch_operation_runs, batch_operations, namespaces, workflow_runs
from app.engine import lifecycle, retention
from app.engine.events import RunStatus
from app.engine.payloads import load
from app.engine.reads import RunFilter
from app.engine.service import Engine
from app.engine.transition import Run, Transition
from app.errors import AlreadyExists, FailedPrecondition, NotFound, PerdureError, RateLimited
from app.ids import new_id
from app.pagination import decode_token, encode_token, token_time
from app.visibility.listing import Plan, count_runs, plan

BATCH_KEY = "batch-operations"  # wake-up: a job was created or its lease freed
DEFAULT_MAX_CONCURRENT = 1  # Temporal's frontend.MaxConcurrentBatchOperationPerNamespace
# A job slower than one run a minute would hold the namespace's batch slot (above) for months:
# refused at the edge (issue 28). Temporal's default is 50 a second.
MIN_OPERATIONS_PER_SECOND = 1 / 60
MAX_FAILURES_SHOWN = 100


class OperationType(StrEnum):
    SIGNAL = "SIGNAL"
    CANCEL = "CANCEL"
    TERMINATE = "TERMINATE"
    DELETE = "DELETE"
    # Operator controls (app/visibility/operator_batches.py).
    RESET = "RESET"
    PAUSE = "PAUSE"
    UNPAUSE = "UNPAUSE"
    PAUSE_ACTIVITY = "PAUSE_ACTIVITY"
    UNPAUSE_ACTIVITY = "UNPAUSE_ACTIVITY"
    RESET_ACTIVITY = "RESET_ACTIVITY"
    UPDATE_ACTIVITY_OPTIONS = "UPDATE_ACTIVITY_OPTIONS"


# The actions of the operator controls, by operation type: (transition, job row, run) → None;
# registered by app/visibility/operator_batches.py.
RunAction = Callable[[Transition, Any, Run], Awaitable[None]]
operator_actions: dict[str, RunAction] = {}


class JobState(StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


class LeaseLost(Exception):
    """The job was stopped, or another loop took it over: this loop must let it go."""


def waiting_for(row: Any, now: datetime) -> str | None:
    """What a running job waits for, in one sentence (None once it has ended): a batch loop
    to take it, its holder's rate, or a loop to take it over from a holder that stopped
    renewing its lease (it resumes within about a lease and a poll interval)."""
    if row["state"] != JobState.RUNNING:
        return None
    expires = row["lease_expires_at"]
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    if row["lease_owner"] is None or expires is None:
        return (
            "A batch loop to take it: one looks every few seconds on each replica that runs "
            "the background loops (PERDURE_RUN_BACKGROUND_LOOPS)."
        )
    if expires <= now:
        return (
            f"Its holder stopped renewing its lease (expired {expires:%Y-%m-%d %H:%M:%S} UTC); "
            "the next batch loop to look takes it over and resumes after the last run acted on."
        )
    return (
        f"A batch loop works on it at most {row['max_per_second']:g} run(s) a second; its "
        f"lease is renewed until {expires:%Y-%m-%d %H:%M:%S} UTC."
    )


def describe(
    row: Any, failures: list[dict[str, Any]] | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """A job as the API shows it (Temporal's DescribeBatchOperation names for the counts);
    with `now`, also `waiting_for` (see that function)."""
    return {
        "job_id": row["job_id"],
        "operation_type": row["operation_type"],
        "state": row["state"],
        "query": row["query"],
        "signal_name": row["signal_name"],
        "input": load(row["input"]),
        "reason": row["reason"],
        "identity": row["identity"],
        "max_operations_per_second": row["max_per_second"],
        "total_operation_count": row["total"],
        "complete_operation_count": row["completed"],
        "failure_operation_count": row["failed"],
        "start_time": row["created_at"],
        "close_time": row["closed_at"],
        "stop_reason": row["stop_reason"],
        "options": load(row["options"]),
        "failures": failures,
        "waiting_for": waiting_for(row, now) if now is not None else None,
    }


async def start(
    engine: Engine, namespace_id: str, fields: dict[str, Any], *, identity: str
) -> sa.RowMapping:
    """Check and count the filter (400 for a bad one, 422 for one no index narrows on a large
    namespace), then record the job and wake the loops (also on other replicas)."""
    ctx = engine.ctx
    now = ctx.clock.now()
    total, _ = await count_runs(
        ctx.db, ctx.settings, namespace_id, RunFilter(), fields["query"], now=now, started_up_to=now
    )
    fields = {**fields, "job_id": fields.get("job_id") or new_id()}
    fields["identity"] = fields.get("identity") or identity

    async def body(tx: Transition) -> sa.RowMapping:
        tx.wake_keys.add(BATCH_KEY)
        return await create(tx.conn, namespace_id, fields, total, now, is_postgres=tx.is_postgres)

    return await engine.transact(body)


async def create(
    conn: Connection,
    namespace_id: str,
    fields: dict[str, Any],
    total: int,
    now: datetime,
    *,
    is_postgres: bool,
) -> sa.RowMapping:
    """Record a new RUNNING job (after its filter was checked and counted). 429 when the
    namespace already runs its `max_concurrent_batch_operations`, 409 for a taken job id."""
    settings_query = sa.select(namespaces.c.settings).where(namespaces.c.id == namespace_id)
    if is_postgres:  # serializes the check of running jobs per namespace
        settings_query = settings_query.with_for_update()
    settings = await conn.scalar(settings_query) or {}
    cap = int(settings.get("max_concurrent_batch_operations") or DEFAULT_MAX_CONCURRENT)
    running = await conn.scalar(
        sa.select(sa.func.count())
        .select_from(batch_operations)
        .where(
            batch_operations.c.namespace_id == namespace_id,
            batch_operations.c.state == JobState.RUNNING.value,
        )
    )
    taken = await conn.scalar(
        sa.select(batch_operations.c.id).where(
            batch_operations.c.namespace_id == namespace_id,
            batch_operations.c.job_id == fields["job_id"],
        )
    )
    if taken:
        raise AlreadyExists(
            f"batch operation '{fields['job_id']}' already exists", job_id=fields["job_id"]
        )
    if running >= cap:
        raise RateLimited(
            f"the namespace already runs {running} batch operation(s), its limit "
            "(namespace setting max_concurrent_batch_operations); wait or stop one",
            limit=cap,
        )
    row_id = new_id()
    await conn.execute(
        sa.insert(batch_operations).values(
            id=row_id,
            namespace_id=namespace_id,
            state=JobState.RUNNING.value,
            total=total,
            completed=0,
            failed=0,
            started_before=now,
            created_at=now,
            **fields,
        )
    )
    return (
        (await conn.execute(sa.select(batch_operations).where(batch_operations.c.id == row_id)))
        .mappings()
        .one()
    )


async def get(conn: Connection, namespace_id: str, job_id: str) -> sa.RowMapping:
    row = (
        (
            await conn.execute(
                sa.select(batch_operations).where(
                    batch_operations.c.namespace_id == namespace_id,
                    batch_operations.c.job_id == job_id,
                )
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound(f"batch operation '{job_id}' not found", job_id=job_id)
    return row


async def failures(conn: Connection, operation_id: str) -> list[dict[str, Any]]:
    """The job's most recent failures (served by ix_batch_operation_runs_outcome)."""
    t = batch_operation_runs
    rows = await conn.execute(
        sa.select(t.c.workflow_id, t.c.run_id, t.c.error, t.c.at)
        .where(t.c.operation_id == operation_id, t.c.outcome == "failed")
        .order_by(t.c.at.desc())
        .limit(MAX_FAILURES_SHOWN)
    )
    return [
        {"workflow_id": r.workflow_id, "run_id": r.run_id, "error": r.error, "time": r.at}
        for r in rows
    ]


async def list_jobs(
    conn: Connection, namespace_id: str, *, page_size: int, page_token: str | None
) -> tuple[list[sa.RowMapping], str | None]:
    """The namespace's jobs, newest first."""
    t = batch_operations
    query = (
        sa.select(t)
        .where(t.c.namespace_id == namespace_id)
        .order_by(t.c.created_at.desc(), t.c.id.desc())
        .limit(page_size + 1)
    )
    position = decode_token(page_token, length=2)
    if position is not None:
        mark = sa.tuple_(
            sa.literal(token_time(position[0]), t.c.created_at.type),
            sa.literal(str(position[1])),
        )
        query = query.where(sa.tuple_(t.c.created_at, t.c.id) < mark)
    rows = list((await conn.execute(query)).mappings())
    if len(rows) <= page_size:
        return rows, None
    last = rows[page_size - 1]
    return rows[:page_size], encode_token([last["created_at"].isoformat(), last["id"]])


async def stop(
    conn: Connection, namespace_id: str, job_id: str, reason: str | None, now: datetime
) -> sa.RowMapping:
    """Stop a running job: the run being acted on finishes, no other is touched. Stopping a
    stopped job changes nothing; a finished one is a conflict."""
    row = await get(conn, namespace_id, job_id)
    if row["state"] == JobState.RUNNING:
        await conn.execute(
            sa.update(batch_operations)
            .where(
                batch_operations.c.id == row["id"],
                batch_operations.c.state == JobState.RUNNING.value,
            )
            .values(
                state=JobState.STOPPED.value,
                stop_reason=reason,
                closed_at=now,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        return await get(conn, namespace_id, job_id)
    if row["state"] != JobState.STOPPED:
        raise FailedPrecondition(
            f"batch operation '{job_id}' is {row['state']}", job_id=job_id, state=row["state"]
        )
    return row


# -- the work, for the loop -------------------------------------------------------------------------


def _claimable(now: datetime) -> list[sa.ColumnElement[bool]]:
    t = batch_operations
    return [
        t.c.state == JobState.RUNNING.value,
        sa.or_(t.c.lease_expires_at.is_(None), t.c.lease_expires_at < now),
    ]


async def any_claimable(conn: Connection, now: datetime) -> bool:
    """Whether a job waits for a loop: looked at on a reader first, so an idle loop never
    takes the write lock (ix_batch_operations_state)."""
    found = await conn.scalar(sa.select(batch_operations.c.id).where(*_claimable(now)).limit(1))
    return found is not None


async def claim(tx: Transition, owner: str, lease_seconds: float) -> sa.RowMapping | None:
    """Take a running job whose lease is free, the one waiting longest (SKIP LOCKED: one
    loop per job across replicas)."""
    t = batch_operations
    query = (
        sa.select(t.c.id)
        .where(*_claimable(tx.now))
        .order_by(t.c.lease_expires_at.asc().nulls_first(), t.c.created_at)
        .limit(1)
    )
    if tx.is_postgres:
        query = query.with_for_update(skip_locked=True)
    job_id = await tx.conn.scalar(query)
    if job_id is None:
        return None
    await tx.conn.execute(
        sa.update(t)
        .where(t.c.id == job_id)
        .values(lease_owner=owner, lease_expires_at=tx.now + timedelta(seconds=lease_seconds))
    )
    return (await tx.conn.execute(sa.select(t).where(t.c.id == job_id))).mappings().one()


async def renew(tx: Transition, job: Any, owner: str, lease_seconds: float) -> bool:
    """Extend the job's lease while `owner` holds it and it runs; False when it does not (the
    job was stopped or taken over: the holder must let it go)."""
    t = batch_operations
    renewed = await tx.conn.execute(
        sa.update(t)
        .where(t.c.id == job["id"], t.c.lease_owner == owner, t.c.state == JobState.RUNNING.value)
        .values(lease_expires_at=tx.now + timedelta(seconds=lease_seconds))
    )
    return bool(renewed.rowcount)


async def release(tx: Transition, job: Any, owner: str) -> None:
    """Let another loop (or this one, later) take the job."""
    await tx.conn.execute(
        sa.update(batch_operations)
        .where(batch_operations.c.id == job["id"], batch_operations.c.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )


async def job_plan(conn: Connection, job: Any, now: datetime, dialect: str) -> Plan:
    return await plan(
        conn,
        job["namespace_id"],
        RunFilter(),
        job["query"],
        dialect=dialect,
        now=now,
        counting=False,
    )


def next_runs_query(
    planned: Plan, job: Any, cursor: tuple[datetime, str] | None, limit: int
) -> Any:
    """The next runs of the job after its cursor, oldest first, within its snapshot."""
    c = workflow_runs.c
    query = (
        sa.select(c.id, c.workflow_id, c.start_time)
        .where(*planned.where, c.start_time <= job["started_before"])
        .order_by(c.start_time, c.id)
        .limit(limit)
    )
    if cursor is not None:
        mark = sa.tuple_(sa.literal(cursor[0], c.start_time.type), sa.literal(cursor[1]))
        query = query.where(sa.tuple_(c.start_time, c.id) > mark)
    return query


async def _advance(
    tx: Transition, job: Any, owner: str, lease_seconds: float, run: Any, *, ok: bool
) -> None:
    """Fence, then move the cursor past the run and count it, in the action's transaction."""
    t = batch_operations
    counter = t.c.completed if ok else t.c.failed
    moved = await tx.conn.execute(
        sa.update(t)
        .where(t.c.id == job["id"], t.c.lease_owner == owner, t.c.state == JobState.RUNNING.value)
        .values(
            {
                counter: counter + 1,
                t.c.cursor_start_time: run.start_time,
                t.c.cursor_run_id: run.id,
                t.c.lease_expires_at: tx.now + timedelta(seconds=lease_seconds),
            }
        )
    )
    if moved.rowcount != 1:
        raise LeaseLost(job["job_id"])


async def act(tx: Transition, job: Any, owner: str, lease_seconds: float, row: Any) -> None:
    """One run: fence and advance the job, apply the action through the engine, record it."""
    await _advance(tx, job, owner, lease_seconds, row, ok=True)
    run = await tx.run(row.id)
    kind = job["operation_type"]
    if kind == OperationType.SIGNAL:
        await lifecycle.signal(tx, run, job["signal_name"], job["input"], job["identity"])
    elif kind == OperationType.CANCEL:
        await lifecycle.request_cancel(tx, run, reason=job["reason"], identity=job["identity"])
    elif kind == OperationType.TERMINATE:
        await lifecycle.terminate(tx, run, reason=job["reason"], identity=job["identity"])
    elif kind in operator_actions:
        await operator_actions[kind](tx, job, run)
    else:
        if run.status == RunStatus.RUNNING:
            raise FailedPrecondition("the run is RUNNING; a batch delete removes closed runs only")
        await retention.delete_runs(tx.conn, [run.id])
    await _record(tx, job, row, None)


async def record_failure(
    tx: Transition, job: Any, owner: str, lease_seconds: float, row: Any, error: PerdureError
) -> None:
    await _advance(tx, job, owner, lease_seconds, row, ok=False)
    await _record(tx, job, row, error.detail)


async def _record(tx: Transition, job: Any, row: Any, error: str | None) -> None:
    await tx.conn.execute(
        sa.insert(batch_operation_runs).values(
            operation_id=job["id"],
            run_id=row.id,
            workflow_id=row.workflow_id,
            outcome="completed" if error is None else "failed",
            error=error,
            at=tx.now,
        )
    )


async def finish(tx: Transition, job: Any, owner: str) -> None:
    """Every run in scope was visited: the job is COMPLETED (if it is still ours)."""
    await tx.conn.execute(
        sa.update(batch_operations)
        .where(
            batch_operations.c.id == job["id"],
            batch_operations.c.lease_owner == owner,
            batch_operations.c.state == JobState.RUNNING.value,
        )
        .values(
            state=JobState.COMPLETED.value,
            closed_at=tx.now,
            lease_owner=None,
            lease_expires_at=None,
        )
    )


async def delete_namespace_jobs(conn: Connection, namespace_id: str) -> None:
    jobs = sa.select(batch_operations.c.id).where(batch_operations.c.namespace_id == namespace_id)
    await conn.execute(
        sa.delete(batch_operation_runs).where(
            batch_operation_runs.c.operation_id.in_(jobs.scalar_subquery())
        )
    )
    await conn.execute(
        sa.delete(batch_operations).where(batch_operations.c.namespace_id == namespace_id)
    )
