"""Taking a schedule's actions: the spec times that came due, the buffer, the timer for next.

Every step runs inside one engine transition that first locks the schedule: the times up to
`last_processed_time` are done, so a time is looked at once however many replicas fire the
timer, and the partial unique key on (schedule, nominal time) refuses a second action for the
same spec time should anything else ever try. Workflows start through the engine's own start
path in the same transaction that records the action. When a started run's chain closes, the
closing transaction marks its action closed and adds a wake-up timer (it never locks the
schedule, so lock order stays schedule → run); the wake-up brings the schedule back here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from app.db.tables import schedule_actions, timers, workflow_runs
from app.definitions import decider as definition_runs
from app.engine import concurrency, deadlines, lifecycle, priority
from app.engine.events import RunStatus
from app.engine.limits import DEFAULT_TASK_TIMEOUT
from app.engine.payloads import dump
from app.engine.transition import Run, Transition
from app.errors import PerdureError
from app.schedules import rows
from app.schedules.buffer import OverlapPolicy, Start, process_buffer
from app.schedules.rows import Schedule
from app.schedules.spec import iso

log = logging.getLogger("perdure.schedules")

TIMER_FIRE = "schedule"  # the next spec time
TIMER_WAKE = "schedule_wake"  # look again now: a started run closed, or work was left over
RECENT_ACTIONS = 10  # Temporal's RecentActionCount
MAX_BUFFER = 1000  # Temporal's MaxBufferSize
MAX_TIMES_PER_FIRING = 1000  # spec times taken, skipped or missed in one transaction
SCHEDULED_BY = "TemporalScheduledById"
SCHEDULED_START_TIME = "TemporalScheduledStartTime"
FAILED_STATUSES = (RunStatus.FAILED.value, RunStatus.TIMED_OUT.value)


async def fire(tx: Transition, key: str) -> int:
    """The deadline loop's entry: take the schedule's due timers and do what came due."""
    schedule = await rows.lock_by_key(tx, key)
    due = list(
        (
            await tx.conn.execute(
                sa.select(timers.c.id).where(
                    timers.c.schedule_key == key, timers.c.fire_at <= tx.now
                )
            )
        ).scalars()
    )
    if not due:
        return 0  # another replica fired them while this one waited for the lock
    await tx.conn.execute(sa.delete(timers).where(timers.c.id.in_(due)))
    if schedule is not None:
        await advance(tx, schedule)
    return len(due)


async def advance(tx: Transition, schedule: Schedule, extra: Sequence[Start] = ()) -> None:
    """Note closed runs, take the spec times up to now, work the buffer (with `extra` starts
    from a trigger or backfill), and set the timer for the next time."""
    await _note_closed_runs(tx, schedule)
    due = _spec_times_due(tx, schedule)
    await work_buffer(tx, schedule, due + list(extra))
    await _arm(tx, schedule)
    await schedule.flush(tx)


def _spec_times_due(tx: Transition, schedule: Schedule) -> list[Start]:
    start = schedule.last_processed_time
    now = rows.later(tx.now, start)
    if schedule.idle:
        # Temporal: times that pass while paused (or out of actions) are never taken later.
        schedule.set(last_processed_time=now)
        return []
    spec = schedule.compiled
    window = timedelta(seconds=schedule.catchup_window)
    due: list[Start] = []
    last = start
    missed = 0
    for _ in range(MAX_TIMES_PER_FIRING):
        found = spec.next_time(last)
        if found is None or found.actual > now:
            break
        last = found.actual
        if now - found.actual > window:
            missed += 1  # the server was down (or busy) longer than the catch-up window
            continue
        due.append(Start("spec", found.nominal, found.actual))
    if missed:
        schedule.set(missed_catchup_window=schedule.missed_catchup_window + missed)
    if last != start:
        schedule.set(last_processed_time=last)
    return due


def _resolver(schedule: Schedule):
    def resolve(start: Start) -> OverlapPolicy:
        return start.overlap or schedule.policy

    return resolve


async def _tracked_running(tx: Transition, schedule: Schedule) -> list[Any]:
    """Open runs that overlap policies consider (ALLOW_ALL ones never block, as in Temporal)."""
    return [
        row
        for row in await rows.actions_in(tx.conn, schedule.id, "running")
        if row.overlap_policy != OverlapPolicy.ALLOW_ALL
    ]


async def work_buffer(tx: Transition, schedule: Schedule, new: list[Start]) -> None:
    """Temporal's processBuffer loop: start what may start, skip or keep the rest."""
    waiting = await rows.buffered(tx.conn, schedule.id)
    room = MAX_BUFFER - len(waiting)
    if len(new) > room:
        dropped = new[max(room, 0) :]
        for start in dropped:
            start.outcome = "dropped"
        schedule.set(buffer_dropped=schedule.buffer_dropped + len(dropped))
        new = new[: max(room, 0)]
    pending = waiting + new
    resolve = _resolver(schedule)
    for _ in range(3):  # a termination frees the way at once; cancellations take their time
        running = await _tracked_running(tx, schedule)
        result = process_buffer(pending, bool(running), resolve)
        if result.skipped:
            schedule.set(overlap_skipped=schedule.overlap_skipped + len(result.skipped))
        for start in result.skipped:
            start.outcome = "skipped"
            await rows.forget(tx, start)
        for start in result.starts:
            await _take(tx, schedule, start, resolve(start))
        pending = result.buffer
        if result.terminate_running:
            for row in running:
                await _stop(tx, row, terminate=True)
            continue
        if result.cancel_running:
            for row in running:
                await _stop(tx, row, terminate=False)
        break
    for start in pending:
        start.outcome = "buffered"
        if start.row_id is None:
            await rows.store_buffered(tx, schedule, start)


