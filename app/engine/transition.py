"""One state transition: the runs it touches, the events it appends, the wake-ups it owes.

A `Transition` lives inside one database transaction. Rows of runs are loaded once (locked
on PostgreSQL), changed in memory, and written back with one UPDATE each at `flush`; events
are inserted in one batch. Wake-ups are collected and sent only after commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.statements import (
    INSERT_BUFFERED,
    INSERT_EVENTS,
    INSERT_RUN,
    INSERT_TASK,
    INSERT_TIMER,
    MAX_EVENTS_PER_INSERT,
    SELECT_RUN,
    SELECT_RUN_FOR_UPDATE,
    UPDATE_RUN,
    delete_timers_statement,
    insert_events_statement,
)
from app.db.tables import (
    buffered_events,
    namespaces,
    workflow_runs,
)
from app.engine.events import E, RunStatus
from app.engine.matching import queue_order
from app.engine.matching.wakeups import queue_key, run_key
from app.engine.payloads import dump, load
from app.engine.priority import NO_PRIORITY, Priority
from app.engine.run_limits import (
    MAX_UPDATES_PER_RUN,
    UPDATES_PER_RUN_SETTING,
    suggest_continue_as_new_at,
)
from app.engine.versioning import routing
from app.errors import NotFound


class Run:
    """A run's row, loaded for change. Attribute reads see pending changes."""

    __slots__ = ("data", "changes", "new")

    def __init__(self, data: dict[str, Any], *, new: bool = False) -> None:
        self.data = data
        self.changes: dict[str, Any] = {}
        self.new = new

    def __getattr__(self, name: str) -> Any:
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(name) from None

    def set(self, **values: Any) -> None:
        self.data.update(values)
        if not self.new:
            self.changes.update(values)

    @property
    def is_open(self) -> bool:
        return bool(self.data["status"] == RunStatus.RUNNING)


async def update_suggestion(conn: Connection, namespace_id: str) -> int:
    """Transition.update_suggestion, read outside a transition."""
    settings = await conn.scalar(
        sa.select(namespaces.c.settings).where(namespaces.c.id == namespace_id)
    )
    total = (settings or {}).get(UPDATES_PER_RUN_SETTING) or MAX_UPDATES_PER_RUN
    return suggest_continue_as_new_at(int(total))


