"""Pause and unpause of a run (Temporal's Workflow Pause, pre-release since server 1.30).

While a run is paused everything that happens to it is recorded — signals, activity outcomes,
timer firings, cancel requests — but no workflow task is dispatched, so its code sees them
after unpause; queries and updates are refused (409 `workflow-paused`); terminate, reset and
every timeout act as usual. The run's row keeps status RUNNING (the open-run index, and a
schedule's overlap policy, count it as running); readers show PAUSED while `pause_info` is set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa

from app.db.tables import activities as activity_rows
from app.db.tables import tasks, workflow_runs
from app.engine import idempotency, lifecycle, search_attributes, workflow_tasks
from app.engine.events import E, RunStatus
from app.engine.operator_view import require_not_paused
from app.engine.payloads import dump, load
from app.engine.transition import Run, Transition
from app.errors import FailedPrecondition

__all__ = ["require_not_paused"]  # the refusal lives in operator_view (no engine imports)

PAUSE_ATTRIBUTE = "TemporalPauseInfo"
# At most this many paused activity types are named in the attribute (its values are bounded).
MAX_PAUSED_TYPES = 20


def is_paused(run: Run | Any) -> bool:
    """Whether a run (a `Run` or a row mapping) is paused."""
    info = run.data.get("pause_info") if isinstance(run, Run) else run.get("pause_info")
    return info is not None


def shown_status(row: Any) -> str:
    """The status a reader sees: PAUSED for a running run that is paused."""
    status: str = row["status"]
    if status == RunStatus.RUNNING and row.get("pause_info") is not None:
        return RunStatus.PAUSED.value
    return status


def status_condition(status: RunStatus) -> sa.ColumnElement[bool]:
    """The runs a reader sees with `status`: RUNNING excludes the paused ones."""
    c = workflow_runs.c
    if status == RunStatus.PAUSED:
        return sa.and_(c.status == RunStatus.RUNNING.value, c.pause_info.is_not(None))
    if status == RunStatus.RUNNING:
        return sa.and_(c.status == RunStatus.RUNNING.value, c.pause_info.is_(None))
    return c.status == status.value


def statuses_condition(chosen: set[RunStatus]) -> sa.ColumnElement[bool]:
    """Runs whose shown status is one of `chosen` (the visibility filter's ExecutionStatus);
    the IN list on the status column stays, so its index still serves the filter."""
    c = workflow_runs.c
    stored = sorted(s.value for s in chosen if s != RunStatus.PAUSED)
    if RunStatus.PAUSED in chosen and RunStatus.RUNNING not in chosen:
        return sa.or_(c.status.in_(stored), status_condition(RunStatus.PAUSED))
    test = c.status.in_(stored)
    if RunStatus.RUNNING in chosen and RunStatus.PAUSED not in chosen:
        return sa.and_(test, sa.or_(c.status != RunStatus.RUNNING.value, c.pause_info.is_(None)))
    return test


async def refresh_pause_info(tx: Transition, run: Run) -> None:
    """Set the run's TemporalPauseInfo to what is paused now, in Temporal's `<key>:<value>`
    entries: `Workflow:<workflow id>` and `Reason:ManualWorkflowPause` for a paused run,
    `Activity:<type>` and `Reason:ManualActivityPause` for its paused activities; removed when
    nothing is paused. So `TemporalPauseInfo IS NOT NULL` finds what an operator paused."""
    entries: list[str] = []
    if is_paused(run):
        entries += [f"Workflow:{run.workflow_id}", "Reason:ManualWorkflowPause"]
    paused_types = (
        (
            await tx.conn.execute(
                sa.select(activity_rows.c.activity_type)
                .where(activity_rows.c.run_id == run.id, activity_rows.c.paused.is_(True))
                .distinct()
                .order_by(activity_rows.c.activity_type)
                .limit(MAX_PAUSED_TYPES)
            )
        )
        .scalars()
        .all()
    )
    if paused_types:
        entries += [f"Activity:{t}" for t in paused_types] + ["Reason:ManualActivityPause"]
    current = (load(run.search_attributes) or {}).get(PAUSE_ATTRIBUTE)
    if (current or None) != (entries or None):
        await search_attributes.upsert(tx, run, {PAUSE_ATTRIBUTE: entries or None})


async def pause(
    tx: Transition, run: Run, *, identity: str | None, reason: str | None, request_id: str | None
) -> None:
    """Pause the open run: WORKFLOW_EXECUTION_PAUSED, `pause_info`, the TemporalPauseInfo
    search attribute, and its scheduled workflow task taken off its queue (kept scheduled,
    queued again on unpause). Pausing a paused run changes nothing. 409 for a closed run."""
    lifecycle.require_open(run)
    if is_paused(run):
        return
    info = {"identity": identity, "reason": reason, "request_id": request_id, "pause_time": tx.now}
    run.set(pause_info=dump(info))
    await tx.record(
        run,
        E.WORKFLOW_EXECUTION_PAUSED,
        {"identity": identity, "reason": reason, "request_id": request_id},
    )
    await refresh_pause_info(tx, run)
    if run.wft_state == "scheduled":
        # Not dispatched while paused: the task row goes; the task stays scheduled.
        await tx.conn.execute(
            sa.delete(tasks).where(tasks.c.run_id == run.id, tasks.c.kind == "workflow")
        )


async def unpause(
    tx: Transition, run: Run, *, identity: str | None, reason: str | None, request_id: str | None
) -> None:
    """Unpause: WORKFLOW_EXECUTION_UNPAUSED, and a workflow task so that the code sees what
    arrived meanwhile (the task scheduled before the pause is queued again). 409 for a run
    that is not paused or is closed."""
    lifecycle.require_open(run)
    if not is_paused(run):
        raise FailedPrecondition(
            f"workflow '{run.workflow_id}' is not paused", workflow_id=run.workflow_id
        )
    run.set(pause_info=None)
    await tx.record(
        run,
        E.WORKFLOW_EXECUTION_UNPAUSED,
        {"identity": identity, "reason": reason, "request_id": request_id},
    )
    await refresh_pause_info(tx, run)
    if run.wft_state == "scheduled":
        await workflow_tasks.queue(tx, run)
    elif run.wft_state == "none":
        if workflow_tasks.in_first_task_backoff(run):
            if run.execution_time <= tx.now:  # its back-off ended while it was paused
                await workflow_tasks.end_first_task_backoff(tx, run, early=True)
        else:
            workflow_tasks.needs_decision(tx, run)


async def on_run(
    tx: Transition,
    namespace_id: str,
    workflow_id: str,
    run_id: str | None,
    request_key: idempotency.RequestKey | None,
    operation: str,
    change: Callable[[Transition, Run], Awaitable[None]],
) -> Run:
    """One operator request to a run, answered from the first time when it is a retry (its
    request id seen with the same request), as signal, cancel and terminate are."""
    if request_key is not None:
        earlier = await idempotency.recall(tx, namespace_id, request_key)
        if earlier is not None:
            return await tx.run(earlier.run_id)
    run = await tx.find_run(namespace_id, workflow_id, run_id)
    await change(tx, run)
    if request_key is not None:
        await idempotency.remember(tx, namespace_id, request_key, operation, run)
    return run
