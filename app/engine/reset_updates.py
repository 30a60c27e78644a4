"""What a reset does with the base run's updates (Temporal's reset with Workflow Update).

Updates accepted before the reset point are in the copied history: the new run keeps them
(completed ones with their outcome, the others accepted, their handlers run again on replay).
Updates accepted after it are reapplied, unless UPDATE is excluded: the new run's history gets
WORKFLOW_EXECUTION_UPDATE_ADMITTED (origin REAPPLY, the request) where the acceptance stood,
and the update is admitted again, so the reset task carries it to the worker as a Request.
Rejected updates left nothing to reapply; ones never accepted were aborted with the base run.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.db.tables import workflow_updates
from app.engine.events import E
from app.engine.transition import Run, Transition
from app.engine.updates import request_body


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
