"""The workflow task of a run: at most one outstanding, scheduled → started → closed.

While a task is being completed, anything that would schedule the next one is deferred until
the completing task's events are all written, so the new WORKFLOW_TASK_SCHEDULED comes last.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.statements import SELECT_RUN
from app.db.tables import timers
from app.engine import priority, updates
from app.engine.events import E
from app.engine.limits import MAX_COUNTER, WFT_RETRY_MAX_BACKOFF
from app.engine.transition import Run, Transition, update_suggestion

TIMER_WFT_TIMEOUT = "wft_timeout"
TIMER_WFT_BACKOFF = "wft_backoff"
# Ends the back-off of a run's first workflow task: a start delay, a workflow retry's back-off
# or a continue-as-new back-off (Temporal's WorkflowBackoffTimer).
TIMER_FIRST_TASK_BACKOFF = "start_delay"


def needs_decision(tx: Transition, run: Run) -> None:
    """Something the workflow must see happened: make sure a workflow task will follow."""
    tx.decision_needed.add(run.id)


async def schedule_pending(tx: Transition) -> None:
    """Schedule the workflow tasks that this transition made necessary (called before flush):
    normal ones for new events, then speculative ones for updates waiting for a task."""
    for run_id in sorted(tx.decision_needed):
        run = await tx.run(run_id)
        await schedule(tx, run)
    tx.decision_needed.clear()
    for run_id in sorted(tx.speculative_needed):
        run = await tx.run(run_id)
        if run.data.get("updates_admitted"):
            await schedule_speculative(tx, run)
    tx.speculative_needed.clear()


async def schedule_speculative(tx: Transition, run: Run) -> None:
    """A workflow task to carry updates, whose events are written only if its completion
    needs them (Temporal's speculative workflow task: a task that only rejects updates leaves
    no trace in history). Its ids are the ones its events would get."""
    if (
        not run.is_open
        or run.wft_state != "none"
        or run.id in tx.completing
        or in_first_task_backoff(run)
        or run.decider != "queue"
        or run.data.get("pause_info") is not None  # paused: its task comes on unpause
    ):
        return  # a task is coming anyway (or the first task's back-off brings one)
    run.set(
        wft_state="scheduled",
        wft_speculative=True,
        wft_scheduled_event_id=run.next_event_id,
        wft_started_event_id=None,
    )
    if tx.hold_workflow_tasks:
        tx.held_workflow_tasks.add(run.id)
    else:
        await queue(tx, run)


def started_attributes(run: Run, identity: str | None, suggest_at: int) -> dict[str, Any]:
    """WORKFLOW_TASK_STARTED's attributes; `suggest_continue_as_new` once the run has taken
    `suggest_at` updates, 90 % of those it may (Transition.update_suggestion; Temporal's
    maxTotalUpdates.suggestContinueAsNewThreshold)."""
    attributes: dict[str, Any] = {
        "scheduled_event_id": run.wft_scheduled_event_id,
        "identity": identity,
        "attempt": run.wft_attempt,
    }
    if run.data.get("updates_total", 0) >= suggest_at:
        attributes["suggest_continue_as_new"] = True
    return attributes


def speculative_events(run: Run, now: Any, suggest_at: int) -> list[dict[str, Any]]:
    """The scheduled and started events a started speculative task shows its worker (they are
    written only if its completion keeps it); `suggest_at` as for started_attributes."""
    return [
        {
            "event_id": run.wft_scheduled_event_id,
            "event_type": E.WORKFLOW_TASK_SCHEDULED.value,
            "event_time": now,
            "attributes": {
                "task_queue": run.task_queue,
                "start_to_close_timeout": run.task_timeout,
                "attempt": run.wft_attempt,
            },
        },
        {
            "event_id": run.wft_started_event_id,
            "event_type": E.WORKFLOW_TASK_STARTED.value,
            "event_time": now,
            "attributes": started_attributes(run, run.wft_identity, suggest_at),
        },
    ]


async def speculative_tail(
    conn: Connection, run_id: str, scheduled_event_id: int, nonce: int, after_event_id: int
) -> list[dict[str, Any]]:
    """The unwritten events of a started speculative task that come after `after_event_id`,
    for the worker paging its history with the token of that task's poll answer (Temporal's
    history continuation token carries its TransientWorkflowTask the same way). Empty once
    that task is gone: written as a normal task its events are in history; dropped, it is
    stale. The task is named by its scheduled event id and nonce (a later speculative task
    may take the same ids)."""
    row = (await conn.execute(SELECT_RUN, {"run_id": run_id})).mappings().one_or_none()
    if (
        row is None
        or not row["wft_speculative"]
        or row["wft_state"] != "started"
        or row["wft_scheduled_event_id"] != scheduled_event_id
        or row["wft_speculative_nonce"] != nonce
    ):
        return []
    run = Run(dict(row))
    suggest_at = await update_suggestion(conn, run.namespace_id)
    # The times the worker was shown when it took the task (dispatch: the claim's now).
    events = speculative_events(run, run.wft_speculative_started_at, suggest_at)
    return [e for e in events if e["event_id"] > after_event_id]


async def drop_speculative(tx: Transition, run: Run) -> None:
    """End a started speculative task without a trace (it only rejected updates)."""
    await tx.cancel_timers(run, TIMER_WFT_TIMEOUT)
    run.set(wft_state="none", wft_speculative=False, wft_identity=None)


def forget_speculative(run: Run) -> None:
    """The run closes from outside: its speculative task, never written, is simply gone."""
    if run.data.get("wft_speculative"):
        run.set(wft_speculative=False)


def in_first_task_backoff(run: Run) -> bool:
    """The run was started with a back-off (start delay, workflow retry or continue-as-new
    back-off) that has not ended: it has never had a workflow task. Temporal's
    `IsWorkflowPendingOnWorkflowTaskBackoff`: until the back-off ends, events are recorded but
    schedule no task; the first task then carries all of them."""
    return run.wft_scheduled_event_id is None and run.execution_time > run.start_time


async def schedule(tx: Transition, run: Run) -> None:
    if (
        not run.is_open
        or run.wft_state != "none"
        or run.id in tx.completing
        or in_first_task_backoff(run)
        # Held back by a concurrency limit: its first task comes when a slot frees.
        or run.concurrency_state == "waiting"
    ):
        return
    await _schedule(tx, run)


async def end_first_task_backoff(tx: Transition, run: Run, *, early: bool = False) -> None:
    """Schedule the first workflow task of a run in back-off: its timer fired, or (`early`)
    the back-off is ended on purpose and its timer is dropped."""
    if not run.is_open or not in_first_task_backoff(run):
        return
    if early:
        await tx.cancel_timers(run, TIMER_FIRST_TASK_BACKOFF)
    if run.concurrency_state == "waiting":
        return  # held back by a concurrency limit: `admitted` schedules it
    await _schedule(tx, run)


async def admitted(tx: Transition, run: Run) -> None:
    """A run held back by a concurrency limit got its slot: its first workflow task now, or
    when its start delay ends if that is still to come."""
    if in_first_task_backoff(run):
        pending = await tx.conn.scalar(
            sa.select(timers.c.id)
            .where(timers.c.run_id == run.id, timers.c.kind == TIMER_FIRST_TASK_BACKOFF)
            .limit(1)
        )
        if pending is None:  # the delay ended while the run waited for its slot
            await _schedule(tx, run)
        return
    await schedule(tx, run)


async def _schedule(tx: Transition, run: Run) -> None:
    if run.data.get("pause_info") is not None:
        return  # a paused run gets its task on unpause (app/engine/pause.py)
    scheduled_id = tx.append(
        run,
        E.WORKFLOW_TASK_SCHEDULED,
        {
            "task_queue": run.task_queue,
            "start_to_close_timeout": run.task_timeout,
            "attempt": run.wft_attempt,
        },
    )
    run.set(wft_state="scheduled", wft_scheduled_event_id=scheduled_id, wft_started_event_id=None)
    if run.decider != "queue":
        tx.inline_decisions.add(run.id)
    elif tx.hold_workflow_tasks:
        tx.held_workflow_tasks.add(run.id)
    else:
        await queue(tx, run)


async def queue(tx: Transition, run: Run) -> None:
    await tx.add_task(
        run,
        kind="workflow",
        task_queue=run.task_queue,
        scheduled_event_id=run.wft_scheduled_event_id,
        attempt=run.wft_attempt,
        priority=priority.of_row(run.data),
    )


async def start(tx: Transition, run: Run, identity: str, *, inline: bool = False) -> int:
    """Start the scheduled task. An `inline` task is decided inside this very transaction, so
    it needs no time-out timer (and its close deletes none). A speculative task writes no
    event: it takes the id its started event would get."""
    if run.data.get("wft_speculative"):
        started_id: int = run.wft_scheduled_event_id + 1
        run.set(
            wft_state="started",
            wft_started_event_id=started_id,
            wft_identity=identity,
            wft_speculative_started_at=tx.now,
            wft_speculative_nonce=secrets.randbelow(MAX_COUNTER) + 1,
        )
        await tx.add_timer_after(
            run,
            TIMER_WFT_TIMEOUT,
            run.task_timeout,
            ref=run.wft_scheduled_event_id,
            attempt=run.wft_attempt,
        )
        return started_id
    # Only a run that has taken updates needs its namespace's total (one read saved a task).
    suggest_at = await tx.update_suggestion(run) if run.data.get("updates_total") else 1
    started_id = tx.append(
        run, E.WORKFLOW_TASK_STARTED, started_attributes(run, identity, suggest_at)
    )
    run.set(wft_state="started", wft_started_event_id=started_id, wft_identity=identity)
    if inline:
        tx.inline_started.add(run.id)
        return started_id
    await tx.add_timer_after(
        run,
        TIMER_WFT_TIMEOUT,
        run.task_timeout,
        ref=run.wft_scheduled_event_id,
        attempt=run.wft_attempt,
    )
    return started_id


async def close_started(tx: Transition, run: Run, event_type: E, attributes: dict[str, Any]) -> int:
    """Record the end of the started task and clear it (completion, failure or time-out)."""
    event_id = tx.append(
        run,
        event_type,
        {
            "scheduled_event_id": run.wft_scheduled_event_id,
            "started_event_id": run.wft_started_event_id,
            **attributes,
        },
    )
    if run.id in tx.inline_started:
        tx.inline_started.discard(run.id)
    else:
        await tx.cancel_timers(run, TIMER_WFT_TIMEOUT)
    run.set(wft_state="none", wft_identity=None)
    return event_id


async def fail_and_retry(
    tx: Transition, run: Run, event_type: E, attributes: dict[str, Any]
) -> None:
    """A started task failed or timed out: record it, release buffered events, retry."""
    what = "timed out" if event_type == E.WORKFLOW_TASK_TIMED_OUT else "failed"
    tx.note(
        logging.WARNING,
        f"workflow task {what}; it is retried",
        run,
        task_queue=run.task_queue,
        cause=attributes.get("cause") or attributes.get("timeout_type"),
        attempt=run.wft_attempt,
    )
    await close_started(tx, run, event_type, attributes)
    await updates.return_sent(tx, run)
    await tx.flush_buffered(run)
    attempt = run.wft_attempt + 1
    run.set(wft_attempt=attempt)
    if attempt <= 2:
        await schedule(tx, run)
    else:
        pause = min(2.0 ** (attempt - 2), WFT_RETRY_MAX_BACKOFF)
        await tx.add_timer_after(run, TIMER_WFT_BACKOFF, pause, attempt=attempt)
