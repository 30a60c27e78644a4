"""What users read: describe, list and count runs, history pages, results. Reader connections
only; long polls wait on run wake-ups, never hold a connection while waiting."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection, Row
from app.db.database import Database
from app.db.statements import (
    EVENT_COLUMNS,
    HISTORY_PAGE,
    HISTORY_PAGE_UP_TO,
    LATEST_RUN_ROW,
    SELECT_OUTCOME,
    SELECT_RUN,
)
from app.db.tables import (
    activities,
    history_events,
    task_queue_pollers,
    tasks,
    timers,
    workflow_runs,
)
from app.engine.commands import TIMER_USER
from app.engine.events import CLOSE_EVENTS, RunStatus
from app.engine.matching import queue_backlog
from app.engine.operator_view import next_attempts, operator_view, shown_activity_state
from app.engine.pause import shown_status, status_condition
from app.engine.payloads import load
from app.engine.versioning.runs import versioning_info
from app.engine.waiting import NO_POLLER_SECONDS, waiting_on
from app.engine.waits import RunWaits
from app.errors import InvalidArgument, NotFound


async def find_run_row(
    conn: Connection, namespace_id: str, workflow_id: str, run_id: str | None = None
) -> sa.RowMapping:
    if run_id:
        row = (await conn.execute(SELECT_RUN, {"run_id": run_id})).mappings().one_or_none()
        if row is not None and (
            row["namespace_id"] != namespace_id or row["workflow_id"] != workflow_id
        ):
            row = None
    else:
        row = (
            (
                await conn.execute(
                    LATEST_RUN_ROW, {"namespace_id": namespace_id, "workflow_id": workflow_id}
                )
            )
            .mappings()
            .one_or_none()
        )
    if row is None:
        which = f"run '{run_id}' of workflow" if run_id else "workflow"
        raise NotFound(f"{which} '{workflow_id}' not found", workflow_id=workflow_id)
    return row


def run_summary(row: sa.RowMapping) -> dict[str, Any]:
    return {
        "workflow_id": row["workflow_id"],
        "run_id": row["id"],
        "workflow_type": row["workflow_type"],
        "task_queue": row["task_queue"],
        "status": shown_status(row),
        "start_time": row["start_time"],
        "execution_time": row["execution_time"],
        "close_time": row["close_time"],
        "memo": load(row["memo"]),
        "search_attributes": load(row["search_attributes"]) or {},
        "parent": (
            {"workflow_id": row["parent_workflow_id"], "run_id": row["parent_run_id"]}
            if row["parent_run_id"]
            else None
        ),
        "history_length": row["next_event_id"] - 1,
    }


async def describe(
    conn: Connection,
    namespace_id: str,
    workflow_id: str,
    run_id: str | None,
    now: datetime,
    *,
    with_input: bool = False,
) -> dict[str, Any]:
    """The run (latest of the workflow id when `run_id` is None) with what it has pending and
    `waiting_on` (app/engine/waiting.py); `input` too when asked. NotFound when absent."""
    row = await find_run_row(conn, namespace_id, workflow_id, run_id)
    activity_rows = (
        (
            await conn.execute(
                sa.select(activities)
                .where(activities.c.run_id == row["id"])
                .order_by(activities.c.scheduled_event_id)
            )
        )
        .mappings()
        .all()
    )
    retries = await next_attempts(conn, row["id"]) if activity_rows else {}
    pending_activities = [
        {
            "activity_id": a["activity_id"],
            "activity_type": a["activity_type"],
            "task_queue": a["task_queue"],
            "scheduled_event_id": a["scheduled_event_id"],
            "state": shown_activity_state(a),
            "attempt": a["attempt"],
            "scheduled_time": a["scheduled_time"],
            "last_started_time": a["started_time"],
            "last_heartbeat_time": a["last_heartbeat_time"],
            "heartbeat_details": load(a["heartbeat_details"]),
            "last_failure": load(a["last_failure"]),
            "last_worker_identity": a["started_identity"],
            "cancel_requested": a["cancel_requested"],
            "paused": a["paused"],
            "pause_info": load(a["pause_info"]),
            "next_attempt_schedule_time": retries.get(a["scheduled_event_id"]),
        }
        for a in activity_rows
    ]
    pending_timers = [
        {"timer_id": t.label, "started_event_id": t.ref, "fire_time": t.fire_at}
        for t in await conn.execute(
            sa.select(timers.c.label, timers.c.ref, timers.c.fire_at)
            .where(timers.c.run_id == row["id"], timers.c.kind == TIMER_USER)
            .order_by(timers.c.ref)
        )
    ]
    children = [
        {
            "workflow_id": c.workflow_id,
            "run_id": c.id,
            "workflow_type": c.workflow_type,
            "initiated_event_id": c.parent_initiated_event_id,
            "parent_close_policy": c.parent_close_policy,
        }
        for c in await conn.execute(
            sa.select(
                workflow_runs.c.workflow_id,
                workflow_runs.c.id,
                workflow_runs.c.workflow_type,
                workflow_runs.c.parent_initiated_event_id,
                workflow_runs.c.parent_close_policy,
            ).where(
                workflow_runs.c.parent_run_id == row["id"],
                workflow_runs.c.status == RunStatus.RUNNING.value,
            )
        )
    ]
    described = {
        **run_summary(row),
        "execution_timeout": row["execution_timeout"],
        "run_timeout": row["run_timeout"],
        "task_timeout": row["task_timeout"],
        "first_run_id": row["first_run_id"],
        "continued_from_run_id": row["continued_from_run_id"],
        "continued_to_run_id": row["continued_to_run_id"],
        "attempt": row["attempt"],
        "retry_policy": load(row["retry_policy"]),
        "cancel_requested": row["cancel_requested"],
        "pending_workflow_task": (
            {
                "state": row["wft_state"].upper(),
                "scheduled_event_id": row["wft_scheduled_event_id"],
                "attempt": row["wft_attempt"],
            }
            if row["wft_state"] != "none"
            else None
        ),
        "pending_activities": pending_activities,
        "pending_timers": pending_timers,
        "pending_children": children,
        "result": load(row["result"]) if row["status"] == RunStatus.COMPLETED else None,
        "failure": load(row["failure"]),
        "waiting_on": await waiting_on(conn, row, activity_rows, pending_timers, children, now),
        **await operator_view(conn, row),
        "versioning_info": versioning_info(row),
    }
    if with_input:
        described["input"] = load(row["input"])
    return described


# -- list and count -------------------------------------------------------------------------------


@dataclass
class RunFilter:
    status: RunStatus | None = None
    workflow_type: str | None = None
    workflow_id_prefix: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    closed_after: datetime | None = None
    closed_before: datetime | None = None
    search_attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A time without an offset is read as UTC, as everywhere else in the API.
        for name in ("started_after", "started_before", "closed_after", "closed_before"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                setattr(self, name, moment.replace(tzinfo=UTC))

    def where(self, namespace_id: str) -> list[sa.ColumnElement[bool]]:
        """The namespace and column filters; search attributes are typed, so the visibility
        compiler turns them into clauses (app/visibility/listing.py)."""
        c = workflow_runs.c
        clauses: list[sa.ColumnElement[bool]] = [c.namespace_id == namespace_id]
        if self.status:
            clauses.append(status_condition(self.status))
        if self.workflow_type:
            clauses.append(c.workflow_type == self.workflow_type)
        if self.workflow_id_prefix:
            # A range, not LIKE, so the (namespace_id, workflow_id) index serves it on both databases.
            clauses.append(c.workflow_id >= self.workflow_id_prefix)
            clauses.append(c.workflow_id < self.workflow_id_prefix + "\U0010ffff")
        if self.started_after:
            clauses.append(c.start_time >= self.started_after)
        if self.started_before:
            clauses.append(c.start_time < self.started_before)
        if self.closed_after:
            clauses.append(c.close_time >= self.closed_after)
        if self.closed_before:
            clauses.append(c.close_time < self.closed_before)
        return clauses


def parse_search_attribute_filters(values: list[str]) -> dict[str, Any]:
    """`Name=value` pairs; the value is read as JSON when it parses, else as a string."""
    import orjson

    parsed: dict[str, Any] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise InvalidArgument(
                f"search_attribute filter '{item}' must look like Name=value",
                field="search_attribute",
            )
        try:
            parsed[name] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed[name] = raw
    return parsed


async def list_children(conn: Connection, run_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """Child runs started by a run (open and closed), oldest first, at most `limit`."""
    rows = await conn.execute(
        sa.select(workflow_runs)
        .where(workflow_runs.c.parent_run_id == run_id)
        .order_by(workflow_runs.c.start_time, workflow_runs.c.id)
        .limit(limit)
    )
    return [run_summary(r) for r in rows.mappings()]


# -- history and results -------------------------------------------------------------------------


def event_json(row: Row) -> dict[str, Any]:
    return {
        "event_id": row.event_id,
        "event_type": row.event_type,
        "event_time": row.event_time,
        "attributes": load(row.attributes),
    }


def _events_json(rows: Any) -> list[dict[str, Any]]:
    """`event_json` of each row of EVENT_COLUMNS, unpacked by position (cheaper than by name
    on every history page a poll answers)."""
    return [
        {
            "event_id": event_id,
            "event_type": event_type,
            "event_time": event_time,
            "attributes": load(attributes),
        }
        for event_id, event_type, event_time, attributes in rows
    ]


async def history_page(
    conn: Connection,
    run_id: str,
    *,
    after_event_id: int,
    up_to_event_id: int | None,
    page_size: int,
    event_types: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Events after `after_event_id` (up to `up_to_event_id`), oldest first, at most
    `page_size`; only those of `event_types` when given. Served by the (run_id, event_id) key."""
    if not event_types:
        params = {"run_id": run_id, "after_event_id": after_event_id, "page_size": page_size}
        if up_to_event_id is None:
            return _events_json(await conn.execute(HISTORY_PAGE, params))
        params["up_to_event_id"] = up_to_event_id
        return _events_json(await conn.execute(HISTORY_PAGE_UP_TO, params))
    query = (
        sa.select(*EVENT_COLUMNS)
        .where(history_events.c.run_id == run_id, history_events.c.event_id > after_event_id)
        .order_by(history_events.c.event_id)
        .limit(page_size)
    )
    if up_to_event_id is not None:
        query = query.where(history_events.c.event_id <= up_to_event_id)
    query = query.where(history_events.c.event_type.in_(event_types))
    return _events_json(await conn.execute(query))


