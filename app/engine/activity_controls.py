"""Controls of a run's pending activities (Temporal 1.28+: PauseActivity, UnpauseActivity,
ResetActivity, UpdateActivityOptions). None writes a history event, as in Temporal.

- Pause: no new attempt is dispatched (a queued one is taken off its queue, a back-off's timer
  dropped). An attempt under way goes on: its next heartbeat answers `activity_paused`, and
  the worker cancels it; one that does not heartbeat runs to completion, and if it fails it is
  not retried until unpaused.
- Unpause: the next attempt is dispatched at once, the attempt count kept (or back to 1 with
  `reset_attempts`; `reset_heartbeat` drops the heartbeat details).
- Reset: back to attempt 1, heartbeat details kept unless `clear_heartbeat_details`, unpaused
  unless `keep_paused`; an attempt under way learns it at its next heartbeat
  (`activity_reset`), and the attempt after it is attempt 1.
- Update options: timeouts and retry policy of the pending activity, used from its next
  attempt on (the schedule-to-close deadline moves at once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from app.db.tables import activities as activity_rows
from app.db.tables import tasks
from app.engine import activities
from app.engine import pause as pause_info
from app.engine.operator_view import shown_activity_state
from app.engine.payloads import dump, load
from app.engine.retry import RetryPolicy
from app.engine.transition import Run, Transition
from app.errors import InvalidArgument, NotFound


@dataclass(frozen=True, slots=True)
class Target:
    """Which pending activities of a run: one `activity_id`, all of an `activity_type`, or
    (`match_all`) every one."""

    activity_id: str | None = None
    activity_type: str | None = None
    match_all: bool = False


@dataclass(frozen=True, slots=True)
class Options:
    """Temporal's ActivityOptions as UpdateActivityOptions takes them: None keeps a value."""

    schedule_to_close_timeout: float | None = None
    schedule_to_start_timeout: float | None = None
    start_to_close_timeout: float | None = None
    heartbeat_timeout: float | None = None
    retry_policy: dict[str, Any] | None = None


async def pending(tx: Transition, run: Run, target: Target) -> list[sa.RowMapping]:
    """The run's pending activities the target names, oldest first; NotFound when none (a
    closed run has none)."""
    t = activity_rows
    query = sa.select(t).where(t.c.run_id == run.id).order_by(t.c.scheduled_event_id)
    if target.activity_id is not None:
        query = query.where(t.c.activity_id == target.activity_id)
    elif target.activity_type is not None:
        query = query.where(t.c.activity_type == target.activity_type)
    rows = list((await tx.conn.execute(query)).mappings())
    if not rows:
        which = target.activity_id or target.activity_type or "any"
        raise NotFound(
            f"run '{run.id}' of workflow '{run.workflow_id}' has no pending activity '{which}'",
            workflow_id=run.workflow_id,
            run_id=run.id,
        )
    return rows


async def _set(tx: Transition, activity: Mapping[Any, Any], **values: Any) -> dict[str, Any]:
    await tx.conn.execute(
        sa.update(activity_rows)
        .where(
            activity_rows.c.run_id == activity["run_id"],
            activity_rows.c.scheduled_event_id == activity["scheduled_event_id"],
        )
        .values(**values)
    )
    return {**activity, **values}


async def _take_off_queue(tx: Transition, run: Run, activity: Mapping[Any, Any]) -> dict[str, Any]:
    """A waiting attempt leaves its queue (and its back-off timer goes): it waits, not
    dispatched, with its attempt count, in state 'backoff'."""
    ref = activity["scheduled_event_id"]
    if activity["state"] == "scheduled":
        await tx.conn.execute(
            sa.delete(tasks).where(
                tasks.c.run_id == run.id,
                tasks.c.kind == "activity",
                tasks.c.scheduled_event_id == ref,
            )
        )
    await tx.cancel_timers(run, activities.TIMER_RETRY, activities.TIMER_SCHEDULE_TO_START, ref=ref)
    return await _set(tx, activity, state="backoff")


async def pause(
    tx: Transition,
    run: Run,
    activity: Mapping[Any, Any],
    *,
    identity: str | None,
    reason: str | None,
) -> dict[str, Any]:
    """Pause one pending activity (a paused one stays as it is)."""
    if activity["paused"]:
        return dict(activity)
    info = {"identity": identity, "reason": reason, "pause_time": tx.now}
    activity = await _set(tx, activity, paused=True, pause_info=dump(info))
    if activity["state"] != "started":
        activity = await _take_off_queue(tx, run, activity)
    await pause_info.refresh_pause_info(tx, run)
    return activity


