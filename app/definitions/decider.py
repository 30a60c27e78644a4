"""The in-server decider for runs of stored definitions (`decider = 'asl'`), and how such a
run starts: in one transition with the pin to its definition version."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import sqlalchemy as sa

from app.db.tables import activities, definition_runs, history_events, tasks, workflow_runs
from app.definitions import resources, store
from app.definitions.interpreter import CHILD_META, Decider, RunInfo, replay
from app.engine import activities as activities_engine
from app.engine import decisions, lifecycle
from app.engine.service import Engine
from app.engine.transition import Run, Transition
from app.errors import FailedPrecondition, NotFound

DECIDER = "asl"
# Definition versions are immutable: parse each once per process.
_documents: dict[str, dict[str, Any]] = {}

HISTORY = (
    sa.select(history_events.c.event_type, history_events.c.attributes)
    .where(history_events.c.run_id == sa.bindparam("run_id"))
    .order_by(history_events.c.event_id)
)


def _iso(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")


async def decide(tx: Transition, run: Run) -> list[dict[str, Any]]:
    pin = await store.pinned(tx.conn, run.id)
    if pin is None or pin.document is None:
        raise FailedPrecondition(f"run '{run.id}' has no stored definition to follow")
    document = _documents.get(pin.definition_id)
    if document is None:
        document = _documents.setdefault(pin.definition_id, orjson.loads(pin.document))
    rows = (await tx.conn.execute(HISTORY, {"run_id": run.id})).all()
    events = [(row.event_type, orjson.loads(row.attributes)) for row in rows]
    info = RunInfo(
        run_id=run.id,
        workflow_id=run.workflow_id,
        input=events[0][1].get("input") if events else None,
        start_time=_iso(run.start_time),
        definition_name=pin.name,
        definition_version=pin.version,
        namespace_id=run.namespace_id,
        completed_event_id=run.next_event_id,
    )
    return Decider(document, info, replay(events), tx.now).decide()


async def start(
    engine: Engine, req: lifecycle.StartRequest, name: str, version: int | None
) -> tuple[Run, bool]:
    """Start a run of the definition (latest version unless one is named), pinned to it."""

    async def body(tx: Transition) -> tuple[Run, bool]:
        row = await store.get(tx.conn, req.namespace_id, name, version)
        timeout = row["definition"].get("TimeoutSeconds")
        pinned_req = replace(
            req,
            workflow_type=name,
            decider=DECIDER,
            execution_timeout=req.execution_timeout or timeout,
        )
        run, created = await lifecycle.start(tx, pinned_req)
        if created:
            await store.pin(tx.conn, run.id, req.namespace_id, row)
        return run, created

    return await engine.transact(body)


CALLBACKS_SCHEDULED = sa.select(activities).where(
    activities.c.run_id == sa.bindparam("run_id"),
    activities.c.task_queue == resources.CALLBACK_QUEUE,
    activities.c.state == "scheduled",
)
UNPINNED_CHILDREN = (
    sa.select(workflow_runs.c.id, workflow_runs.c.memo)
    .select_from(
        workflow_runs.outerjoin(definition_runs, definition_runs.c.run_id == workflow_runs.c.id)
    )
    .where(
        workflow_runs.c.parent_run_id == sa.bindparam("run_id"),
        workflow_runs.c.decider == DECIDER,
        definition_runs.c.run_id.is_(None),
    )
)


async def after_decision(tx: Transition, run: Run) -> None:
    """In the transaction of the decision: start the activities whose task tokens it handed
    out (so the tokens can be completed), pin the child runs it started, and wake the HTTP
    loop for the requests it scheduled."""
    await tx.flush()
    for activity in (await tx.conn.execute(CALLBACKS_SCHEDULED, {"run_id": run.id})).mappings():
        await tx.conn.execute(
            sa.delete(tasks).where(
                tasks.c.run_id == run.id,
                tasks.c.kind == "activity",
                tasks.c.scheduled_event_id == activity["scheduled_event_id"],
            )
        )
        await activities_engine.start(tx, run, activity, "perdure:callback")
    for child_id, memo in (await tx.conn.execute(UNPINNED_CHILDREN, {"run_id": run.id})).all():
        meta = (orjson.loads(memo) if memo else {}).get(CHILD_META) or {}
        child = await tx.run(child_id)
        try:
            row = await store.get(
                tx.conn, run.namespace_id, meta.get("name", ""), meta.get("version")
            )
        except NotFound as err:
            if child.is_open:
                await lifecycle.terminate(tx, child, reason=err.detail, identity="perdure:asl")
            continue
        await store.pin(tx.conn, child_id, run.namespace_id, row)
    if await tx.conn.scalar(HTTP_SCHEDULED, {"run_id": run.id}):
        tx.wake_keys.add(HTTP_WAKE_KEY)


HTTP_WAKE_KEY = "definitions:http"
HTTP_SCHEDULED = sa.select(sa.func.count()).where(
    tasks.c.run_id == sa.bindparam("run_id"),
    tasks.c.kind == "activity",
    tasks.c.task_queue == resources.HTTP_QUEUE,
)

decisions.inline_deciders[DECIDER] = decide
decisions.inline_after_apply[DECIDER] = after_decision
