"""The in-server decider for runs of stored definitions (`decider = 'asl'`), and how such a
run starts: in one transition with the pin to its definition version."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from typing import Any

import orjson
import sqlalchemy as sa

from app.db.hot import hot
from app.db.tables import activities, definition_runs, history_events, tasks, workflow_runs
from app.definitions import aliases, resources, store
from app.definitions.interpreter import CHILD_META, Decider, RunInfo, replay
from app.engine import activities as activities_engine
from app.engine import decisions, lifecycle
from app.engine.service import Engine
from app.engine.transition import Run, Transition
from app.errors import FailedPrecondition, NotFound

DECIDER = "asl"
# The task queue recorded for runs of stored definitions when the start names none.
DEFAULT_TASK_QUEUE = "perdure-definitions"
MAX_CACHED = 10_000
# A run's pin and a definition version never change: read and parse each once per process.
_pins: OrderedDict[str, tuple[str, int, dict[str, Any]]] = OrderedDict()
# What the decision just made needs done once it is applied (see `after_decision`).
_followups: dict[str, set[str]] = {}

HISTORY = hot(
    sa.select(history_events.c.event_type, history_events.c.attributes)
    .where(history_events.c.run_id == sa.bindparam("run_id"))
    .order_by(history_events.c.event_id)
)


def _iso(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")


async def _pin(tx: Transition, run_id: str) -> tuple[str, int, dict[str, Any]]:
    """(definition name, version, document) the run follows."""
    cached = _pins.get(run_id)
    if cached is not None:
        return cached
    pin = await store.pinned(tx.conn, run_id)
    if pin is None or pin.document is None:
        raise FailedPrecondition(f"run '{run_id}' has no stored definition to follow")
    return _remember_pin(run_id, pin.definition_id, pin.name, pin.version, pin.document)


def _remember_pin(
    run_id: str, definition_id: str, name: str, version: int, text: str
) -> tuple[str, int, dict[str, Any]]:
    cached = _pins[run_id] = (name, version, store.document_of(definition_id, text))
    if len(_pins) > MAX_CACHED:
        _pins.popitem(last=False)
    return cached


def _followups_of(commands: list[dict[str, Any]]) -> set[str]:
    needs = set()
    for command in commands:
        if command["command_type"] == "START_CHILD_WORKFLOW_EXECUTION":
            needs.add("children")
        elif command["command_type"] == "SCHEDULE_ACTIVITY_TASK":
            queue = command["attributes"]["task_queue"]
            if queue == resources.CALLBACK_QUEUE:
                needs.add("callbacks")
            elif queue == resources.HTTP_QUEUE:
                needs.add("http")
    return needs


async def decide(tx: Transition, run: Run) -> list[dict[str, Any]]:
    name, version, document = await _pin(tx, run.id)
    known = tx.new_run_history(run.id)  # a run this transaction started: all in memory
    if known is not None:
        events = [(e["event_type"], orjson.loads(e["attributes"])) for e in known]
    else:
        rows = (await tx.conn.execute(HISTORY, {"run_id": run.id})).all()
        events = [(event_type, orjson.loads(attributes)) for event_type, attributes in rows]
    info = RunInfo(
        run_id=run.id,
        workflow_id=run.workflow_id,
        input=events[0][1].get("input") if events else None,
        start_time=_iso(run.start_time),
        definition_name=name,
        definition_version=version,
        namespace_id=run.namespace_id,
        completed_event_id=run.next_event_id,
    )
    commands = Decider(document, info, replay(events), tx.now).decide()
    needs = _followups_of(commands)
    if needs:
        _followups[run.id] = needs
    else:
        _followups.pop(run.id, None)
    return commands


async def start(
    engine: Engine,
    req: lifecycle.StartRequest,
    name: str,
    version: int | None,
    alias: str | None = None,
) -> tuple[Run, bool]:
    """Start a run of the definition (latest version unless one is named, or the version
    `alias` draws), pinned to it."""
    return await engine.transact(lambda tx: start_in(tx, req, name, version, alias))


async def start_in(
    tx: Transition,
    req: lifecycle.StartRequest,
    name: str,
    version: int | None,
    alias: str | None = None,
) -> tuple[Run, bool]:
    """`start` inside a transition the caller runs (a schedule's action)."""
    if alias is not None:
        row = await aliases.resolve(tx.conn, req.namespace_id, name, alias)
    else:
        row = await store.version_row(tx.conn, req.namespace_id, name, version)
    document = store.document_of(row.id, row.document)
    timeout = document.get("TimeoutSeconds")
    pinned_req = replace(
        req,
        workflow_type=name,
        decider=DECIDER,
        execution_timeout=req.execution_timeout or timeout,
    )
    run, created = await lifecycle.start(tx, pinned_req)
    if created:
        await store.pin(tx.conn, run.id, req.namespace_id, row, alias)
        _remember_pin(run.id, row.id, row.name, row.version, row.document)
    return run, created


CALLBACKS_SCHEDULED = hot(
    sa.select(activities).where(
        activities.c.run_id == sa.bindparam("run_id"),
        activities.c.task_queue == resources.CALLBACK_QUEUE,
        activities.c.state == "scheduled",
    )
)
UNPINNED_CHILDREN = hot(
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
    needs = _followups.pop(run.id, set())
    if not needs:
        return
    await tx.flush()
    if "http" in needs:
        tx.wake_keys.add(HTTP_WAKE_KEY)
    if "callbacks" in needs:
        await _start_callbacks(tx, run)
    if "children" in needs:
        await _pin_children(tx, run)


async def _start_callbacks(tx: Transition, run: Run) -> None:
    callbacks = await tx.conn.execute(CALLBACKS_SCHEDULED, {"run_id": run.id})
    for activity in callbacks.mappings().all():
        await tx.conn.execute(
            sa.delete(tasks).where(
                tasks.c.run_id == run.id,
                tasks.c.kind == "activity",
                tasks.c.scheduled_event_id == activity["scheduled_event_id"],
            )
        )
        await activities_engine.start(tx, run, activity, "perdure:callback")


async def _pin_children(tx: Transition, run: Run) -> None:
    children = await tx.conn.execute(UNPINNED_CHILDREN, {"run_id": run.id})
    for child_id, memo in children.all():
        meta = (orjson.loads(memo) if memo else {}).get(CHILD_META) or {}
        child = await tx.run(child_id)
        alias = meta.get("alias")
        try:
            if alias:
                row = await aliases.resolve(tx.conn, run.namespace_id, meta.get("name", ""), alias)
            else:
                row = await store.version_row(
                    tx.conn, run.namespace_id, meta.get("name", ""), meta.get("version")
                )
        except NotFound as err:
            if child.is_open:
                await lifecycle.terminate(tx, child, reason=err.detail, identity="perdure:asl")
            continue
        await store.pin(tx.conn, child_id, run.namespace_id, row, alias)


HTTP_WAKE_KEY = "definitions:http"

decisions.inline_deciders[DECIDER] = decide
decisions.inline_after_apply[DECIDER] = after_decision
