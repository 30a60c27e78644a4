"""Where a run of a stored definition is, for describe: its definition version and the states
it is in now (read from the interpreter's markers)."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import definition_runs, history_events
from app.definitions.interpreter import ENTERED, EXITED, FRAME_ENDED
from app.definitions.resources import CALLBACK_QUEUE
from app.engine.events import RunStatus


async def current_states(conn: Connection, run_id: str) -> list[str]:
    rows = await conn.execute(
        sa.select(history_events.c.attributes)
        .where(
            history_events.c.run_id == run_id,
            history_events.c.event_type == "MARKER_RECORDED",
        )
        .order_by(history_events.c.event_id)
    )
    frames: dict[str, str | None] = {}
    for (text,) in rows:
        marker = orjson.loads(text)
        details = marker.get("details") or {}
        key = orjson.dumps(details.get("frame")).decode()
        if marker.get("marker_name") == ENTERED:
            frames[key] = details.get("state")
        elif marker.get("marker_name") == FRAME_ENDED:
            frames[key] = None
    # A frame is current only while every frame around it is too.
    live: list[str] = []
    for key, state in frames.items():
        path = orjson.loads(key)
        if state is None or any(
            frames.get(orjson.dumps(path[:i]).decode()) != path[i][0] for i in range(len(path))
        ):
            continue
        live.append(state)
    return live


async def describe_definition(conn: Connection, described: dict[str, Any]) -> dict[str, Any]:
    """The describe answer with `definition` added for runs of stored definitions."""
    pin = (
        await conn.execute(
            sa.select(
                definition_runs.c.name, definition_runs.c.version, definition_runs.c.alias
            ).where(definition_runs.c.run_id == described["run_id"])
        )
    ).one_or_none()
    if pin is None:
        return described
    states = (
        await current_states(conn, described["run_id"])
        if described["status"] == RunStatus.RUNNING
        else []
    )
    return {
        **described,
        "waiting_on": _callback_wait(described.get("waiting_on"), states),
        "definition": {
            "name": pin.name,
            "version": pin.version,
            **({"alias": pin.alias} if pin.alias is not None else {}),
            "current_states": states,
        },
    }


def _callback_wait(wait: dict[str, Any] | None, states: list[str]) -> dict[str, Any] | None:
    """A waitForTaskToken state waits on a queue no worker polls by design: it waits for
    whoever holds the token, which is what the operator needs to hear."""
    if wait is None:
        return None
    activity = wait.get("activity_id") or ""
    if wait.get("task_queue") != CALLBACK_QUEUE:
        # The interpreter's activity ids are its bookkeeping; the operator knows the state.
        if activity.startswith("asl:") and len(states) == 1:
            message = wait["message"].replace(f"Activity '{activity}'", f"State '{states[0]}'")
            return {**wait, "message": message}
        return wait
    which = f"State '{states[0]}'" if len(states) == 1 else "A waitForTaskToken state"
    return {
        **wait,
        "kind": "CALLBACK",
        "message": f"{which} waits for its task token to be completed, failed or heartbeated "
        "(POST …/activity-tasks/complete).",
    }


async def steps(conn: Connection, run_id: str, *, limit: int = 1000) -> list[dict[str, Any]]:
    """Each state a run of a definition entered, in order: `{state, frame, input, output,
    error, entered_event_id}` (output/error once it exited). At most `limit` steps."""
    rows = await conn.execute(
        sa.select(history_events.c.event_id, history_events.c.attributes)
        .where(
            history_events.c.run_id == run_id,
            history_events.c.event_type == "MARKER_RECORDED",
        )
        .order_by(history_events.c.event_id)
    )
    found: list[dict[str, Any]] = []
    open_steps: dict[str, dict[str, Any]] = {}
    for event_id, text in rows:
        marker = orjson.loads(text)
        details = marker.get("details") or {}
        key = orjson.dumps([details.get("frame"), details.get("state")]).decode()
        if marker.get("marker_name") == ENTERED and len(found) < limit:
            step = {
                "state": details.get("state"),
                "frame": details.get("frame"),
                "input": details.get("input"),
                "output": None,
                "error": None,
                "exited": False,
                "entered_event_id": event_id,
            }
            found.append(step)
            open_steps[key] = step
        elif marker.get("marker_name") == EXITED and key in open_steps:
            step = open_steps.pop(key)
            step.update(output=details.get("output"), error=details.get("error"), exited=True)
    return found
