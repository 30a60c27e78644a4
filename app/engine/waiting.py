"""Why an open run is waiting: the describe answer's `waiting_on`, one sentence and its reason.

The first thing an operator asks of a run that does not move. The engine knows the answer —
a task queue nobody polls, a retry back-off, a timer, a child, or nothing at all but a signal —
so it says it, most pressing first: work that cannot start (no poller) before work under way,
and a wait for the outside world last.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import task_queue_pollers, timers
from app.engine import concurrency_slots
from app.engine.activities import TIMER_RETRY
from app.engine.events import RunStatus
from app.engine.payloads import load
from app.engine.workflow_tasks import TIMER_FIRST_TASK_BACKOFF, TIMER_WFT_BACKOFF

# A queue counts as unattended when no worker has polled it for this long and no poll of it is
# open. Pollers are recorded when a poll starts, with the time it ends at the latest
# (app/engine/matching/pollers.py).
NO_POLLER_SECONDS = 60.0

# Kinds, most pressing first (the order in which they are reported).
CONCURRENCY_LIMIT = "CONCURRENCY_LIMIT"
WORKFLOW_TASK_NO_POLLER = "WORKFLOW_TASK_NO_POLLER"
ACTIVITY_NO_POLLER = "ACTIVITY_NO_POLLER"
WORKFLOW_TASK_STARTED = "WORKFLOW_TASK_STARTED"
WORKFLOW_TASK_SCHEDULED = "WORKFLOW_TASK_SCHEDULED"
WORKFLOW_TASK_BACKOFF = "WORKFLOW_TASK_BACKOFF"
ACTIVITY_RETRY_BACKOFF = "ACTIVITY_RETRY_BACKOFF"
ACTIVITY_STARTED = "ACTIVITY_STARTED"
ACTIVITY_SCHEDULED = "ACTIVITY_SCHEDULED"
CHILD = "CHILD_WORKFLOW"
TIMER = "TIMER"
START_DELAY = "START_DELAY"
SIGNAL = "SIGNAL"
KINDS = (
    CONCURRENCY_LIMIT,
    WORKFLOW_TASK_NO_POLLER,
    ACTIVITY_NO_POLLER,
    WORKFLOW_TASK_STARTED,
    WORKFLOW_TASK_SCHEDULED,
    WORKFLOW_TASK_BACKOFF,
    ACTIVITY_RETRY_BACKOFF,
    ACTIVITY_STARTED,
    ACTIVITY_SCHEDULED,
    CHILD,
    TIMER,
    START_DELAY,
    SIGNAL,
)


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _wait(kind: str, message: str, **fields: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "message": message,
        "since": fields.get("since"),
        "until": fields.get("until"),
        "task_queue": fields.get("task_queue"),
        "activity_id": fields.get("activity_id"),
        "timer_id": fields.get("timer_id"),
        "workflow_id": fields.get("workflow_id"),
    }


async def _polled_queues(
    conn: Connection, namespace_id: str, queues: set[tuple[str, str]], now: datetime
) -> set[tuple[str, str]]:
    """Which (task queue, kind) pairs a worker polled within NO_POLLER_SECONDS."""
    if not queues:
        return set()
    rows = await conn.execute(
        sa.select(task_queue_pollers.c.task_queue, task_queue_pollers.c.kind)
        .where(
            task_queue_pollers.c.namespace_id == namespace_id,
            task_queue_pollers.c.task_queue.in_(sorted({q for q, _ in queues})),
            sa.or_(
                task_queue_pollers.c.last_poll_time >= now - timedelta(seconds=NO_POLLER_SECONDS),
                task_queue_pollers.c.open_until > now,
            ),
        )
        .distinct()
    )
    return {(r.task_queue, r.kind) for r in rows}


async def _engine_timers(conn: Connection, run_id: str) -> dict[tuple[str, int], datetime]:
    """The run's back-off and start-delay timers, by (kind, ref)."""
    rows = await conn.execute(
        sa.select(timers.c.kind, timers.c.ref, timers.c.fire_at).where(
            timers.c.run_id == run_id,
            timers.c.kind.in_([TIMER_RETRY, TIMER_WFT_BACKOFF, TIMER_FIRST_TASK_BACKOFF]),
        )
    )
    return {(r.kind, r.ref): r.fire_at for r in rows}


def _failure_text(failure: Any) -> str:
    if isinstance(failure, dict) and failure.get("message"):
        return f" ({str(failure['message'])[:200]})"
    return ""