@dataclass
class Transition:
    conn: Connection
    now: datetime
    is_postgres: bool
    runs: dict[str, Run] = field(default_factory=dict)
    wake_keys: set[str] = field(default_factory=set)
    # Tasks added per task queue key: each is offered to one waiting poll after commit.
    task_counts: dict[str, int] = field(default_factory=dict)
    # A claim saw more ready tasks in its queue than it took (app/engine/matching/dispatch.py).
    more_ready: bool = False
    # Runs that must get a workflow task once this transition's events are written.
    decision_needed: set[str] = field(default_factory=set)
    # Runs with updates to deliver: a speculative workflow task, unless another task comes.
    speculative_needed: set[str] = field(default_factory=set)
    # Runs whose workflow task is being completed right now (new tasks wait until the end).
    completing: set[str] = field(default_factory=set)
    # Runs whose new workflow task is decided inside the server (stored definitions).
    inline_decisions: set[str] = field(default_factory=set)
    # Runs whose workflow task an in-server decider has started (no time-out timer armed).
    inline_started: set[str] = field(default_factory=set)
    # Eager paths: tasks meant for the caller are held back here instead of being queued;
    # whatever the caller does not take is queued when the transition finishes.
    hold_workflow_tasks: bool = False
    held_workflow_tasks: set[str] = field(default_factory=set)
    # Activities started at once for the caller (eager execution): (run, activity row).
    eager_activities: list[tuple[Run, dict[str, Any]]] = field(default_factory=list)
    caller_identity: str | None = None
    # Versions (namespace id, deployment name, build id) a pinned run of which closed here:
    # each may be drained now (app/engine/versioning/drainage.py, at the transition's end).
    pinned_runs_closed: set[tuple[str, str, str]] = field(default_factory=set)
    # Events worth an operator's attention, logged after commit: (level, message, fields).
    notes: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    # Metric observations, applied after commit: (metric, labels, value).
    observations: list[tuple[str, tuple[str, ...], float]] = field(default_factory=list)
    # The earliest deadline this transition added (the deadline loop may need to wake sooner).
    earliest_timer: datetime | None = None
    _events: list[dict[str, Any]] = field(default_factory=list)
    # The whole history of each run this transition started, as written (see new_run_history).
    _new_run_events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _history_bytes: dict[str, int] = field(default_factory=dict)
    # Per namespace: the updates from which a workflow task suggests continue-as-new.
    _suggest_at: dict[str, int] = field(default_factory=dict)

    def note(self, level: int, message: str, run: Run, **fields: Any) -> None:
        """Log `message` about the run once this transition commits (ids only, no payloads)."""
        self.notes.append(
            (
                level,
                message,
                {
                    "namespace_id": run.namespace_id,
                    "workflow_id": run.workflow_id,
                    "run_id": run.id,
                    **fields,
                },
            )
        )

    def observe(self, metric: str, labels: tuple[str, ...], value: float = 1.0) -> None:
        """Count or time something for /metrics once this transition commits (see
        app/observability/metrics.py; a namespaced metric's first label is a namespace id)."""
        self.observations.append((metric, labels, value))

    # -- runs --------------------------------------------------------------------------------

    async def run(self, run_id: str) -> Run:
        """The run, locked for this transaction on PostgreSQL (SQLite has one writer)."""
        if run_id in self.runs:
            return self.runs[run_id]
        query = SELECT_RUN_FOR_UPDATE if self.is_postgres else SELECT_RUN
        row = (await self.conn.execute(query, {"run_id": run_id})).mappings().one_or_none()
        if row is None:
            raise NotFound(f"run '{run_id}' not found", run_id=run_id)
        run = Run(dict(row))
        self.runs[run_id] = run
        await self._loaded(run)
        return run

    async def _loaded(self, run: Run) -> None:
        # A started speculative task may have to be written by any event (a sync path):
        # what its started event said must be known before then.
        if run.data.get("wft_speculative") and run.data.get("wft_state") == "started":
            await self.update_suggestion(run)

    async def update_suggestion(self, run: Run) -> int:
        """How many updates the run must have taken for its workflow tasks to carry
        `suggest_continue_as_new`: 90 % of its namespace's `max_total_updates` (default 2,000:
        Temporal's history.maxTotalUpdates and its suggestContinueAsNewThreshold)."""
        namespace_id = run.namespace_id
        if namespace_id not in self._suggest_at:
            self._suggest_at[namespace_id] = await update_suggestion(self.conn, namespace_id)
        return self._suggest_at[namespace_id]

    async def find_run(self, namespace_id: str, workflow_id: str, run_id: str | None = None) -> Run:
        """A given run of a workflow, or its latest run, locked for change."""
        await self.flush()  # runs started earlier in this transaction must be seen
        query = sa.select(workflow_runs.c.id).where(
            workflow_runs.c.namespace_id == namespace_id, workflow_runs.c.workflow_id == workflow_id
        )
        if run_id:
            query = query.where(workflow_runs.c.id == run_id)
        else:
            query = query.order_by(
                workflow_runs.c.start_time.desc(), workflow_runs.c.id.desc()
            ).limit(1)
        found = await self.conn.scalar(query)
        if found is None:
            which = f"run '{run_id}' of workflow" if run_id else "workflow"
            raise NotFound(f"{which} '{workflow_id}' not found", workflow_id=workflow_id)
        return await self.run(found)

    async def adopt_run(self, data: dict[str, Any]) -> Run:
        """A run row this transaction has just locked by its own query."""
        run = Run(data)
        self.runs[run.id] = run
        await self._loaded(run)
        return run

    def add_new_run(self, data: dict[str, Any]) -> Run:
        run = Run(data, new=True)
        self.runs[data["id"]] = run
        self._new_run_events[data["id"]] = []
        return run

    def new_run_history(self, run_id: str) -> list[dict[str, Any]] | None:
        """The history of a run this transition started — every event it has, oldest first,
        as `append` wrote them (attributes as JSON text) — or None for any other run. What a
        reader would read back once this transition commits, without reading it."""
        events = self._new_run_events.get(run_id)
        return None if events is None else list(events)

    # -- history -----------------------------------------------------------------------------

    def append(self, run: Run, event_type: E, attributes: dict[str, Any]) -> int:
        """Append an event to the run's history now; returns its event id."""
        event_id = self._add_event(run, event_type.value, self.now, dump(attributes))
        self.wake_keys.add(run_key(run.id))
        return event_id

    def copy_event(self, run: Run, event_type: str, event_time: datetime, text: str) -> int:
        """Append an event of another run's history as it was written (a reset's new run
        copies its base's history up to the reset point, times included)."""
        event_id = self._add_event(run, event_type, event_time, text)
        self.wake_keys.add(run_key(run.id))
        return event_id

    def _add_event(self, run: Run, event_type: str, event_time: Any, text: str) -> int:
        """The run's next event, to be written at flush (and kept for a run this transition
        started, see `new_run_history`); returns its id."""
        if run.data.get("wft_speculative"):
            self._write_speculative_task(run)
        event_id: int = run.next_event_id
        event = {
            "run_id": run.id,
            "event_id": event_id,
            "event_type": event_type,
            "event_time": event_time,
            "attributes": text,
        }
        self._events.append(event)
        if (new_run_events := self._new_run_events.get(run.id)) is not None:
            new_run_events.append(event)
        run.set(next_event_id=event_id + 1, history_bytes=run.history_bytes + len(text))
        return event_id

    def _write_speculative_task(self, run: Run) -> None:
        """The run's speculative workflow task becomes a normal one: its scheduled (and, once
        started, started) events are written before any other event of the run, with the ids
        the task was given (no event was written since: every event comes through here).
        Temporal converts a speculative task so when anything else must be written."""
        run.set(wft_speculative=False)
        assert run.next_event_id == run.wft_scheduled_event_id
        started_at = run.data.get("wft_speculative_started_at")
        # Its times are the ones its worker saw (workflow.now() replays the same).
        when = started_at if run.wft_state == "started" and started_at else self.now
        self._add_event(
            run,
            E.WORKFLOW_TASK_SCHEDULED.value,
            when,
            dump(
                {
                    "task_queue": run.task_queue,
                    "start_to_close_timeout": run.task_timeout,
                    "attempt": run.wft_attempt,
                }
            ),
        )
        if run.wft_state == "started":
            # As the worker was shown it (app/engine/workflow_tasks.started_attributes).
            started = {
                "scheduled_event_id": run.wft_scheduled_event_id,
                "identity": run.wft_identity,
                "attempt": run.wft_attempt,
            }
            # Its count when it started: the updates admitted since are in updates_admitted.
            total_at_start = run.data.get("updates_total", 0) - run.data.get("updates_admitted", 0)
            # Loaded with the run (_loaded) or when the task started (workflow_tasks.start);
            # the default only if neither happened.
            suggest_at = self._suggest_at.get(
                run.namespace_id, suggest_continue_as_new_at(MAX_UPDATES_PER_RUN)
            )
            if total_at_start >= suggest_at:
                started["suggest_continue_as_new"] = True
            self._add_event(run, E.WORKFLOW_TASK_STARTED.value, when, dump(started))

    async def record(self, run: Run, event_type: E, attributes: dict[str, Any]) -> int | None:
        """Append an event that arrived from outside the run's decider. While a workflow task
        is started it is buffered (event id assigned later) and None is returned."""
        if run.wft_state == "started":
            await self.conn.execute(
                INSERT_BUFFERED,
                {
                    "run_id": run.id,
                    "event_type": event_type.value,
                    "event_time": self.now,
                    "attributes": dump(attributes),
                },
            )
            run.set(buffered_events=run.buffered_events + 1)
            return None
        return self.append(run, event_type, attributes)

    async def flush_buffered(self, run: Run) -> int:
        """Move buffered events into the history, in arrival order; returns how many."""
        if not run.buffered_events:
            return 0
        rows = (
            await self.conn.execute(
                sa.select(buffered_events)
                .where(buffered_events.c.run_id == run.id)
                .order_by(buffered_events.c.id)
            )
        ).all()
        # An activity closed while buffered names its STARTED event, whose id is only known now.
        started_ids: dict[int, int] = {}
        for row in rows:
            text = row.attributes
            if row.event_type == E.ACTIVITY_TASK_STARTED:
                started_ids[load(text)["scheduled_event_id"]] = run.next_event_id
            elif row.event_type.startswith("ACTIVITY_TASK_") and started_ids:
                attributes = load(text)
                if (
                    attributes.get("started_event_id") is None
                    and attributes["scheduled_event_id"] in started_ids
                ):
                    attributes["started_event_id"] = started_ids[attributes["scheduled_event_id"]]
                    text = dump(attributes)
            self._add_event(run, row.event_type, row.event_time, text)
        await self.conn.execute(
            sa.delete(buffered_events).where(buffered_events.c.run_id == run.id)
        )
        run.set(buffered_events=0)
        self.wake_keys.add(run_key(run.id))
        return len(rows)

    # -- tasks and timers --------------------------------------------------------------------

    async def add_task(
        self,
        run: Run,
        *,
        kind: str,
        task_queue: str,
        scheduled_event_id: int,
        attempt: int,
        priority: Priority = NO_PRIORITY,
    ) -> None:
        """Queue a task; `priority` (the run's or the activity's, inheritance done) places it
        in its queue (app/engine/matching/queue_order.py)."""
        pinned = await routing.pinned_version_for_task(self.conn, run.data, kind, task_queue)
        bucket = routing.ramp_bucket(run.workflow_id)
        target = routing.TaskTarget(self.conn, run.namespace_id, kind, task_queue, pinned, bucket)
        order = await queue_order.place(self, run.namespace_id, kind, task_queue, priority, target)
        await self.conn.execute(
            INSERT_TASK,
            {
                "namespace_id": run.namespace_id,
                "task_queue": task_queue,
                "kind": kind,
                "run_id": run.id,
                "scheduled_event_id": scheduled_event_id,
                "attempt": attempt,
                "created_at": self.now,
                "pinned_version": pinned,
                "ramp_bucket": bucket,
                **order,
            },
        )
        await self._count_task(run.namespace_id, kind, task_queue, target)

    async def _count_task(
        self, namespace_id: str, kind: str, task_queue: str, target: routing.TaskTarget
    ) -> None:
        """Owe the new task's offer to the line of the pollers that may take it: its queue's
        (unversioned pollers), or its version's on a deployment's queue (routing.py)."""
        key = queue_key(namespace_id, kind, task_queue, await target.line())
        self.wake_keys.add(key)
        self.task_counts[key] = self.task_counts.get(key, 0) + 1

    async def requeue_task(self, task: dict[str, Any]) -> None:
        """Put back a task taken out of its queue (a concurrency slot freed for it), with the
        place it had: its priority, fairness pass and queueing time."""
        created_at = task["created_at"]
        if isinstance(created_at, str):
            created_at = datetime.fromisoformat(created_at)
        await self.conn.execute(INSERT_TASK, {**task, "created_at": created_at})
        namespace_id, kind, task_queue = task["namespace_id"], task["kind"], task["task_queue"]
        target = routing.TaskTarget(
            self.conn,
            namespace_id,
            kind,
            task_queue,
            task.get("pinned_version"),
            task.get("ramp_bucket") or 0.0,
        )
        await self._count_task(namespace_id, kind, task_queue, target)

    async def add_timer(
        self,
        run: Run,
        kind: str,
        fire_at: datetime,
        *,
        ref: int = 0,
        attempt: int = 0,
        label: str | None = None,
    ) -> None:
        await self.conn.execute(
            INSERT_TIMER,
            {
                "namespace_id": run.namespace_id,
                "run_id": run.id,
                "kind": kind,
                "ref": ref,
                "attempt": attempt,
                "label": label,
                "fire_at": fire_at,
            },
        )
        if self.earliest_timer is None or fire_at < self.earliest_timer:
            self.earliest_timer = fire_at

    async def add_schedule_timer(
        self, namespace_id: str, schedule_key: str, kind: str, fire_at: datetime
    ) -> None:
        """A timer that belongs to a schedule (its next firing, or a wake-up), not to a run."""
        await self.conn.execute(
            INSERT_TIMER,
            {
                "namespace_id": namespace_id,
                "run_id": None,
                "schedule_key": schedule_key,
                "kind": kind,
                "ref": 0,
                "attempt": 0,
                "label": None,
                "fire_at": fire_at,
            },
        )
        if self.earliest_timer is None or fire_at < self.earliest_timer:
            self.earliest_timer = fire_at

    async def add_timer_after(self, run: Run, kind: str, seconds: float, **kw: Any) -> None:
        await self.add_timer(run, kind, self.now + timedelta(seconds=seconds), **kw)

    async def cancel_timers(self, run: Run, *kinds: str, ref: int | None = None) -> None:
        if ref is None:
            await self.conn.execute(
                delete_timers_statement(kinds, of_ref=False), {"run_id": run.id}
            )
        else:
            await self.conn.execute(
                delete_timers_statement(kinds, of_ref=True), {"run_id": run.id, "ref": ref}
            )

    # -- write-back --------------------------------------------------------------------------

    async def flush(self) -> None:
        if self._events:
            events, self._events = self._events, []
            if self.is_postgres and 1 < len(events) <= MAX_EVENTS_PER_INSERT:
                await self.conn.execute(
                    insert_events_statement(len(events)),
                    {
                        f"{column}_{i}": value
                        for i, event in enumerate(events)
                        for column, value in event.items()
                    },
                )
            else:
                await self.conn.execute(INSERT_EVENTS, events)
        for run in self.runs.values():
            if run.new:
                await self.conn.execute(INSERT_RUN, run.data)
                run.new = False
            elif run.changes:
                await self.conn.execute(UPDATE_RUN, {"run_pk": run.id, **run.changes})
                run.changes = {}
