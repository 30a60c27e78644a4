"""Pending activities: attempts, retries with back-off, timeouts, heartbeats, cancellation.

Only the closing of an activity is written to history (ACTIVITY_TASK_STARTED then the
outcome, with the attempt count), so retries do not add an event per attempt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.db.statements import (
    DELETE_ACTIVITY,
    DELETE_ACTIVITY_TASK,
    DELETE_RUN_ACTIVITIES,
    INSERT_ACTIVITY,
    PENDING_IDS,
    SELECT_ACTIVITY,
    SELECT_ACTIVITY_BY_ID,
    UPDATE_ACTIVITY,
)
from app.engine import concurrency_slots, workflow_tasks
from app.engine.events import E
from app.engine.payloads import dump, load
from app.engine.priority import NO_PRIORITY, Priority, of_row
from app.engine.retry import RetryPolicy, RetryState
from app.engine.transition import Run, Transition
from app.observability.traces import current_traceparent

TIMER_RETRY = "activity_retry"
TIMER_SCHEDULE_TO_START = "activity_schedule_to_start"
TIMER_START_TO_CLOSE = "activity_start_to_close"
TIMER_SCHEDULE_TO_CLOSE = "activity_schedule_to_close"
TIMER_HEARTBEAT = "activity_heartbeat"
ACTIVITY_TIMERS = (
    TIMER_RETRY,
    TIMER_SCHEDULE_TO_START,
    TIMER_START_TO_CLOSE,
    TIMER_SCHEDULE_TO_CLOSE,
    TIMER_HEARTBEAT,
)

TIMEOUT_TYPE = {
    TIMER_SCHEDULE_TO_START: "SCHEDULE_TO_START",
    TIMER_START_TO_CLOSE: "START_TO_CLOSE",
    TIMER_SCHEDULE_TO_CLOSE: "SCHEDULE_TO_CLOSE",
    TIMER_HEARTBEAT: "HEARTBEAT",
}


@dataclass(frozen=True, slots=True)
class ActivityTimeouts:
    schedule_to_close: float | None
    schedule_to_start: float | None
    start_to_close: float | None
    heartbeat: float | None


def normalise_timeouts(
    *,
    schedule_to_close: float | None,
    schedule_to_start: float | None,
    start_to_close: float | None,
    heartbeat: float | None,
    run_timeout: float | None,
) -> ActivityTimeouts | None:
    """Temporal's rules; None when neither schedule_to_close nor start_to_close is set."""
    if not schedule_to_close and not start_to_close:
        return None
    overall = schedule_to_close or run_timeout or None
    if run_timeout and overall and overall > run_timeout:
        overall = run_timeout
    to_start = schedule_to_start or overall
    if overall and to_start and to_start > overall:
        to_start = overall
    to_close = start_to_close or overall
    if overall and to_close and to_close > overall:
        to_close = overall
    beat = heartbeat or None
    if beat and to_close and beat > to_close:
        beat = to_close
    return ActivityTimeouts(overall, to_start, to_close, beat)


async def schedule(
    tx: Transition,
    run: Run,
    *,
    scheduled_event_id: int,
    activity_id: str,
    activity_type: str,
    task_queue: str,
    input_text: str | None,
    timeouts: ActivityTimeouts,
    retry_policy: RetryPolicy,
    eager_identity: str | None = None,
    priority: Priority = NO_PRIORITY,
    concurrency_keys: str | None = None,
) -> dict[str, Any]:
    """Record the activity and queue its first attempt; with `eager_identity` the attempt
    starts at once for that caller instead (the row is written as started)."""
    row: dict[str, Any] = {
        "run_id": run.id,
        "scheduled_event_id": scheduled_event_id,
        "namespace_id": run.namespace_id,
        "activity_id": activity_id,
        "activity_type": activity_type,
        "task_queue": task_queue,
        "input": input_text,
        "state": "scheduled",
        "attempt": 1,
        "schedule_to_close_timeout": timeouts.schedule_to_close,
        "schedule_to_start_timeout": timeouts.schedule_to_start,
        "start_to_close_timeout": timeouts.start_to_close,
        "heartbeat_timeout": timeouts.heartbeat,
        "retry_policy": dump(retry_policy.to_json()),
        "scheduled_time": tx.now,
        "attempt_scheduled_time": tx.now,
        "started_time": None,
        "started_identity": None,
        "last_heartbeat_time": None,
        "heartbeat_details": None,
        "last_failure": None,
        "cancel_requested": False,
        "cancel_requested_event_id": None,
        "traceparent": current_traceparent(),
        **priority.columns(),
        "concurrency_keys": concurrency_keys,
        "holds_concurrency_slot": False,
        "paused": False,
        "pause_info": None,
        "reset_requested": False,
    }
    if eager_identity:
        row.update(state="started", started_time=tx.now, started_identity=eager_identity)
    await tx.conn.execute(INSERT_ACTIVITY, row)
    if eager_identity:
        await _arm_attempt_timers(tx, run, row)
    else:
        await _dispatch_attempt(
            tx, run, scheduled_event_id, task_queue, 1, timeouts.schedule_to_start, priority
        )
    if timeouts.schedule_to_close:
        await tx.add_timer_after(
            run, TIMER_SCHEDULE_TO_CLOSE, timeouts.schedule_to_close, ref=scheduled_event_id
        )
    return row


