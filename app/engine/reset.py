"""Reset (Temporal's ResetWorkflowExecution): a new run of the same workflow id from a run's
history up to a workflow task, with the signals (and updates) that came after reapplied.

The new run's history is the base run's events up to the reset task's WORKFLOW_TASK_STARTED,
copied with their ids and times, then WORKFLOW_TASK_FAILED (cause RESET_WORKFLOW, naming both
runs), the reapplied events, and a new WORKFLOW_TASK_SCHEDULED: the decider re-decides the
reset task from there. The workflow's open run is terminated with the reason in the same
transaction. What the copied history left pending is set up again (`_rebuild`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import activities as activity_rows
from app.db.tables import definition_runs, history_events, workflow_runs
from app.engine import (
    activities,
    idempotency,
    lifecycle,
    reset_updates,
    search_attributes,
    workflow_tasks,
)
from app.engine.commands import TIMER_USER
from app.engine.events import E, RunStatus
from app.engine.operator_view import task_build_id
from app.engine.payloads import dump, load
from app.engine.retry import RetryPolicy
from app.engine.transition import Run, Transition
from app.errors import InvalidArgument
from app.ids import new_id


class ResetType(StrEnum):
    """Temporal's `ResetType`s, named as its CLI names them."""

    FIRST_WORKFLOW_TASK = "FirstWorkflowTask"
    LAST_WORKFLOW_TASK = "LastWorkflowTask"
    LAST_CONTINUED_AS_NEW = "LastContinuedAsNew"
    BUILD_ID = "BuildId"


class ReapplyType(StrEnum):
    """Temporal's `ResetReapplyExcludeType`s: what may be left out of the reapplied events."""

    SIGNAL = "SIGNAL"
    UPDATE = "UPDATE"


# The events a reset point may name (Temporal: "must be WorkflowTaskCompleted, -Failed,
# -TimedOut or -Started").
POINT_EVENTS = frozenset(
    {
        E.WORKFLOW_TASK_COMPLETED,
        E.WORKFLOW_TASK_FAILED,
        E.WORKFLOW_TASK_TIMED_OUT,
        E.WORKFLOW_TASK_STARTED,
    }
)
CHILD_CLOSE_EVENTS = frozenset(lifecycle.CHILD_EVENTS.values())
ACTIVITY_CLOSE_EVENTS = frozenset(
    {
        E.ACTIVITY_TASK_COMPLETED,
        E.ACTIVITY_TASK_FAILED,
        E.ACTIVITY_TASK_TIMED_OUT,
        E.ACTIVITY_TASK_CANCELED,
    }
)


# The run row's fields of Workflow Update, as a run with no updates has them.
UPDATE_FIELDS: dict[str, Any] = {
    "updates_total": 0,
    "updates_admitted": 0,
    "wft_speculative": False,
    "wft_speculative_started_at": None,
    "wft_speculative_nonce": None,
}


