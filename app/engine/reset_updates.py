"""What a reset does with the base run's updates (Temporal's reset with Workflow Update).

Updates accepted before the reset point are in the copied history: the new run keeps them
(completed ones with their outcome, the others accepted, their handlers run again on replay).
Updates accepted after it are reapplied, unless UPDATE is excluded: the new run's history gets
WORKFLOW_EXECUTION_UPDATE_ADMITTED (origin REAPPLY, the request) where the acceptance stood,
and the update is admitted again, so the reset task carries it to the worker as a Request.
Rejected updates left nothing to reapply. Updates the terminated run had admitted but not
yet accepted follow to the new run, as they follow a continue-as-new (`move_pending`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.db.tables import workflow_updates
from app.engine.events import E
from app.engine.transition import Run, Transition
from app.engine.updates import request_body

# The states of an update admitted but not yet accepted: waiting, or sent in a workflow task.
PENDING_STATES = ("admitted", "sent")


async def accepted_updates(tx: Transition, base: Run) -> dict[int, dict[str, Any]]:
    """The base run's accepted (and completed) updates, by the id of their acceptance event."""
    if not base.data.get("updates_total"):
        return {}
    rows = (
        (
            await tx.conn.execute(
                sa.select(workflow_updates)
                .where(
                    workflow_updates.c.run_id == base.id,
                    workflow_updates.c.accepted_event_id.is_not(None),
                )
                .order_by(workflow_updates.c.id)
            )
        )
        .mappings()
        .all()
    )
    return {row["accepted_event_id"]: dict(row) for row in rows}


async def pending_updates(tx: Transition, run: Run) -> list[dict[str, Any]]:
    """The run's updates admitted (or sent to a worker) but not yet accepted, oldest first;
    read before the reset terminates the run, which would abort them."""
    if not run.data.get("updates_total"):
        return []
    rows = (
        (
            await tx.conn.execute(
                sa.select(workflow_updates)
                .where(
                    workflow_updates.c.run_id == run.id,
                    workflow_updates.c.state.in_(PENDING_STATES),
                )
                .order_by(workflow_updates.c.id)
            )
        )
        .mappings()
        .all()
    )
    return [dict(row) for row in rows]


async def move_pending(tx: Transition, run: Run, pending: list[dict[str, Any]]) -> None:
    """Admit the terminated run's `pending` updates on the reset's new run and mark them moved
    there, so their callers follow (app/engine/updating.py) instead of getting 409
    workflow-closed. Temporal answers them ErrWorkflowClosing, which its frontend retries on
    the workflow's current run: the reset's new one; app/engine/updates.on_run_closed moves
    them the same way for continue-as-new. No event is written: an admitted update has none
    until the worker accepts it. An update id the new run already has (one reapplied from the
    base run) keeps that one, and this copy stays aborted."""
    if not pending:
        return
    taken = set(
        (
            await tx.conn.execute(
                sa.select(workflow_updates.c.update_id).where(workflow_updates.c.run_id == run.id)
            )
        ).scalars()
    )
    moving = [row for row in pending if row["update_id"] not in taken]
    for row in moving:
        await _insert(
            tx,
            run,
            row,
            state="admitted",
            accepted_event_id=None,
            completed_event_id=None,
            outcome=None,
        )
    if not moving:
        return
    await tx.conn.execute(
        sa.update(workflow_updates)
        .where(workflow_updates.c.id.in_([row["id"] for row in moving]))
        .values(state="moved", moved_to_run_id=run.id)
    )
    run.set(
        updates_total=run.data.get("updates_total", 0) + len(moving),
        updates_admitted=run.data.get("updates_admitted", 0) + len(moving),
    )


def reapply_event(tx: Transition, run: Run, row: dict[str, Any]) -> None:
    """WORKFLOW_EXECUTION_UPDATE_ADMITTED of a reapplied update, in the new run's history."""
    tx.append(
        run,
        E.WORKFLOW_EXECUTION_UPDATE_ADMITTED,
        {"request": request_body(row), "origin": "REAPPLY"},
    )


async def carry(
    tx: Transition,
    run: Run,
    started_id: int,
    accepted: dict[int, dict[str, Any]],
    reapplied: list[dict[str, Any]],
) -> None:
    """Give the new run the base's updates: those accepted before the point as they were
    there, `reapplied` ones admitted again (the reset task delivers them)."""
    kept = 0
    for accepted_id, row in sorted(accepted.items()):
        if accepted_id > started_id:
            continue
        completed = (
            row["completed_event_id"] is not None and row["completed_event_id"] <= started_id
        )
        await _insert(
            tx,
            run,
            row,
            state="completed" if completed else "accepted",
            accepted_event_id=accepted_id,
            completed_event_id=row["completed_event_id"] if completed else None,
            outcome=row["outcome"] if completed else None,
        )
        kept += 1
    for row in reapplied:
        await _insert(
            tx,
            run,
            row,
            state="admitted",
            accepted_event_id=None,
            completed_event_id=None,
            outcome=None,
        )
    if kept or reapplied:
        run.set(updates_total=kept + len(reapplied), updates_admitted=len(reapplied))


async def _insert(tx: Transition, run: Run, row: dict[str, Any], **values: Any) -> None:
    await tx.conn.execute(
        sa.insert(workflow_updates).values(
            namespace_id=run.namespace_id,
            run_id=run.id,
            workflow_id=run.workflow_id,
            update_id=row["update_id"],
            name=row["name"],
            args=row["args"],
            header=row["header"],
            identity=row["identity"],
            payload_bytes=row["payload_bytes"],
            sent_started_event_id=None,
            moved_to_run_id=None,
            created_at=tx.now,
            **values,
        )
    )