def _event_ref(dialect: str) -> sa.ColumnElement[Any]:
    """The event id an event refers to: its scheduled_event_id (activities), started_event_id
    (timers) or initiated_event_id (children), read from the attributes' JSON, as text."""
    attributes = history_events.c.attributes
    parts: list[sa.ColumnElement[Any]]
    if dialect == "postgresql":
        as_json = sa.cast(attributes, sa.JSON)
        parts = [
            sa.func.json_extract_path_text(as_json, key)
            for key in ("scheduled_event_id", "started_event_id", "initiated_event_id")
        ]
    else:
        parts = [
            sa.cast(sa.func.json_extract(attributes, f"$.{key}"), sa.Text)
            for key in ("scheduled_event_id", "started_event_id", "initiated_event_id")
        ]
    return sa.func.coalesce(*parts)


async def events_referring_to(
    conn: Connection,
    run_id: str,
    event_ids: list[int],
    *,
    event_types: list[str],
) -> list[dict[str, Any]]:
    """The events of `event_types` that refer to one of `event_ids` (an activity's started and
    closed events refer to its scheduled event, a timer's fired event to its started event…),
    oldest first. The database reads the run's later events; only the matches come back, so a
    timeline page of 100 rows costs 100 rows' events whatever the history's length."""
    if not event_ids:
        return []
    query = (
        sa.select(*EVENT_COLUMNS)
        .where(
            history_events.c.run_id == run_id,
            history_events.c.event_id > min(event_ids),
            history_events.c.event_type.in_(event_types),
            _event_ref(conn.dialect.name).in_([str(i) for i in event_ids]),
        )
        .order_by(history_events.c.event_id)
    )
    return _events_json(await conn.execute(query))