async def _dispatch_attempt(
    tx: Transition,
    run: Run,
    scheduled_event_id: int,
    task_queue: str,
    attempt: int,
    schedule_to_start: float | None,
    priority: Priority,
) -> None:
    await tx.add_task(
        run,
        kind="activity",
        task_queue=task_queue,
        scheduled_event_id=scheduled_event_id,
        attempt=attempt,
        priority=priority,
    )
    if schedule_to_start:
        await tx.add_timer_after(
            run, TIMER_SCHEDULE_TO_START, schedule_to_start, ref=scheduled_event_id, attempt=attempt
        )


async def get(tx: Transition, run_id: str, scheduled_event_id: int) -> sa.RowMapping | None:
    result = await tx.conn.execute(SELECT_ACTIVITY, {"run_id": run_id, "ref": scheduled_event_id})
    return result.mappings().one_or_none()


def read_with_next(tx: Transition, run_id: str, scheduled_event_id: int) -> None:
    """`get(tx, run_id, scheduled_event_id)` sent with the transaction's next read (one round
    trip fewer on PostgreSQL; see PostgresConnection.read_with_next)."""
    tx.conn.read_with_next(SELECT_ACTIVITY, {"run_id": run_id, "ref": scheduled_event_id})


async def find_by_activity_id(
    tx: Transition, run_id: str, activity_id: str
) -> sa.RowMapping | None:
    result = await tx.conn.execute(
        SELECT_ACTIVITY_BY_ID, {"run_id": run_id, "activity_id": activity_id}
    )
    return result.mappings().one_or_none()


async def pending_ids(tx: Transition, run_id: str) -> list[str]:
    """The activity ids of the run's pending activities, one per activity (at most
    MAX_PENDING_ACTIVITIES): what a workflow task's new activities are checked against — no
    duplicate id, no more than the limit — in one query instead of one per activity and a
    count."""
    return list((await tx.conn.execute(PENDING_IDS, {"run_id": run_id})).scalars())


def read_pending_ids_with_next(tx: Transition, run_id: str) -> None:
    """`pending_ids(tx, run_id)` sent with the transaction's next read (see read_with_next)."""
    tx.conn.read_with_next(PENDING_IDS, {"run_id": run_id})


async def _set(tx: Transition, activity: Any, **values: Any) -> None:
    await tx.conn.execute(
        UPDATE_ACTIVITY,
        {"pk_run_id": activity["run_id"], "pk_ref": activity["scheduled_event_id"], **values},
    )


async def start(tx: Transition, run: Run, activity: sa.RowMapping, identity: str) -> None:
    await _set(
        tx,
        activity,
        state="started",
        started_time=tx.now,
        started_identity=identity,
        last_heartbeat_time=None,
    )
    if activity["schedule_to_start_timeout"]:
        await tx.cancel_timers(run, TIMER_SCHEDULE_TO_START, ref=activity["scheduled_event_id"])
    await _arm_attempt_timers(tx, run, activity)


async def _arm_attempt_timers(tx: Transition, run: Run, activity: Any) -> None:
    ref, attempt = activity["scheduled_event_id"], activity["attempt"]
    if activity["start_to_close_timeout"]:
        await tx.add_timer_after(
            run, TIMER_START_TO_CLOSE, activity["start_to_close_timeout"], ref=ref, attempt=attempt
        )
    if activity["heartbeat_timeout"]:
        await tx.add_timer_after(
            run, TIMER_HEARTBEAT, activity["heartbeat_timeout"], ref=ref, attempt=attempt
        )


async def heartbeat(tx: Transition, activity: sa.RowMapping, details_text: str | None) -> None:
    values: dict[str, Any] = {"last_heartbeat_time": tx.now}
    if details_text is not None:
        values["heartbeat_details"] = details_text
    await _set(tx, activity, **values)