async def _take(tx: Transition, schedule: Schedule, start: Start, policy: OverlapPolicy) -> None:
    if not schedule.may_act(start):
        start.outcome = "skipped"  # paused or out of actions: Temporal drops it
        await rows.forget(tx, start)
        return
    action = schedule.action
    req = start_request(schedule, action, start)
    try:
        definition = action.get("definition")
        if definition:
            run, _ = await definition_runs.start_in(
                tx, req, definition["name"], definition.get("version"), definition.get("alias")
            )
        else:
            run, _ = await lifecycle.start(tx, req)
    except PerdureError as err:
        # As in Temporal, a start the engine refuses (the id is taken, the definition is gone)
        # is logged and dropped; the schedule goes on.
        log.warning(
            "schedule %s could not start %s: %s", schedule.schedule_id, req.workflow_id, err
        )
        start.outcome, start.error = "failed", err.detail
        await rows.forget(tx, start)
        return
    start.outcome, start.run = "started", run
    await rows.record_started(tx, schedule, start, policy, run.workflow_id, run.id)
    changes: dict[str, Any] = {"action_count": schedule.action_count + 1}
    if not start.manual and schedule.limited_actions:
        changes["remaining_actions"] = schedule.remaining_actions - 1
    schedule.set(**changes)


def start_request(
    schedule: Schedule, action: dict[str, Any], start: Start
) -> lifecycle.StartRequest:
    """The run a start begins: the action's workflow id plus the nominal time (RFC 3339, as
    Temporal appends it), carrying the schedule and nominal time as search attributes."""
    nominal = iso(start.nominal.replace(microsecond=0))
    attributes = {
        **(action.get("search_attributes") or {}),
        SCHEDULED_BY: schedule.schedule_id,
        SCHEDULED_START_TIME: nominal,
    }
    return lifecycle.StartRequest(
        namespace_id=schedule.namespace_id,
        workflow_id=f"{action['workflow_id']}-{nominal}",
        workflow_type=action.get("workflow_type") or "",
        task_queue=action.get("task_queue") or definition_runs.DEFAULT_TASK_QUEUE,
        input_text=None if action.get("input") is None else dump(action["input"]),
        execution_timeout=action.get("execution_timeout"),
        run_timeout=action.get("run_timeout"),
        task_timeout=action.get("task_timeout") or DEFAULT_TASK_TIMEOUT,
        # Temporal: a spec time never starts a workflow id twice; triggers and backfills may.
        id_reuse_policy="ALLOW_DUPLICATE" if start.manual else "REJECT_DUPLICATE",
        id_conflict_policy="FAIL",
        memo_text=None if action.get("memo") is None else dump(action["memo"]),
        search_attributes=attributes,
        retry_policy_text=None
        if action.get("retry_policy") is None
        else dump(action["retry_policy"]),
        identity=f"perdure-schedule:{schedule.schedule_id}",
        schedule_key=schedule.id,
        priority=priority.parse(action.get("priority")),
        concurrency_keys=concurrency.check_concurrency_keys(action.get("concurrency_keys")),
    )