async def close_event(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    row = (
        await conn.execute(
            sa.select(*EVENT_COLUMNS)
            .where(
                history_events.c.run_id == run_id,
                history_events.c.event_type.in_([e.value for e in CLOSE_EVENTS]),
            )
            .order_by(history_events.c.event_id.desc())
            .limit(1)
        )
    ).one_or_none()
    return [event_json(row)] if row else []


# An event stream reads at most this many events at a time, and fewer when they are big: those
# that begin within STREAM_SLICE_BYTES of attributes (one at least, however big). A stream
# whose reader stalls holds one slice and what the socket buffers, never a history page.
STREAM_SLICE_EVENTS = 64
STREAM_SLICE_BYTES = 64 * 1024


def _stream_slice() -> sa.Select[Any]:
    """The next slice of a run's events after :after_event_id, bounded in count and bytes: a
    running sum of the attributes' length over the next STREAM_SLICE_EVENTS picks them in the
    database, so the big ones are never read into the process beyond the first. Served by the
    (run_id, event_id) key."""
    following = (
        sa.select(*EVENT_COLUMNS)
        .where(
            history_events.c.run_id == sa.bindparam("run_id"),
            history_events.c.event_id > sa.bindparam("after_event_id"),
        )
        .order_by(history_events.c.event_id)
        .limit(STREAM_SLICE_EVENTS)
        .subquery()
    )
    size = sa.func.length(following.c.attributes)
    sized = sa.select(
        *following.c,
        (sa.func.sum(size).over(order_by=following.c.event_id) - size).label("before"),
    ).subquery()
    return (
        sa.select(sized.c.event_id, sized.c.event_type, sized.c.event_time, sized.c.attributes)
        .where(sized.c.before < STREAM_SLICE_BYTES)
        .order_by(sized.c.event_id)
    )


STREAM_SLICE = _stream_slice()


class RunWatcher:
    """Long polls on one run: wait until it has events past a point, or until it closes.
    Waits share the process's `RunWaits` (app/engine/waits.py): woken by the run's change,
    they never look at the database on a timer of their own."""

    def __init__(self, db: Database, waits: RunWaits) -> None:
        self.db = db
        self.waits = waits

    async def wait(
        self, run_id: str, ready: Any, seconds: float, *, until_closed: bool = False
    ) -> Any:
        """Call `ready(conn)` until it returns something other than None, or `seconds` pass
        (then None). It is called once at first, then once per change of the run.
        With `until_closed`, only the run's closing wakes the waiter (not every new event)."""
        deadline = time.monotonic() + seconds
        async with self.waits.watching(run_id, closed_only=until_closed) as change:
            while True:
                change.clear()
                async with self.db.read() as conn:
                    found = await ready(conn)
                remaining = deadline - time.monotonic()
                # Shutting down: answer with what there is now, as a timeout would.
                if found is not None or remaining <= 0 or self.waits.draining:
                    return found
                if not await change.wait(remaining):
                    return None

    async def follow(
        self, run_id: str, after_event_id: int, keepalive_seconds: float
    ) -> AsyncIterator[list[Row]]:
        """The run's events after `after_event_id` (rows of EVENT_COLUMNS, attributes as the
        stored JSON text, never parsed) in small slices as they are recorded (at
        most STREAM_SLICE_BYTES of them, one at least, read at a time: a stream whose reader is
        slow holds one slice, never a page of 1,000); an empty list when `keepalive_seconds`
        pass without any (no database look for it). Ends once the run is closed and its last
        event was given, or when the server starts shutting down. No connection is held while
        waiting or while the caller sends a slice."""
        async with self.waits.watching(run_id) as change:
            while True:
                change.clear()
                async with self.db.read() as conn:
                    params = {"run_id": run_id, "after_event_id": after_event_id}
                    events = list(await conn.execute(STREAM_SLICE, params))
                    closed = (
                        not events and (await run_row(conn, run_id))["status"] != RunStatus.RUNNING
                    )
                if events:
                    after_event_id = events[-1].event_id
                    yield events
                    del events
                    continue  # read on until caught up, then wait
                if closed or self.waits.draining:
                    return  # closed, or shutting down (the client resumes elsewhere)
                while not await change.wait(keepalive_seconds):
                    yield []
                if self.waits.draining:
                    return

    async def outcome(
        self,
        workflow_id: str,
        run_id: str,
        seconds: float,
        *,
        known: Mapping[Any, Any] | None = None,
    ) -> dict[str, Any]:
        """The outcome of the chain from this run (following continue-as-new and workflow
        retries) once it closes, or status RUNNING with the run it reached after `seconds`.
        `known`: the run's row as the caller just read it (find_run_row); when it shows the
        run closed and not continued, that is the outcome, without reading the run again."""
        if (
            known is not None
            and known["id"] == run_id
            and known["status"] != RunStatus.RUNNING
            and not known["continued_to_run_id"]
        ):
            return outcome(known)  # a closed run never changes again
        deadline = time.monotonic() + seconds
        while True:

            async def closed(conn: Connection, current: str = run_id) -> Any:
                result = await conn.execute(SELECT_OUTCOME, {"run_id": current})
                found = result.mappings().one()
                return found if found["status"] != RunStatus.RUNNING else None

            found = await self.wait(
                run_id, closed, max(0.0, deadline - time.monotonic()), until_closed=True
            )
            if found is None:
                return {
                    "workflow_id": workflow_id,
                    "run_id": run_id,
                    "status": RunStatus.RUNNING.value,
                    "result": None,
                    "failure": None,
                    "close_time": None,
                }
            if not found["continued_to_run_id"]:
                return outcome(found)
            run_id = found["continued_to_run_id"]


def outcome(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "workflow_id": row["workflow_id"],
        "run_id": row["id"],
        "status": row["status"],
        "result": load(row["result"]) if row["status"] == RunStatus.COMPLETED else None,
        "failure": load(row["failure"]),
        "close_time": row["close_time"],
    }


async def run_row(conn: Connection, run_id: str) -> sa.RowMapping:
    return (await conn.execute(SELECT_RUN, {"run_id": run_id})).mappings().one()


# -- task queues ---------------------------------------------------------------------------------


async def list_task_queues(
    conn: Connection, namespace_id: str, *, limit: int = 500
) -> list[dict[str, Any]]:
    """The namespace's task queues that were polled or hold tasks: name, last poll time,
    backlog of workflow and activity tasks. At most `limit`, by name."""
    polled = await conn.execute(
        sa.select(task_queue_pollers.c.task_queue, sa.func.max(task_queue_pollers.c.last_poll_time))
        .where(task_queue_pollers.c.namespace_id == namespace_id)
        .group_by(task_queue_pollers.c.task_queue)
        .limit(limit)
    )
    queues: dict[str, dict[str, Any]] = {
        name: {"name": name, "last_poll_time": last, "workflow_tasks": 0, "activity_tasks": 0}
        for name, last in polled
    }
    backlog = await conn.execute(
        sa.select(tasks.c.task_queue, tasks.c.kind, sa.func.count())
        .where(tasks.c.namespace_id == namespace_id)
        .group_by(tasks.c.task_queue, tasks.c.kind)
    )
    for name, kind, count in backlog:
        entry = queues.setdefault(
            name,
            {"name": name, "last_poll_time": None, "workflow_tasks": 0, "activity_tasks": 0},
        )
        entry[f"{kind}_tasks"] = int(count)
    return [queues[name] for name in sorted(queues)[:limit]]


async def describe_task_queue(
    conn: Connection, namespace_id: str, task_queue: str, now: datetime
) -> dict[str, Any]:
    """A task queue as Temporal's DescribeTaskQueue shows it: the backlog per task kind (count,
    and the age in seconds of its oldest task, None when empty) and the latest 100 pollers.
    A poller is `present` while a poll of it may be open (`open_until`, app/engine/matching/pollers.py)
    or it polled within the last minute (app/engine/waiting.py's NO_POLLER_SECONDS)."""
    backlog = {
        kind: (count, oldest)
        for kind, count, oldest in await conn.execute(
            sa.select(tasks.c.kind, sa.func.count(), sa.func.min(tasks.c.created_at))
            .where(tasks.c.namespace_id == namespace_id, tasks.c.task_queue == task_queue)
            .group_by(tasks.c.kind)
        )
    }
    recent = now - timedelta(seconds=NO_POLLER_SECONDS)
    pollers = [
        {
            "identity": p.identity,
            "kind": p.kind,
            "last_poll_time": p.last_poll_time,
            "open_until": p.open_until,
            "present": (p.open_until is not None and p.open_until > now)
            or p.last_poll_time >= recent,
        }
        for p in await conn.execute(
            sa.select(task_queue_pollers)
            .where(
                task_queue_pollers.c.namespace_id == namespace_id,
                task_queue_pollers.c.task_queue == task_queue,
            )
            .order_by(task_queue_pollers.c.last_poll_time.desc())
            .limit(100)
        )
    ]

    def age(kind: str) -> float | None:
        oldest = backlog.get(kind, (0, None))[1]
        return None if oldest is None else max(0.0, (now - oldest).total_seconds())

    return {
        "name": task_queue,
        "backlog": {
            "workflow_tasks": backlog.get("workflow", (0, None))[0],
            "activity_tasks": backlog.get("activity", (0, None))[0],
        },
        "backlog_age_seconds": {"workflow": age("workflow"), "activity": age("activity")},
        "pollers": pollers,
        **await queue_backlog.describe(conn, namespace_id, task_queue),
    }