async def _close(
    tx: Transition, run: Run, activity: sa.RowMapping, event_type: E, attributes: dict[str, Any]
) -> None:
    """Write STARTED (with the attempt count) and the outcome; forget the activity."""
    ref = activity["scheduled_event_id"]
    started_id = None
    if activity["state"] == "started":
        started_id = await tx.record(
            run,
            E.ACTIVITY_TASK_STARTED,
            {
                "scheduled_event_id": ref,
                "identity": activity["started_identity"],
                "attempt": activity["attempt"],
                "last_failure": load(activity["last_failure"]),
            },
        )
    await tx.record(
        run,
        event_type,
        {
            "scheduled_event_id": ref,
            "started_event_id": started_id,
            "attempt": activity["attempt"],
            **attributes,
        },
    )
    await concurrency_slots.release_activity(tx, run, activity)
    await tx.conn.execute(DELETE_ACTIVITY, {"run_id": run.id, "ref": ref})
    if activity["state"] == "scheduled":  # only a waiting attempt has a task in a queue
        await tx.conn.execute(DELETE_ACTIVITY_TASK, {"run_id": run.id, "ref": ref})
    await tx.cancel_timers(run, *ACTIVITY_TIMERS, ref=ref)
    workflow_tasks.needs_decision(tx, run)


async def complete(
    tx: Transition,
    run: Run,
    activity: sa.RowMapping,
    result_text: str | None,
    identity: str | None,
) -> None:
    await _close(
        tx,
        run,
        activity,
        E.ACTIVITY_TASK_COMPLETED,
        {"result": load(result_text), "identity": _who(activity, identity)},
    )


async def report_canceled(
    tx: Transition, run: Run, activity: sa.RowMapping, details: Any, identity: str | None
) -> None:
    await _close(
        tx,
        run,
        activity,
        E.ACTIVITY_TASK_CANCELED,
        {
            "details": details,
            "latest_cancel_requested_event_id": activity["cancel_requested_event_id"],
            "identity": _who(activity, identity),
        },
    )


def _who(activity: Any, identity: str | None) -> str:
    """The identity an answer is recorded with: the one it sent, else the poller's (Temporal
    records the worker's identity on every closing event)."""
    return identity or activity["started_identity"] or "unknown"


def _policy(activity: sa.RowMapping) -> RetryPolicy:
    return RetryPolicy.from_json(load(activity["retry_policy"]))


def _retry_at(
    tx: Transition, activity: sa.RowMapping, policy: RetryPolicy
) -> tuple[datetime | None, str]:
    """When the next attempt may start, or None and why not."""
    if not policy.allows_another(activity["attempt"]):
        return None, RetryState.MAXIMUM_ATTEMPTS_REACHED
    at = tx.now + timedelta(seconds=policy.backoff(activity["attempt"]))
    if activity["schedule_to_close_timeout"]:
        deadline = activity["scheduled_time"] + timedelta(
            seconds=activity["schedule_to_close_timeout"]
        )
        if at >= deadline:
            return None, RetryState.TIMEOUT
    return at, RetryState.IN_PROGRESS


async def _retry(
    tx: Transition,
    run: Run,
    activity: sa.RowMapping,
    at: datetime,
    failure: dict[str, Any],
    details_text: str | None,
) -> None:
    ref = activity["scheduled_event_id"]
    values: dict[str, Any] = {
        "state": "backoff",
        "attempt": activity["attempt"] + 1,
        "last_failure": dump(failure),
        "started_time": None,
        "started_identity": None,
    }
    if details_text is not None:
        values["heartbeat_details"] = details_text
    await concurrency_slots.release_activity(tx, run, activity)
    await _set(tx, activity, **values)
    await tx.cancel_timers(
        run, TIMER_START_TO_CLOSE, TIMER_HEARTBEAT, TIMER_SCHEDULE_TO_START, ref=ref
    )
    await tx.add_timer(run, TIMER_RETRY, at, ref=ref, attempt=activity["attempt"] + 1)


async def fail(
    tx: Transition,
    run: Run,
    activity: sa.RowMapping,
    failure: dict[str, Any],
    identity: str | None,
    details_text: str | None = None,
) -> None:
    """A failed attempt: retried per the policy unless non-retryable or out of attempts/time."""
    policy = _policy(activity)
    failure = {**failure, "attempt": activity["attempt"]}
    if _held_by_operator(activity, failure, policy):
        await hold_or_restart(tx, run, activity, failure, details_text)
        return
    if activity["cancel_requested"]:
        retry_state = RetryState.CANCEL_REQUESTED
    elif not policy.is_retryable(failure.get("type"), bool(failure.get("non_retryable"))):
        retry_state = RetryState.NON_RETRYABLE_FAILURE
    else:
        at, retry_state = _retry_at(tx, activity, policy)
        if at is not None:
            await _retry(tx, run, activity, at, failure, details_text)
            return
    tx.note(
        logging.WARNING,
        "activity failed and will not be retried",
        run,
        activity_type=activity["activity_type"],
        attempt=activity["attempt"],
        cause=retry_state,
    )
    await _close(
        tx,
        run,
        activity,
        E.ACTIVITY_TASK_FAILED,
        {"failure": failure, "retry_state": retry_state, "identity": _who(activity, identity)},
    )