async def _stop(tx: Transition, row: Any, *, terminate: bool) -> None:
    """Cancel or terminate the open run of a started chain (its latest run)."""
    try:
        run = await tx.find_run(row.namespace_id, row.workflow_id)
    except PerdureError:
        return
    if not run.is_open or run.first_run_id != row.run_id:
        return
    if terminate:
        await lifecycle.terminate(
            tx, run, reason="terminated by schedule overlap policy", identity=None
        )
    elif not run.cancel_requested:
        await lifecycle.request_cancel(
            tx, run, reason="canceled by schedule overlap policy", identity=None
        )


async def _note_closed_runs(tx: Transition, schedule: Schedule) -> None:
    """Runs whose chains closed since the last look: pause on failure, keep the history short."""
    closed = await rows.actions_in(tx.conn, schedule.id, "closed")
    if not closed:
        return
    for row in closed:
        if (
            row.status in FAILED_STATUSES
            and schedule.data["pause_on_failure"]
            and not schedule.paused
        ):
            schedule.set(
                paused=True,
                notes=await _failure_note(tx, row),
                conflict_token=schedule.conflict_token + 1,
            )
    await tx.conn.execute(
        sa.update(schedule_actions)
        .where(schedule_actions.c.id.in_([row.id for row in closed]))
        .values(state="done")
    )
    await rows.prune_done(tx, schedule.id, RECENT_ACTIONS)


async def _failure_note(tx: Transition, row: Any) -> str:
    if row.status == RunStatus.TIMED_OUT.value:
        return f"paused due to workflow timeout: {row.workflow_id}"
    failure = await tx.conn.scalar(
        sa.select(workflow_runs.c.failure)
        .where(
            workflow_runs.c.namespace_id == row.namespace_id,
            workflow_runs.c.workflow_id == row.workflow_id,
            workflow_runs.c.first_run_id == row.run_id,
        )
        .order_by(workflow_runs.c.start_time.desc(), workflow_runs.c.id.desc())
        .limit(1)
    )
    message = (orjson.loads(failure) or {}).get("message", "") if failure else ""
    return f"paused due to workflow failure: {row.workflow_id}: {message}"


async def _arm(tx: Transition, schedule: Schedule) -> None:
    """Replace the schedule's timer with one at its next spec time (none while it is idle)."""
    await tx.conn.execute(
        sa.delete(timers).where(timers.c.schedule_key == schedule.id, timers.c.kind == TIMER_FIRE)
    )
    if schedule.idle:
        return
    found = schedule.compiled.next_time(schedule.last_processed_time)
    if found is not None:
        await tx.add_schedule_timer(schedule.namespace_id, schedule.id, TIMER_FIRE, found.actual)


async def run_closed(tx: Transition, run: Run, status: RunStatus) -> None:
    """In the transaction that closes a scheduled chain: mark its action closed and wake the
    schedule (which may start a buffered action, or pause on a failure)."""
    marked = await tx.conn.execute(
        sa.update(schedule_actions)
        .where(
            schedule_actions.c.schedule_key == run.schedule_key,
            schedule_actions.c.run_id == run.first_run_id,
            schedule_actions.c.state == "running",
        )
        .values(state="closed", status=status.value, closed_at=tx.now)
    )
    if marked.rowcount:
        await tx.add_schedule_timer(run.namespace_id, run.schedule_key, TIMER_WAKE, tx.now)


def next_times(schedule: Schedule, count: int, after: datetime | None = None) -> list[datetime]:
    """Up to `count` upcoming action times (fewer when actions are limited)."""
    if schedule.limited_actions:
        count = min(count, schedule.remaining_actions)
    found = schedule.compiled.times(
        after or schedule.last_processed_time, until=None, count=max(count, 0)
    )
    return [t.actual for t in found]


deadlines.schedule_firer = fire
lifecycle.scheduled_run_closed = run_closed
