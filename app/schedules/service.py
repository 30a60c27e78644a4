"""Schedule operations for the API and the console: create, describe, list, update, pause,
unpause, trigger, backfill, delete and the matching times of a spec.

Writes are engine transitions (they may start workflows); reads use a reader connection.
Shapes follow Temporal's Python SDK (Schedule, ScheduleSpec, SchedulePolicy, ScheduleState,
ScheduleInfo); durations are seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import namespaces, schedule_actions, schedules, timers
from app.definitions import store as definition_store
from app.engine import concurrency, priority
from app.engine.bounds import later
from app.engine.commands import workflow_retry_policy
from app.engine.limits import MAX_ID_LENGTH
from app.engine.payloads import dump_payload
from app.engine.search_attributes import validate as validate_search_attributes
from app.engine.service import Engine
from app.engine.transition import Transition
from app.errors import AlreadyExists, Conflict, InvalidArgument, LimitExceeded, NotFound
from app.ids import new_id
from app.pagination import decode_token, encode_token
from app.schedules import firing, rows
from app.schedules.buffer import OverlapPolicy, Start
from app.schedules.rows import Schedule
from app.schedules.spec import CompiledSpec, canonicalize, iso

# A namespace holds at most this many schedules unless its settings say `max_schedules`.
DEFAULT_MAX_SCHEDULES = 1000
MAX_BACKFILL_TIMES = 1000  # per request; split longer ranges
FUTURE_ACTIONS = 10  # Temporal's FutureActionCount
LIST_ACTIONS = 5  # Temporal's counts for lists
MAX_MATCHING_TIMES = 1000
# Appended to the action's workflow id: "-" and an RFC 3339 second ("2026-11-25T02:00:00Z").
NOMINAL_SUFFIX = len("-2026-11-25T02:00:00Z")
SYSTEM_SEARCH_ATTRIBUTES = (firing.SCHEDULED_BY, firing.SCHEDULED_START_TIME)


# -- validation ----------------------------------------------------------------------------------


def _action(value: dict[str, Any], schedule_id: str) -> dict[str, Any]:
    where = "schedule.action.start_workflow"
    start = value.get("start_workflow")
    if not isinstance(start, dict):
        raise InvalidArgument(f"{where}: the action starts a workflow", field=where)
    if (start.get("workflow_type") is None) == (start.get("definition") is None):
        raise InvalidArgument(
            f"{where}: set exactly one of workflow_type and definition", field=where
        )
    if start.get("workflow_type") is not None and not start.get("task_queue"):
        raise InvalidArgument(
            f"{where}.task_queue: required with workflow_type", field=f"{where}.task_queue"
        )
    workflow_id = start.get("workflow_id") or schedule_id
    if len(workflow_id) > MAX_ID_LENGTH - NOMINAL_SUFFIX:
        raise InvalidArgument(
            f"{where}.workflow_id: at most {MAX_ID_LENGTH - NOMINAL_SUFFIX} characters (the "
            "nominal time is appended)",
            field=f"{where}.workflow_id",
        )
    attributes = validate_search_attributes(
        start.get("search_attributes"), field=f"{where}.search_attributes"
    )
    for name in SYSTEM_SEARCH_ATTRIBUTES:
        if name in attributes:
            raise InvalidArgument(
                f"{where}.search_attributes.{name}: set by the schedule itself",
                field=f"{where}.search_attributes.{name}",
            )
    retry = workflow_retry_policy(start.get("retry_policy"), field=f"{where}.retry_policy")
    dump_payload(start.get("input"), field=f"{where}.input")
    dump_payload(start.get("memo"), field=f"{where}.memo")
    definition = start.get("definition")
    action_priority = priority.parse(start.get("priority"), field=f"{where}.priority").to_json()
    keys = concurrency.check_concurrency_keys(
        start.get("concurrency_keys"), field=f"{where}.concurrency_keys"
    )
    return {
        "workflow_type": start.get("workflow_type"),
        "task_queue": start.get("task_queue"),
        "definition": dict(definition) if definition else None,
        "workflow_id": workflow_id,
        "input": start.get("input"),
        "execution_timeout": start.get("execution_timeout"),
        "run_timeout": start.get("run_timeout"),
        "task_timeout": start.get("task_timeout"),
        "retry_policy": orjson.loads(retry) if retry else None,
        "memo": start.get("memo"),
        "search_attributes": attributes or None,
        **({"priority": action_priority} if action_priority else {}),
        **({"concurrency_keys": orjson.loads(keys)} if keys else {}),
    }


async def action_problem(conn: Connection, namespace_id: str, action: Any) -> str | None:
    """Why the action's stored definition (or the version of it it names) cannot run — it
    does not exist, or no longer — in one sentence; None when it can (or the action starts a
    code-first workflow type)."""
    definition = (action or {}).get("definition")
    if not definition:
        return None
    name, version = definition["name"], definition.get("version")
    try:
        await definition_store.version_row(conn, namespace_id, name, version)
    except NotFound:
        which = f"version {version} of definition" if version is not None else "definition"
        return f"The action cannot run: {which} '{name}' does not exist in this namespace."
    return None


async def _require_definition(conn: Connection, namespace_id: str, action: Any) -> None:
    """A schedule may not name a definition that does not exist: each firing would fail
    (issue 28). 400 naming the field."""
    problem = await action_problem(conn, namespace_id, action)
    if problem is not None:
        where = "schedule.action.start_workflow.definition"
        raise InvalidArgument(
            f"{where}: {problem.removeprefix('The action cannot run: ')}", field=where
        )


def row_fields(schedule: dict[str, Any], schedule_id: str, *, creating: bool) -> dict[str, Any]:
    """A schedule (spec, action, policy, state) as the columns that store it; InvalidArgument
    with a `field` naming what is wrong."""
    spec = canonicalize(schedule.get("spec") or {}, "schedule.spec")
    action = _action(schedule.get("action") or {}, schedule_id)
    policy = schedule.get("policy") or {}
    state = schedule.get("state") or {}
    limited = bool(state.get("limited_actions"))
    remaining = int(state.get("remaining_actions") or 0)
    if remaining < 0 or (creating and limited != (remaining > 0)):
        # Temporal: on create, limited_actions goes with a positive remaining_actions.
        raise InvalidArgument(
            "schedule.state: set limited_actions together with a positive remaining_actions",
            field="schedule.state.remaining_actions",
        )
    window = policy.get("catchup_window")
    return {
        "spec": rows.json_text(spec),
        "action": rows.json_text(action),
        "overlap_policy": OverlapPolicy(policy.get("overlap") or OverlapPolicy.SKIP).value,
        "catchup_window": float(window) if window is not None else rows.DEFAULT_CATCHUP_WINDOW,
        "pause_on_failure": bool(policy.get("pause_on_failure")),
        "paused": bool(state.get("paused")),
        "notes": state.get("note") or None,
        "limited_actions": limited,
        "remaining_actions": remaining,
    }


def _backfill_starts(schedule: Schedule, backfills: list[dict[str, Any]]) -> list[Start]:
    """Temporal's backfill: the spec's times in [start_at, end_at] as if they passed now."""
    starts: list[Start] = []
    for i, item in enumerate(backfills):
        where = f"backfill.{i}"
        start_at, end_at = item["start_at"], item["end_at"]
        if start_at.tzinfo is None or end_at.tzinfo is None or end_at < start_at:
            raise InvalidArgument(
                f"{where}: start_at and end_at are times with offsets, start_at first",
                field=where,
            )
        room = MAX_BACKFILL_TIMES - len(starts) + 1
        # Inclusive of start_at: from a second before it (or from it, at the first second).
        after = later(start_at, timedelta(seconds=-1)) or start_at
        found = schedule.compiled.times(after, until=end_at, count=room)
        if len(found) == room:
            raise InvalidArgument(
                f"{where}: at most {MAX_BACKFILL_TIMES} times per request; split the range",
                field=where,
            )
        overlap = OverlapPolicy(item["overlap"]) if item.get("overlap") else None
        starts += [Start("backfill", t.nominal, t.actual, overlap) for t in found]
    return starts


# -- writes ---------------------------------------------------------------------------------------


async def _check_room(tx: Transition, namespace_id: str) -> None:
    query = sa.select(namespaces.c.settings).where(namespaces.c.id == namespace_id)
    if tx.is_postgres:
        query = query.with_for_update()  # creates in one namespace take turns at the count
    settings = await tx.conn.scalar(query) or {}
    cap = settings.get("max_schedules")
    cap = DEFAULT_MAX_SCHEDULES if cap is None else cap
    count = await tx.conn.scalar(
        sa.select(sa.func.count()).where(schedules.c.namespace_id == namespace_id)
    )
    if count >= cap:
        raise LimitExceeded(
            f"the namespace has {count} schedules, its limit (settings.max_schedules)",
            limit=cap,
        )


async def create(
    engine: Engine,
    namespace_id: str,
    schedule_id: str,
    schedule: dict[str, Any],
    *,
    trigger_immediately: bool = False,
    backfill: Sequence[dict[str, Any]] = (),
    memo: dict[str, Any] | None = None,
    search_attributes: dict[str, Any] | None = None,
) -> None:
    fields = row_fields(schedule, schedule_id, creating=True)
    memo_text = dump_payload(memo, field="memo")
    attributes = validate_search_attributes(search_attributes)

    async def body(tx: Transition) -> None:
        taken = await tx.conn.scalar(
            sa.select(schedules.c.id).where(
                schedules.c.namespace_id == namespace_id, schedules.c.schedule_id == schedule_id
            )
        )
        if taken:
            raise AlreadyExists(f"schedule '{schedule_id}' already exists", schedule_id=schedule_id)
        await _require_definition(tx.conn, namespace_id, orjson.loads(fields["action"]))
        await _check_room(tx, namespace_id)
        row = {
            "id": new_id(),
            "namespace_id": namespace_id,
            "schedule_id": schedule_id,
            **fields,
            "memo": memo_text,
            "search_attributes": rows.json_text(attributes or None),
            "action_count": 0,
            "missed_catchup_window": 0,
            "overlap_skipped": 0,
            "buffer_dropped": 0,
            "last_processed_time": tx.now,
            "conflict_token": 1,
            "created_at": tx.now,
            "updated_at": None,
        }
        await tx.conn.execute(sa.insert(schedules), row)
        created = Schedule(row)
        extra = _backfill_starts(created, list(backfill))
        if trigger_immediately:
            extra.insert(0, Start("trigger", tx.now, tx.now))
        await firing.advance(tx, created, extra)

    await engine.transact(body)


async def _change(engine: Engine, namespace_id: str, schedule_id: str, change) -> Any:
    """Lock the schedule, apply `change(tx, schedule)`, then take what came due."""

    async def body(tx: Transition) -> Any:
        schedule = await rows.lock(tx, namespace_id, schedule_id)
        extra = await change(tx, schedule) or []
        await firing.advance(tx, schedule, extra)
        return extra

    return await engine.transact(body)


async def update(
    engine: Engine,
    namespace_id: str,
    schedule_id: str,
    schedule: dict[str, Any],
    *,
    conflict_token: int | None = None,
    search_attributes: dict[str, Any] | None = None,
) -> None:
    """Replace spec, action, policy and state (Temporal's UpdateSchedule). Times before now
    are not taken under the new spec. 409 when `conflict_token` is stale."""
    fields = row_fields(schedule, schedule_id, creating=False)
    attributes = (
        None if search_attributes is None else validate_search_attributes(search_attributes)
    )

    async def change(tx: Transition, current: Schedule) -> None:
        if conflict_token is not None and conflict_token != current.conflict_token:
            raise Conflict(
                f"schedule '{schedule_id}' changed since it was read (conflict_token "
                f"{conflict_token}, now {current.conflict_token}); read it again",
                conflict_token=current.conflict_token,
            )
        await _require_definition(tx.conn, namespace_id, orjson.loads(fields["action"]))
        current.set(
            **fields,
            updated_at=tx.now,
            last_processed_time=rows.later(tx.now, current.last_processed_time),
            conflict_token=current.conflict_token + 1,
        )
        if attributes is not None:
            current.set(search_attributes=rows.json_text(attributes or None))

    await _change(engine, namespace_id, schedule_id, change)


async def pause(
    engine: Engine, namespace_id: str, schedule_id: str, note: str | None, *, paused: bool
) -> None:
    """Pause or unpause with a note. Times that pass while paused are never taken."""

    async def change(tx: Transition, schedule: Schedule) -> None:
        if paused == schedule.paused:
            schedule.set(notes=note or schedule.notes)
            return
        if not paused:
            # Resume from now: the times passed while paused are not caught up.
            schedule.set(last_processed_time=rows.later(tx.now, schedule.last_processed_time))
        schedule.set(
            paused=paused,
            notes=note or ("paused via API" if paused else "unpaused via API"),
            conflict_token=schedule.conflict_token + 1,
        )

    await _change(engine, namespace_id, schedule_id, change)


async def trigger(
    engine: Engine, namespace_id: str, schedule_id: str, overlap: OverlapPolicy | None
) -> dict[str, Any]:
    """Take the action now (Temporal's TriggerImmediately); answers what became of it."""

    async def change(tx: Transition, schedule: Schedule) -> list[Start]:
        return [Start("trigger", tx.now, tx.now, overlap)]

    (start,) = await _change(engine, namespace_id, schedule_id, change)
    return {
        "outcome": start.outcome,
        "workflow_id": start.run.workflow_id if start.run else None,
        "run_id": start.run.id if start.run else None,
        "error": start.error,
    }


async def backfill(
    engine: Engine, namespace_id: str, schedule_id: str, backfills: list[dict[str, Any]]
) -> dict[str, int]:
    """Take the spec's times in each range as if they passed now, under each range's policy."""

    async def change(tx: Transition, schedule: Schedule) -> list[Start]:
        return _backfill_starts(schedule, backfills)

    starts = await _change(engine, namespace_id, schedule_id, change)
    outcomes: dict[str, int] = {"started": 0, "buffered": 0, "skipped": 0, "failed": 0}
    for start in starts:
        outcomes[start.outcome] = outcomes.get(start.outcome, 0) + 1
    return outcomes


async def delete(engine: Engine, namespace_id: str, schedule_id: str) -> None:
    """Delete the schedule; workflows it started keep running (as in Temporal)."""

    async def body(tx: Transition) -> None:
        schedule = await rows.lock(tx, namespace_id, schedule_id)
        await _delete_rows(tx.conn, [schedule.id])

    await engine.transact(body)


async def _delete_rows(conn: Connection, keys: list[str] | sa.ScalarSelect) -> None:
    await conn.execute(sa.delete(timers).where(timers.c.schedule_key.in_(keys)))
    await conn.execute(sa.delete(schedule_actions).where(schedule_actions.c.schedule_key.in_(keys)))
    await conn.execute(sa.delete(schedules).where(schedules.c.id.in_(keys)))


async def delete_namespace_schedules(conn: Connection, namespace_id: str) -> None:
    keys = sa.select(schedules.c.id).where(schedules.c.namespace_id == namespace_id)
    await _delete_rows(conn, keys.scalar_subquery())


# -- reads ----------------------------------------------------------------------------------------


def _schedule_body(schedule: Schedule) -> dict[str, Any]:
    return {
        "spec": orjson.loads(schedule.spec),
        "action": {"start_workflow": schedule.action},
        "policy": {
            "overlap": schedule.overlap_policy,
            "catchup_window": schedule.catchup_window,
            "pause_on_failure": schedule.pause_on_failure,
        },
        "state": {
            "note": schedule.notes,
            "paused": schedule.paused,
            "limited_actions": schedule.limited_actions,
            "remaining_actions": schedule.remaining_actions,
        },
    }


def _action_result(row: Any) -> dict[str, Any]:
    return {
        "scheduled_at": row.scheduled_time,
        "started_at": row.started_at,
        "workflow_id": row.workflow_id,
        "first_execution_run_id": row.run_id,
        "status": row.status,
        "origin": row.origin,
    }


async def describe(conn: Connection, namespace_id: str, schedule_id: str) -> dict[str, Any]:
    """Temporal's DescribeSchedule: the schedule as stored (cron expressions compiled into
    calendars), and its info: counts, running and recent actions, the next action times."""
    schedule = await rows.read(conn, namespace_id, schedule_id)
    running = await rows.actions_in(conn, schedule.id, "running")
    buffered = await rows.actions_in(conn, schedule.id, "buffered")
    recent = await rows.recent(conn, schedule.id, firing.RECENT_ACTIONS)
    return {
        "schedule_id": schedule.schedule_id,
        "schedule": _schedule_body(schedule),
        "info": {
            "num_actions": schedule.action_count,
            "num_actions_missed_catchup_window": schedule.missed_catchup_window,
            "num_actions_skipped_overlap": schedule.overlap_skipped,
            "buffer_dropped": schedule.buffer_dropped,
            "buffer_size": len(buffered),
            "running_actions": [
                {"workflow_id": r.workflow_id, "first_execution_run_id": r.run_id}
                for r in running
                if r.overlap_policy != OverlapPolicy.ALLOW_ALL
            ],
            "recent_actions": [_action_result(r) for r in reversed(recent)],
            "next_action_times": firing.next_times(schedule, FUTURE_ACTIONS),
            "action_problem": await action_problem(conn, namespace_id, schedule.action),
            "created_at": schedule.created_at,
            "last_updated_at": schedule.updated_at,
        },
        "memo": orjson.loads(schedule.memo) if schedule.memo else None,
        "search_attributes": orjson.loads(schedule.search_attributes)
        if schedule.search_attributes
        else {},
        "conflict_token": schedule.conflict_token,
    }


async def list_schedules(
    conn: Connection, namespace_id: str, *, page_size: int, page_token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Schedules by id, each with its spec, state, latest actions and next times."""
    query = (
        sa.select(schedules)
        .where(schedules.c.namespace_id == namespace_id)
        .order_by(schedules.c.schedule_id)
        .limit(page_size + 1)
    )
    position = decode_token(page_token, length=1)
    if position is not None:
        query = query.where(schedules.c.schedule_id > str(position[0]))
    found = [Schedule(dict(r)) for r in (await conn.execute(query)).mappings().all()]
    token = encode_token([found[page_size - 1].schedule_id]) if len(found) > page_size else None
    found = found[:page_size]
    started = (
        await conn.execute(
            sa.select(schedule_actions)
            .where(
                schedule_actions.c.schedule_key.in_([s.id for s in found]),
                schedule_actions.c.started_at.is_not(None),
            )
            .order_by(schedule_actions.c.started_at, schedule_actions.c.id)
        )
    ).all()
    by_schedule: dict[str, list[Any]] = {}
    for row in started:
        by_schedule.setdefault(row.schedule_key, []).append(row)
    items = []
    for schedule in found:
        action = schedule.action
        definition = action.get("definition")
        items.append(
            {
                "schedule_id": schedule.schedule_id,
                "workflow_type": action.get("workflow_type") or (definition or {}).get("name"),
                "spec": orjson.loads(schedule.spec),
                "state": {"note": schedule.notes, "paused": schedule.paused},
                "recent_actions": [
                    _action_result(r) for r in by_schedule.get(schedule.id, [])[-LIST_ACTIONS:]
                ],
                "next_action_times": firing.next_times(schedule, LIST_ACTIONS),
                "memo": orjson.loads(schedule.memo) if schedule.memo else None,
                "search_attributes": orjson.loads(schedule.search_attributes)
                if schedule.search_attributes
                else {},
            }
        )
    return items, token


async def matching_times(
    conn: Connection,
    namespace_id: str,
    schedule_id: str,
    *,
    start_time: datetime,
    end_time: datetime | None,
    count: int,
) -> list[str]:
    """Temporal's ListScheduleMatchingTimes: the action times (with jitter) after start_time
    and at most end_time, up to `count`; whether or not the schedule is paused."""
    schedule = await rows.read(conn, namespace_id, schedule_id)
    return preview(schedule.compiled, start_time, end_time, count)


def preview(
    spec: CompiledSpec, start_time: datetime, end_time: datetime | None, count: int
) -> list[str]:
    # Inclusive of start_time: from a second before it (or from it, at the first second).
    after = later(start_time, timedelta(seconds=-1)) or start_time
    found = spec.times(after, until=end_time, count=count)
    return [iso(t.actual) for t in found]