async def time_out(tx: Transition, run: Run, activity: sa.RowMapping, timer_kind: str) -> None:
    timeout_type = TIMEOUT_TYPE[timer_kind]
    failure = {
        "message": f"activity {timeout_type.lower().replace('_', '-')} timeout",
        "type": "TimeoutError",
        "timeout_type": timeout_type,
        "attempt": activity["attempt"],
        "last_heartbeat_details": load(activity["heartbeat_details"]),
    }
    retryable = (
        timer_kind in (TIMER_START_TO_CLOSE, TIMER_HEARTBEAT) and not activity["cancel_requested"]
    )
    if retryable and (activity["paused"] or activity["reset_requested"]):
        await hold_or_restart(tx, run, activity, failure, None)
        return
    if retryable:
        at, retry_state = _retry_at(tx, activity, _policy(activity))
        if at is not None:
            await _retry(tx, run, activity, at, failure, None)
            return
    else:
        retry_state = (
            RetryState.TIMEOUT if not activity["cancel_requested"] else RetryState.CANCEL_REQUESTED
        )
    tx.note(
        logging.WARNING,
        f"activity {timeout_type.lower()} timeout; it will not be retried",
        run,
        activity_type=activity["activity_type"],
        attempt=activity["attempt"],
        cause=retry_state,
    )
    await _close(
        tx,
        run,
        activity,
        E.ACTIVITY_TASK_TIMED_OUT,
        {"failure": failure, "retry_state": retry_state},
    )


def _held_by_operator(activity: Any, failure: dict[str, Any], policy: RetryPolicy) -> bool:
    """A retryable failure of a paused activity, or of one whose reset was asked: the
    operator's control decides what comes next, not the retry policy."""
    if activity["cancel_requested"] or not (activity["paused"] or activity["reset_requested"]):
        return False
    return bool(policy.is_retryable(failure.get("type"), bool(failure.get("non_retryable"))))


async def hold_or_restart(
    tx: Transition,
    run: Run,
    activity: Any,
    failure: dict[str, Any] | None,
    details_text: str | None,
) -> None:
    """An attempt of a paused activity, or of one whose reset was asked, has ended (failed,
    timed out, or cancelled on its heartbeat's word): no history event, as Temporal writes
    none for activity controls. A paused activity waits for unpause with its attempt count
    kept; a reset one starts again from attempt 1 at once (Temporal 1.28 activity controls)."""
    ref = activity["scheduled_event_id"]
    reset = bool(activity["reset_requested"])
    values: dict[str, Any] = {
        "state": "backoff",
        "attempt": 1 if reset else activity["attempt"] + 1,
        "started_time": None,
        "started_identity": None,
        "reset_requested": False,
    }
    if failure is not None:
        values["last_failure"] = dump(failure)
    if details_text is not None:
        values["heartbeat_details"] = details_text
    await _set(tx, activity, **values)
    await tx.cancel_timers(
        run, TIMER_START_TO_CLOSE, TIMER_HEARTBEAT, TIMER_SCHEDULE_TO_START, TIMER_RETRY, ref=ref
    )
    if not activity["paused"]:
        await start_retry(tx, run, {**activity, **values})


async def start_retry(tx: Transition, run: Run, activity: Any) -> None:
    """The back-off is over: hand the next attempt to a poller (not while it is paused)."""
    if activity["paused"]:
        return
    await _set(tx, activity, state="scheduled", attempt_scheduled_time=tx.now)
    await _dispatch_attempt(
        tx,
        run,
        activity["scheduled_event_id"],
        activity["task_queue"],
        activity["attempt"],
        activity["schedule_to_start_timeout"],
        of_row(activity),
    )


async def request_cancel(
    tx: Transition, run: Run, activity: sa.RowMapping, workflow_task_completed_event_id: int
) -> None:
    """A not-yet-started attempt is canceled at once; a started one learns of it by heartbeat."""
    requested_id = tx.append(
        run,
        E.ACTIVITY_TASK_CANCEL_REQUESTED,
        {
            "scheduled_event_id": activity["scheduled_event_id"],
            "workflow_task_completed_event_id": workflow_task_completed_event_id,
        },
    )
    if activity["state"] == "started":
        await _set(tx, activity, cancel_requested=True, cancel_requested_event_id=requested_id)
        return
    await _close(
        tx,
        run,
        {**activity, "cancel_requested_event_id": requested_id},  # type: ignore[arg-type]  # a RowMapping copied with one field changed
        E.ACTIVITY_TASK_CANCELED,
        {"details": None, "latest_cancel_requested_event_id": requested_id, "identity": None},
    )


async def forget_all(tx: Transition, run: Run) -> None:
    """The run closed: its activities will never report back."""
    await tx.conn.execute(DELETE_RUN_ACTIVITIES, {"run_id": run.id})
