"""The in-server decider for runs of stored definitions (`decider = 'asl'`), and how such a
run starts: in one transition with the pin to its definition version."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import sqlalchemy as sa

from app.db.tables import history_events
from app.definitions import store
from app.definitions.interpreter import Decider, RunInfo, replay
from app.engine import decisions, lifecycle
from app.engine.service import Engine
from app.engine.transition import Run, Transition
from app.errors import FailedPrecondition

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


decisions.inline_deciders[DECIDER] = decide