async def unpause(
    tx: Transition,
    run: Run,
    activity: Mapping[Any, Any],
    *,
    reset_attempts: bool = False,
    reset_heartbeat: bool = False,
) -> dict[str, Any]:
    """Unpause one pending activity: its next attempt is dispatched at once (if none is
    under way)."""
    values: dict[str, Any] = {"paused": False, "pause_info": None}
    if reset_attempts:
        if activity["state"] == "started":
            values["reset_requested"] = True  # the attempt under way keeps its number
        else:
            values["attempt"] = 1
    if reset_heartbeat:
        values["heartbeat_details"] = None
    activity = await _set(tx, activity, **values)
    if activity["state"] == "backoff":
        await tx.cancel_timers(run, activities.TIMER_RETRY, ref=activity["scheduled_event_id"])
        await activities.start_retry(tx, run, activity)
        activity = {**activity, "state": "scheduled"}
    await pause_info.refresh_pause_info(tx, run)
    return activity


async def reset(
    tx: Transition,
    run: Run,
    activity: Mapping[Any, Any],
    *,
    keep_paused: bool = False,
    clear_heartbeat_details: bool = False,
) -> dict[str, Any]:
    """Reset one pending activity to attempt 1."""
    values: dict[str, Any] = {}
    if clear_heartbeat_details:
        values["heartbeat_details"] = None
    if not keep_paused:
        values.update(paused=False, pause_info=None)
    if activity["state"] == "started":
        values["reset_requested"] = True  # told at its next heartbeat
        activity = await _set(tx, activity, **values)
    else:
        activity = await _take_off_queue(tx, run, activity)
        activity = await _set(tx, activity, attempt=1, **values)
        await activities.start_retry(tx, run, activity)  # not while it stays paused
        activity = await _reread(tx, activity)
    await pause_info.refresh_pause_info(tx, run)
    return activity


async def update_options(
    tx: Transition, run: Run, activity: Mapping[Any, Any], options: Options
) -> dict[str, Any]:
    """Replace the timeouts and retry policy given; the schedule-to-close deadline moves."""
    values: dict[str, Any] = {}
    for name in (
        "schedule_to_close_timeout",
        "schedule_to_start_timeout",
        "start_to_close_timeout",
        "heartbeat_timeout",
    ):
        if getattr(options, name) is not None:
            values[name] = getattr(options, name)
    if options.retry_policy is not None:
        policy = RetryPolicy.from_json(options.retry_policy, field_name="retry_policy")
        values["retry_policy"] = dump(policy.to_json())
    if not values:
        raise InvalidArgument("activity_options sets nothing", field="activity_options")
    activity = await _set(tx, activity, **values)
    if "schedule_to_close_timeout" in values:
        ref = activity["scheduled_event_id"]
        await tx.cancel_timers(run, activities.TIMER_SCHEDULE_TO_CLOSE, ref=ref)
        await tx.add_timer(
            run,
            activities.TIMER_SCHEDULE_TO_CLOSE,
            activity["scheduled_time"] + timedelta(seconds=values["schedule_to_close_timeout"]),
            ref=ref,
        )
    return activity


async def _reread(tx: Transition, activity: Mapping[Any, Any]) -> dict[str, Any]:
    row = await activities.get(tx, activity["run_id"], activity["scheduled_event_id"])
    return dict(row) if row is not None else dict(activity)


def heartbeat_answer(activity: Mapping[Any, Any]) -> dict[str, bool]:
    """Temporal's RecordActivityTaskHeartbeatResponse flags for the attempt under way."""
    return {
        "cancel_requested": bool(activity["cancel_requested"]),
        "activity_paused": bool(activity["paused"]),
        "activity_reset": bool(activity["reset_requested"]),
    }


def shown(activity: Mapping[Any, Any]) -> dict[str, Any]:
    """An activity as `describe` shows it (Temporal's PendingActivityInfo names): state PAUSED
    when a paused one waits, PAUSE_REQUESTED while a paused one's attempt is under way."""
    return {
        "activity_id": activity["activity_id"],
        "activity_type": activity["activity_type"],
        "task_queue": activity["task_queue"],
        "scheduled_event_id": activity["scheduled_event_id"],
        "state": shown_activity_state(activity),
        "attempt": activity["attempt"],
        "paused": bool(activity["paused"]),
        "pause_info": load(activity["pause_info"]),
        "heartbeat_details": load(activity["heartbeat_details"]),
        "last_failure": load(activity["last_failure"]),
        "schedule_to_close_timeout": activity["schedule_to_close_timeout"],
        "schedule_to_start_timeout": activity["schedule_to_start_timeout"],
        "start_to_close_timeout": activity["start_to_close_timeout"],
        "heartbeat_timeout": activity["heartbeat_timeout"],
        "retry_policy": load(activity["retry_policy"]),
    }
