"""What `describe` shows of the operator controls: reset links and points, pause state."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import history_events, timers
from app.engine.events import E, RunStatus
from app.engine.payloads import load
from app.errors import WorkflowPaused

# activities.TIMER_RETRY (not imported: app/engine/activities imports the engine's writers).
TIMER_RETRY = "activity_retry"
# Temporal keeps at most this many auto-reset points per run.
MAX_RESET_POINTS = 20


def task_build_id(attributes: dict[str, Any]) -> str | None:
    """The build id a WORKFLOW_TASK_COMPLETED carries (`worker_version.build_id` or
    `build_id`), else the worker's identity: Perdure has no worker versioning yet, so a
    worker names its build in its identity."""
    version = attributes.get("worker_version")
    if isinstance(version, dict) and version.get("build_id"):
        return str(version["build_id"])
    found = attributes.get("build_id") or attributes.get("identity")
    return str(found) if found is not None else None


def shown_activity_state(activity: Any) -> str:
    """A pending activity's state as Temporal names it: PAUSED when a paused one waits,
    PAUSE_REQUESTED while a paused one's attempt is still under way."""
    if activity["paused"]:
        return "PAUSE_REQUESTED" if activity["state"] == "started" else "PAUSED"
    return str(activity["state"]).upper()


async def next_attempts(conn: Connection, run_id: str) -> dict[int, Any]:
    """When each activity of the run waiting out a retry back-off tries again, by its
    scheduled event id (Temporal's `next_attempt_schedule_time`); ix_timers_run_id serves it."""
    rows = await conn.execute(
        sa.select(timers.c.ref, timers.c.fire_at).where(
            timers.c.run_id == run_id, timers.c.kind == TIMER_RETRY
        )
    )
    return {ref: fire_at for ref, fire_at in rows}


async def reset_points(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    """Temporal's auto-reset points of a run: for each build id (or worker identity) the first
    workflow task it completed, oldest first, at most MAX_RESET_POINTS."""
    rows = await conn.execute(
        sa.select(
            history_events.c.event_id, history_events.c.event_time, history_events.c.attributes
        )
        .where(
            history_events.c.run_id == run_id,
            history_events.c.event_type == E.WORKFLOW_TASK_COMPLETED.value,
        )
        .order_by(history_events.c.event_id)
    )
    points: dict[str | None, dict[str, Any]] = {}
    for event_id, event_time, text in rows:
        build_id = task_build_id(load(text) or {})
        if build_id not in points and len(points) < MAX_RESET_POINTS:
            points[build_id] = {
                "build_id": build_id,
                "run_id": run_id,
                "first_workflow_task_completed_id": event_id,
                "create_time": event_time,
                "resettable": True,
            }
    return list(points.values())


async def operator_view(conn: Connection, row: Any) -> dict[str, Any]:
    """The describe fields of reset and pause for a run row; a paused run waits on whoever
    paused it (`waiting_on` kind PAUSED) before anything else."""
    pause_info = load(row["pause_info"]) if row["status"] == RunStatus.RUNNING else None
    view: dict[str, Any] = {
        "reset_run_id": row["reset_run_id"],
        "reset_from_run_id": row["reset_from_run_id"],
        "reset_points": await reset_points(conn, row["id"]),
        "pause_info": pause_info,
    }
    if pause_info is not None:
        who = pause_info.get("identity") or "an operator"
        why = pause_info.get("reason")
        view["waiting_on"] = {
            "kind": "PAUSED",
            "message": f"Paused by {who}"
            + (f": {why}" if why else "")
            + "; no workflow task is dispatched until it is unpaused.",
            "since": pause_info.get("pause_time"),
            "until": None,
            "task_queue": row["task_queue"],
            "activity_id": None,
            "timer_id": None,
            "workflow_id": None,
            "others": 0,
        }
    return view


def require_not_paused(row: Any, what: str) -> None:
    """Refuse `what` (a query, an update) on a paused run (a run row or a `Run`'s data):
    409 workflow-paused, naming who paused it and why (Temporal's Workflow Pause)."""
    if row["status"] != RunStatus.RUNNING or row.get("pause_info") is None:
        return
    info = load(row["pause_info"]) or {}
    raise WorkflowPaused(
        f"workflow '{row['workflow_id']}' is paused; {what} is refused until it is unpaused",
        workflow_id=row["workflow_id"],
        run_id=row["id"],
        paused_by=info.get("identity"),
        pause_reason=info.get("reason"),
    )
