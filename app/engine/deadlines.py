"""Firing due timers: every deadline of the engine goes through here exactly once.

Due timers are grouped by run; each run is handled in its own transaction that locks the run
first and then its timers (SKIP LOCKED), the same order every other transition uses, so
several loop replicas never deadlock and never fire a timer twice. Timers of a schedule are
handled the same way, in a transaction that locks the schedule first (app/schedules).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.db.tables import activities as activities_table
from app.db.tables import query_tasks, tasks, timers, workflow_runs
from app.engine import activities, commands, lifecycle, workflow_tasks
from app.engine.events import E
from app.engine.transition import Run, Transition

BATCH = 200


# Fires the due timers of one schedule (set by app.schedules), in a transaction that locks the
# schedule first; returns how many timers it consumed (0: another replica got there first).
ScheduleFirer = Callable[[Transition, str], Awaitable[int]]
schedule_firer: ScheduleFirer | None = None


async def due_owners(tx: Transition, now: datetime) -> tuple[list[str], list[str]]:
    """The runs and the schedules that have due timers (oldest first, at most a batch)."""
    rows = (
        await tx.conn.execute(
            sa.select(timers.c.run_id, timers.c.schedule_key)
            .where(timers.c.fire_at <= now)
            .order_by(timers.c.fire_at)
            .limit(BATCH)
        )
    ).all()
    run_ids = dict.fromkeys(r.run_id for r in rows if r.run_id is not None)
    schedule_keys = dict.fromkeys(r.schedule_key for r in rows if r.schedule_key is not None)
    return list(run_ids), list(schedule_keys)


async def fire_for_schedule(tx: Transition, schedule_key: str) -> int:
    if schedule_firer is not None:
        return await schedule_firer(tx, schedule_key)
    # Schedules are not loaded in this process: leave their timers to one that has them.
    return 0


async def fire_for_run(tx: Transition, run_id: str) -> int:
    """Fire the run's due timers; returns how many fired."""
    run = await tx.run(run_id)
    query = (
        sa.select(timers)
        .where(timers.c.run_id == run_id, timers.c.fire_at <= tx.now)
        .order_by(timers.c.fire_at, timers.c.id)
    )
    if tx.is_postgres:
        query = query.with_for_update(skip_locked=True)
    due = (await tx.conn.execute(query)).mappings().all()
    if not due:
        return 0
    await tx.conn.execute(sa.delete(timers).where(timers.c.id.in_([t["id"] for t in due])))
    for timer in due:
        if run.is_open:
            await _fire(tx, run, timer)
    return len(due)


async def _fire(tx: Transition, run: Run, timer: sa.RowMapping) -> None:
    kind = timer["kind"]
    tx.observe("timers_fired", (kind,))
    tx.observe("timer_lateness", (kind,), max(0.0, (tx.now - timer["fire_at"]).total_seconds()))
    if kind == commands.TIMER_USER:
        await tx.record(
            run, E.TIMER_FIRED, {"timer_id": timer["label"], "started_event_id": timer["ref"]}
        )
        workflow_tasks.needs_decision(tx, run)
    elif kind in activities.TIMEOUT_TYPE or kind == activities.TIMER_RETRY:
        await _fire_activity_timer(tx, run, timer)
    elif kind == workflow_tasks.TIMER_WFT_TIMEOUT:
        if (
            run.wft_state == "started"
            and run.wft_scheduled_event_id == timer["ref"]
            and run.wft_attempt == timer["attempt"]
        ):
            await workflow_tasks.fail_and_retry(
                tx, run, E.WORKFLOW_TASK_TIMED_OUT, {"timeout_type": "START_TO_CLOSE"}
            )
    elif kind == workflow_tasks.TIMER_WFT_BACKOFF:
        if run.wft_attempt == timer["attempt"]:
            await workflow_tasks.schedule(tx, run)
    elif kind == workflow_tasks.TIMER_FIRST_TASK_BACKOFF:
        await workflow_tasks.end_first_task_backoff(tx, run)
    elif kind == lifecycle.TIMER_RUN_TIMEOUT:
        await lifecycle.time_out(tx, run, "run_timeout")
    elif kind == lifecycle.TIMER_EXECUTION_TIMEOUT:
        await lifecycle.time_out(tx, run, "execution_timeout")


async def _fire_activity_timer(tx: Transition, run: Run, timer: sa.RowMapping) -> None:
    activity = await activities.get(tx, run.id, timer["ref"])
    if activity is None:
        return
    kind = timer["kind"]
    if kind == activities.TIMER_SCHEDULE_TO_CLOSE:
        await activities.time_out(tx, run, activity, kind)
        return
    if activity["attempt"] != timer["attempt"]:
        return  # a timer of an earlier attempt
    if kind == activities.TIMER_RETRY and activity["state"] == "backoff":
        await activities.start_retry(tx, run, activity)
    elif kind == activities.TIMER_SCHEDULE_TO_START and activity["state"] == "scheduled":
        await activities.time_out(tx, run, activity, kind)
    elif kind == activities.TIMER_START_TO_CLOSE and activity["state"] == "started":
        await activities.time_out(tx, run, activity, kind)
    elif kind == activities.TIMER_HEARTBEAT and activity["state"] == "started":
        last = activity["last_heartbeat_time"] or activity["started_time"]
        deadline = last + _seconds(activity["heartbeat_timeout"])
        if deadline > tx.now:
            # Heartbeats do not move the timer (that would be a write per heartbeat); it is
            # re-armed from the last heartbeat when it fires.
            await tx.add_timer(run, kind, deadline, ref=timer["ref"], attempt=timer["attempt"])
        else:
            await activities.time_out(tx, run, activity, kind)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


async def next_fire_time(tx: Transition) -> datetime | None:
    earliest: datetime | None = await tx.conn.scalar(sa.select(sa.func.min(timers.c.fire_at)))
    return earliest


# Time-skipping: a task (or query) that has waited this long for a worker, with no worker
# taking it, sits on a queue nobody serves. It cannot move until someone polls, so it no
# longer holds the clock for every other run of the server.
UNSERVED_AFTER_SECONDS = 10.0


async def worked_on(tx: Transition) -> bool:
    """A workflow task, activity attempt or query is in a worker's hands right now."""
    started_task = await tx.conn.scalar(
        sa.select(workflow_runs.c.id)
        .where(workflow_runs.c.status == "RUNNING", workflow_runs.c.wft_state == "started")
        .limit(1)
    )
    if started_task is not None:
        return True
    started_activity = await tx.conn.scalar(
        sa.select(activities_table.c.run_id).where(activities_table.c.state == "started").limit(1)
    )
    if started_activity is not None:
        return True
    claimed_query = await tx.conn.scalar(
        sa.select(query_tasks.c.id).where(query_tasks.c.state == "claimed").limit(1)
    )
    return claimed_query is not None


async def newest_waiting_since(tx: Transition) -> datetime | None:
    """When the newest task or query still waiting for a worker was queued (engine clock)."""
    task = await tx.conn.scalar(sa.select(sa.func.max(tasks.c.created_at)))
    query = await tx.conn.scalar(
        sa.select(sa.func.max(query_tasks.c.created_at)).where(query_tasks.c.state == "pending")
    )
    found = [t for t in (task, query) if t is not None]
    return max(found) if found else None