async def waiting_on(
    conn: Connection,
    run: Any,
    activity_rows: Sequence[Any],
    pending_timers: Sequence[dict[str, Any]],
    pending_children: Sequence[dict[str, Any]],
    now: datetime,
) -> dict[str, Any] | None:
    """What the open run `run` (a workflow_runs row) waits for, or None once it is closed.

    Answer: `{kind, message, since, until, task_queue, activity_id, timer_id, workflow_id,
    others}` — `kind` one of KINDS, `message` one sentence for a person, `until` when the
    wait ends by itself (a timer, a back-off), `others` how many further waits there are.
    Kinds follow the order of KINDS; a run with nothing pending waits for a SIGNAL."""
    if run["status"] != RunStatus.RUNNING:
        return None
    by_queue = run["decider"] == "queue"
    wanted = {(a["task_queue"], "activity") for a in activity_rows if a["state"] == "scheduled"}
    if by_queue and run["wft_state"] == "scheduled":
        wanted.add((run["task_queue"], "workflow"))
    polled = await _polled_queues(conn, run["namespace_id"], wanted, now)
    engine_timers = await _engine_timers(conn, run["id"])

    waits: list[dict[str, Any]] = []
    queue = run["task_queue"]
    held_activities = [
        a for a in activity_rows if a["holds_concurrency_slot"] and a["state"] == "scheduled"
    ]
    if run["concurrency_state"] == "waiting" or held_activities:
        slot_waits = await concurrency_slots.waits(conn, run["id"])
        if 0 in slot_waits:
            waits.append(
                _wait(
                    CONCURRENCY_LIMIT,
                    f"The run waits for a concurrency slot: {slot_waits[0]}.",
                    task_queue=queue,
                )
            )
        for a in held_activities:
            if a["scheduled_event_id"] in slot_waits:
                waits.append(
                    _wait(
                        CONCURRENCY_LIMIT,
                        f"Activity '{a['activity_id']}' ({a['activity_type']}) waits for a "
                        f"concurrency slot: {slot_waits[a['scheduled_event_id']]}.",
                        since=a["attempt_scheduled_time"],
                        task_queue=a["task_queue"],
                        activity_id=a["activity_id"],
                    )
                )
    held = {w["activity_id"] for w in waits if w["activity_id"]}
    activity_rows = [a for a in activity_rows if a["activity_id"] not in held]
    if run["wft_state"] == "scheduled" and by_queue:
        if (queue, "workflow") in polled:
            waits.append(
                _wait(
                    WORKFLOW_TASK_SCHEDULED,
                    f"A workflow task waits on task queue '{queue}' for one of its workers.",
                    task_queue=queue,
                )
            )
        else:
            waits.append(
                _wait(
                    WORKFLOW_TASK_NO_POLLER,
                    f"A workflow task waits on task queue '{queue}', which no worker has polled "
                    "in the last minute.",
                    task_queue=queue,
                )
            )
    elif run["wft_state"] == "started" and by_queue:
        waits.append(
            _wait(
                WORKFLOW_TASK_STARTED,
                f"Worker '{run['wft_identity']}' is working on a workflow task "
                f"(attempt {run['wft_attempt']}).",
                task_queue=queue,
            )
        )
    backoff = engine_timers.get((TIMER_WFT_BACKOFF, 0))
    if run["wft_state"] == "none" and backoff is not None:
        waits.append(
            _wait(
                WORKFLOW_TASK_BACKOFF,
                f"The workflow task failed {run['wft_attempt'] - 1} time(s); it is tried again "
                f"at {_at(backoff)}.",
                until=backoff,
                task_queue=queue,
            )
        )
    for a in activity_rows:
        named = f"Activity '{a['activity_id']}' ({a['activity_type']})"
        if a["state"] == "backoff":
            until = engine_timers.get((TIMER_RETRY, a["scheduled_event_id"]))
            retry = f" and is retried at {_at(until)}" if until else " and waits to be retried"
            # In back-off the row already carries the number of the attempt to come.
            waits.append(
                _wait(
                    ACTIVITY_RETRY_BACKOFF,
                    f"{named} failed attempt {a['attempt'] - 1}"
                    f"{_failure_text(load(a['last_failure']))}{retry}.",
                    until=until,
                    task_queue=a["task_queue"],
                    activity_id=a["activity_id"],
                )
            )
        elif a["state"] == "started":
            waits.append(
                _wait(
                    ACTIVITY_STARTED,
                    f"{named} is running on worker '{a['started_identity']}' "
                    f"(attempt {a['attempt']}) since {_at(a['started_time'])}.",
                    since=a["started_time"],
                    task_queue=a["task_queue"],
                    activity_id=a["activity_id"],
                )
            )
        elif (a["task_queue"], "activity") in polled:
            waits.append(
                _wait(
                    ACTIVITY_SCHEDULED,
                    f"{named} waits on task queue '{a['task_queue']}' for one of its workers.",
                    since=a["attempt_scheduled_time"],
                    task_queue=a["task_queue"],
                    activity_id=a["activity_id"],
                )
            )
        else:
            waits.append(
                _wait(
                    ACTIVITY_NO_POLLER,
                    f"{named} waits on task queue '{a['task_queue']}', which no worker has "
                    "polled in the last minute.",
                    since=a["attempt_scheduled_time"],
                    task_queue=a["task_queue"],
                    activity_id=a["activity_id"],
                )
            )
    for child in pending_children:
        waits.append(
            _wait(
                CHILD,
                f"Child workflow '{child['workflow_id']}' ({child['workflow_type']}) is running.",
                workflow_id=child["workflow_id"],
            )
        )
    for timer in sorted(pending_timers, key=lambda t: t["fire_time"]):
        waits.append(
            _wait(
                TIMER,
                f"Timer '{timer['timer_id']}' fires at {_at(timer['fire_time'])}.",
                until=timer["fire_time"],
                timer_id=timer["timer_id"],
            )
        )
    delayed = engine_timers.get((TIMER_FIRST_TASK_BACKOFF, 0))
    if delayed is not None:
        waits.append(
            _wait(
                START_DELAY,
                f"The run starts at {_at(delayed)} (its start delay or retry back-off).",
                until=delayed,
            )
        )
    if not waits:
        waits.append(
            _wait(
                SIGNAL,
                "Nothing is scheduled: the run waits for a signal (or a cancel request).",
            )
        )
    waits.sort(key=lambda w: KINDS.index(w["kind"]))
    return {**waits[0], "others": len(waits) - 1}