@dataclass(frozen=True, slots=True)
class ResetRequest:
    """Either `event_id` or `reset_type` names the point (`build_id` with BuildId)."""

    namespace_id: str
    workflow_id: str
    run_id: str | None
    reason: str
    identity: str | None
    event_id: int | None = None
    reset_type: ResetType | None = None
    build_id: str | None = None
    exclude: frozenset[ReapplyType] = frozenset()
    request_key: idempotency.RequestKey | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One event of the base run: as stored (`text`, to copy it byte for byte) and parsed."""

    event_id: int
    event_type: str
    event_time: datetime
    text: str
    attributes: dict[str, Any]


@dataclass
class _Pending:
    """What the copied history leaves open, by the id of the event that opened it."""

    activities: dict[int, Event] = field(default_factory=dict)
    activity_cancels: dict[int, int] = field(default_factory=dict)
    timers: dict[int, Event] = field(default_factory=dict)
    children: dict[int, Event] = field(default_factory=dict)
    children_initiated: int = 0
    signals: int = 0
    cancel_requested: bool = False
    search_attributes: dict[str, Any] = field(default_factory=dict)


async def reset(tx: Transition, req: ResetRequest) -> Run:
    """Reset the workflow and answer its new run. A retry with the same request id answers the
    first reset's new run and changes nothing.

    Errors: NotFound for an unknown workflow or run; InvalidArgument (400) for a point that
    is not a workflow task event of the run, or a type that finds none."""
    if req.request_key is not None:
        earlier = await idempotency.recall(tx, req.namespace_id, req.request_key)
        if earlier is not None:
            return await tx.run(earlier.run_id)
    base = await tx.find_run(req.namespace_id, req.workflow_id, req.run_id)
    if req.reset_type == ResetType.LAST_CONTINUED_AS_NEW:
        base = await _continued_from(tx, base)
    await tx.flush()
    events = await _history(tx.conn, base.id)
    started_id = _reset_point(base, events, req)
    current = await tx.find_run(req.namespace_id, req.workflow_id)
    pending: list[dict[str, Any]] = []
    if current.is_open:
        pending = await reset_updates.pending_updates(tx, current)
        await lifecycle.terminate(
            tx,
            current,
            reason=req.reason,
            identity=req.identity,
            for_reset=current.id == base.id,
        )
        await tx.flush()  # the workflow id leaves the open-run index before the new run
        if current.id == base.id:  # its buffered events joined its history on termination
            events = await _history(tx.conn, base.id)
    accepted = await reset_updates.accepted_updates(tx, base)
    new_run = _new_run(tx, base)
    copied, after = events[:started_id], events[started_id:]
    for event in copied:
        tx.copy_event(new_run, event.event_type, event.event_time, event.text)
    _record_reset(tx, new_run, base, copied, req)
    rebuilt = _pending(copied)
    await _rebuild(tx, new_run, base, rebuilt)
    reapplied = _reapply(tx, new_run, after, rebuilt, req.exclude, accepted)
    await reset_updates.carry(tx, new_run, started_id, accepted, reapplied)
    await reset_updates.move_pending(tx, new_run, pending)
    reapplied_signals = (
        sum(1 for e in after if e.event_type == E.WORKFLOW_EXECUTION_SIGNALED)
        if ReapplyType.SIGNAL not in req.exclude
        else 0
    )
    new_run.set(
        signal_count=rebuilt.signals + reapplied_signals,
        cancel_requested=rebuilt.cancel_requested,
    )
    await workflow_tasks.schedule(tx, new_run)
    base.set(reset_run_id=new_run.id)
    tx.note(logging.INFO, "workflow run reset", base, new_run_id=new_run.id, reset_task=started_id)
    if req.request_key is not None:
        await idempotency.remember(tx, req.namespace_id, req.request_key, "reset", new_run)
    return new_run


# -- the reset point ----------------------------------------------------------------------------


async def _continued_from(tx: Transition, run: Run) -> Run:
    """LastContinuedAsNew: the run that continued as new into this one (Temporal's CLI resets
    that run to its last workflow task, the one that continued as new)."""
    previous_id = run.continued_from_run_id
    previous = await tx.run(previous_id) if previous_id else None
    if previous is None or previous.status != RunStatus.CONTINUED_AS_NEW:
        raise InvalidArgument(
            f"run '{run.id}' was not continued from a run that continued as new",
            field="reset_type",
        )
    return previous


async def _history(conn: Connection, run_id: str) -> list[Event]:
    rows = await conn.execute(
        sa.select(
            history_events.c.event_id,
            history_events.c.event_type,
            history_events.c.event_time,
            history_events.c.attributes,
        )
        .where(history_events.c.run_id == run_id)
        .order_by(history_events.c.event_id)
    )
    return [Event(r[0], r[1], r[2], r[3], load(r[3]) or {}) for r in rows]


def _started_of(event: Event) -> int | None:
    """The WORKFLOW_TASK_STARTED event id a reset to `event` cuts the history after."""
    if event.event_type == E.WORKFLOW_TASK_STARTED:
        return event.event_id
    started = event.attributes.get("started_event_id")
    return started if isinstance(started, int) else None


def _reset_point(base: Run, events: list[Event], req: ResetRequest) -> int:
    """The WORKFLOW_TASK_STARTED event id of the task the reset re-decides."""
    completed = [e for e in events if e.event_type == E.WORKFLOW_TASK_COMPLETED]
    chosen: Event | None
    if req.event_id is not None:
        chosen = events[req.event_id - 1] if 0 < req.event_id <= len(events) else None
        if chosen is None or chosen.event_type not in POINT_EVENTS:
            raise InvalidArgument(
                f"event {req.event_id} of run '{base.id}' is not a WORKFLOW_TASK_COMPLETED, "
                "_FAILED, _TIMED_OUT or _STARTED event",
                field="event_id",
            )
    elif req.reset_type == ResetType.FIRST_WORKFLOW_TASK:
        chosen = completed[0] if completed else None
    elif req.reset_type == ResetType.BUILD_ID:
        chosen = next((e for e in completed if task_build_id(e.attributes) == req.build_id), None)
        if chosen is None:
            raise InvalidArgument(
                f"no workflow task of run '{base.id}' was completed by build id '{req.build_id}'",
                field="build_id",
            )
    else:  # LastWorkflowTask, LastContinuedAsNew (on the run that continued as new)
        chosen = _last_task(base, events, completed)
    started = _started_of(chosen) if chosen is not None else None
    if started is None:
        raise InvalidArgument(
            f"run '{base.id}' has no completed workflow task to reset to", field="reset_type"
        )
    return started


def _last_task(base: Run, events: list[Event], completed: list[Event]) -> Event | None:
    """The last completed workflow task. For a failed run of a stored definition, the last one
    before the task that failed the run: re-deciding that one runs the failed state again, as
    Step Functions' RedriveExecution does (the definition decides the same way every time, so
    re-deciding the failing task itself would only fail again)."""
    if base.decider != "queue" and base.status == RunStatus.FAILED:
        closing = next(
            (e for e in reversed(events) if e.event_type == E.WORKFLOW_EXECUTION_FAILED), None
        )
        failing = closing.attributes.get("workflow_task_completed_event_id") if closing else None
        completed = [e for e in completed if e.event_id != failing]
    return completed[-1] if completed else None


# -- the new run ----------------------------------------------------------------------------------


def _new_run(tx: Transition, base: Run) -> Run:
    """The new run's row: the base's, with a new id, started now, no workflow task yet."""
    data = dict(base.data)
    run_id = new_id()
    data.update(
        id=run_id,
        status=RunStatus.RUNNING.value,
        start_time=tx.now,
        execution_time=tx.now,
        close_time=None,
        continued_to_run_id=None,
        result=None,
        failure=None,
        next_event_id=1,
        history_bytes=0,
        wft_state="none",
        wft_scheduled_event_id=None,
        wft_started_event_id=None,
        wft_attempt=1,
        wft_identity=None,
        last_completed_started_event_id=0,
        buffered_events=0,
        cancel_requested=False,
        signal_count=0,
        children_started=0,
        search_attributes=None,
        reset_run_id=None,
        reset_from_run_id=base.id,
        pause_info=None,
    )
    for name, empty in UPDATE_FIELDS.items():  # the new run's updates: reset_updates.carry
        if name in data:
            data[name] = empty
    return tx.add_new_run(data)


def _record_reset(
    tx: Transition, run: Run, base: Run, copied: list[Event], req: ResetRequest
) -> None:
    """WORKFLOW_TASK_FAILED of the reset task, cause RESET_WORKFLOW (Temporal's shape)."""
    started = copied[-1]
    tx.append(
        run,
        E.WORKFLOW_TASK_FAILED,
        {
            "scheduled_event_id": started.attributes.get("scheduled_event_id"),
            "started_event_id": started.event_id,
            "cause": "RESET_WORKFLOW",
            "failure": {"message": req.reason, "type": "ResetWorkflow"},
            "identity": req.identity,
            "base_run_id": base.id,
            "new_run_id": run.id,
        },
    )


def _pending(copied: list[Event]) -> _Pending:
    """Walk the copied history: activities, timers and children it leaves open, signals and
    the search attributes it set."""
    p = _Pending()
    for e in copied:
        a, kind = e.attributes, e.event_type
        if kind == E.WORKFLOW_EXECUTION_STARTED:
            p.search_attributes.update(a.get("search_attributes") or {})
        elif kind == E.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            p.search_attributes.update(a.get("search_attributes") or {})
        elif kind == E.WORKFLOW_EXECUTION_SIGNALED:
            p.signals += 1
        elif kind == E.WORKFLOW_EXECUTION_CANCEL_REQUESTED:
            p.cancel_requested = True
        elif kind == E.ACTIVITY_TASK_SCHEDULED:
            p.activities[e.event_id] = e
        elif kind == E.ACTIVITY_TASK_CANCEL_REQUESTED:
            p.activity_cancels[a["scheduled_event_id"]] = e.event_id
        elif kind in ACTIVITY_CLOSE_EVENTS:
            p.activities.pop(a["scheduled_event_id"], None)
        elif kind == E.TIMER_STARTED:
            p.timers[e.event_id] = e
        elif kind in (E.TIMER_FIRED, E.TIMER_CANCELED):
            p.timers.pop(a["started_event_id"], None)
        elif kind == E.START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            p.children_initiated += 1
        elif kind == E.CHILD_WORKFLOW_EXECUTION_STARTED:
            p.children[a["initiated_event_id"]] = e
        elif kind in CHILD_CLOSE_EVENTS:
            p.children.pop(a["initiated_event_id"], None)
    return p


async def _rebuild(tx: Transition, run: Run, base: Run, p: _Pending) -> None:
    """Set up again what the copied history leaves pending: activities run again (attempt 1),
    timers fire at their original times, open children report to the new run."""
    attributes = {k: v for k, v in p.search_attributes.items() if v not in (None, [])}
    await search_attributes.upsert(tx, run, attributes)
    for scheduled_id, e in sorted(p.activities.items()):
        a = e.attributes
        await activities.schedule(
            tx,
            run,
            scheduled_event_id=scheduled_id,
            activity_id=a["activity_id"],
            activity_type=a["activity_type"],
            task_queue=a["task_queue"],
            input_text=dump(a.get("input")) if a.get("input") is not None else None,
            timeouts=activities.ActivityTimeouts(
                a.get("schedule_to_close_timeout"),
                a.get("schedule_to_start_timeout"),
                a.get("start_to_close_timeout"),
                a.get("heartbeat_timeout"),
            ),
            retry_policy=RetryPolicy.from_json(a.get("retry_policy")),
        )
        if scheduled_id in p.activity_cancels:  # the workflow asked before the point
            await tx.conn.execute(
                sa.update(activity_rows)
                .where(
                    activity_rows.c.run_id == run.id,
                    activity_rows.c.scheduled_event_id == scheduled_id,
                )
                .values(
                    cancel_requested=True,
                    cancel_requested_event_id=p.activity_cancels[scheduled_id],
                )
            )
    for started_id, e in sorted(p.timers.items()):
        fire_at = e.event_time + timedelta(seconds=e.attributes["start_to_fire_timeout"])
        await tx.add_timer(run, TIMER_USER, fire_at, ref=started_id, label=e.attributes["timer_id"])
    run.set(children_started=p.children_initiated)
    for initiated_id in sorted(p.children):
        # Still open: it reports to the new run from now on (Temporal keeps such children).
        await tx.conn.execute(
            sa.update(workflow_runs)
            .where(
                workflow_runs.c.parent_run_id == base.id,
                workflow_runs.c.parent_initiated_event_id == initiated_id,
                workflow_runs.c.status == RunStatus.RUNNING.value,
            )
            .values(parent_run_id=run.id)
        )
    if run.run_timeout:
        await tx.add_timer_after(run, lifecycle.TIMER_RUN_TIMEOUT, run.run_timeout)
    if run.execution_deadline is not None:
        await tx.add_timer(run, lifecycle.TIMER_EXECUTION_TIMEOUT, run.execution_deadline)
    if base.decider != "queue":  # a stored definition decides: the new run follows it too
        await tx.conn.execute(
            sa.insert(definition_runs).from_select(
                ["run_id", "namespace_id", "definition_id", "name", "version"],
                sa.select(
                    sa.literal(run.id),
                    definition_runs.c.namespace_id,
                    definition_runs.c.definition_id,
                    definition_runs.c.name,
                    definition_runs.c.version,
                ).where(definition_runs.c.run_id == base.id),
            )
        )


def _reapply(
    tx: Transition,
    run: Run,
    after: list[Event],
    p: _Pending,
    exclude: frozenset[ReapplyType],
    accepted: dict[int, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Append, in their order, the events after the point the new run must see: signals
    (unless excluded), updates accepted after it as WORKFLOW_EXECUTION_UPDATE_ADMITTED (unless
    excluded), and the closing of the children that stayed connected. Answers the updates
    reapplied (app/engine/reset_updates.py admits them again)."""
    reapplied: list[dict[str, Any]] = []
    for e in after:
        if e.event_type == E.WORKFLOW_EXECUTION_SIGNALED:
            if ReapplyType.SIGNAL not in exclude:
                tx.append(run, E.WORKFLOW_EXECUTION_SIGNALED, e.attributes)
        elif e.event_type == E.WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            row = accepted.get(e.event_id)
            if row is not None and ReapplyType.UPDATE not in exclude:
                reset_updates.reapply_event(tx, run, row)
                reapplied.append(row)
        elif e.event_type in CHILD_CLOSE_EVENTS:
            if e.attributes.get("initiated_event_id") in p.children:
                tx.append(run, E(e.event_type), e.attributes)
    return reapplied
