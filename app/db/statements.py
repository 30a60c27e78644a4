"""The engine's prepared statements: built once, most of them hot (app/db/hot.py), each naming
the index that serves it (`# index:` — checked against the tables by tests/db/test_statements.py).

Built once because building a SQLAlchemy expression per call costs more CPU than SQLite takes
to run it (docs/adr/0002-hot-statements.md has the figures). The statements a claim runs stay
beside the claim (app/engine/matching/dispatch.py): their WHERE depends on the poller's Worker
Versioning route (app/engine/versioning/routing.py), and app/db does not import the engine.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.db.hot import hot, unread
from app.db.tables import (
    activities,
    buffered_events,
    concurrency_limits,
    history_events,
    query_tasks,
    task_queue_configs,
    task_queue_fairness,
    tasks,
    timers,
    workflow_runs,
)

# -- runs ---------------------------------------------------------------------------------------

# index: pk_workflow_runs
SELECT_RUN = hot(sa.select(workflow_runs).where(workflow_runs.c.id == sa.bindparam("run_id")))
# index: pk_workflow_runs
SELECT_RUN_FOR_UPDATE = hot(SELECT_RUN.with_for_update())
# index: pk_workflow_runs
INSERT_RUN = hot(sa.insert(workflow_runs))
# index: pk_workflow_runs
UPDATE_RUN = hot(sa.update(workflow_runs).where(workflow_runs.c.id == sa.bindparam("run_pk")))
# The latest run of a workflow id, its whole row: one probe of the index, which holds the id.
# index: ix_workflow_runs_namespace_id_workflow_id
LATEST_RUN_ROW = hot(
    sa.select(workflow_runs)
    .where(
        workflow_runs.c.namespace_id == sa.bindparam("namespace_id"),
        workflow_runs.c.workflow_id == sa.bindparam("workflow_id"),
    )
    .order_by(workflow_runs.c.start_time.desc(), workflow_runs.c.id.desc())
    .limit(1)
)
# The latest run of a workflow id and its status (a start's conflict check).
# index: ix_workflow_runs_namespace_id_workflow_id
LATEST_RUN = hot(
    sa.select(workflow_runs.c.id, workflow_runs.c.status)
    .where(
        workflow_runs.c.namespace_id == sa.bindparam("namespace_id"),
        workflow_runs.c.workflow_id == sa.bindparam("workflow_id"),
    )
    .order_by(workflow_runs.c.start_time.desc(), workflow_runs.c.id.desc())
    .limit(1)
)
# What `outcome` and the wait for it read of a run: 7 columns, not the row's 40-odd.
# index: pk_workflow_runs
SELECT_OUTCOME = hot(
    sa.select(
        workflow_runs.c.id,
        workflow_runs.c.workflow_id,
        workflow_runs.c.status,
        workflow_runs.c.result,
        workflow_runs.c.failure,
        workflow_runs.c.close_time,
        workflow_runs.c.continued_to_run_id,
    ).where(workflow_runs.c.id == sa.bindparam("run_id"))
)
# A closing run's open children ('RUNNING': RunStatus.RUNNING, as ux_workflow_runs_open_workflow_id
# spells it).
# index: ix_workflow_runs_parent_run_id
OPEN_CHILDREN = hot(
    sa.select(workflow_runs.c.id, workflow_runs.c.parent_close_policy).where(
        workflow_runs.c.parent_run_id == sa.bindparam("run_id"),
        workflow_runs.c.status == "RUNNING",
    )
)

# -- history ------------------------------------------------------------------------------------

# index: pk_history_events
INSERT_EVENTS = hot(sa.insert(history_events))
# What `event_json` reads of a history event.
EVENT_COLUMNS = (
    history_events.c.event_id,
    history_events.c.event_type,
    history_events.c.event_time,
    history_events.c.attributes,
)
# History pages without a filter on event types (what polls and long polls read).
_HISTORY_PAGE = (
    sa.select(*EVENT_COLUMNS)
    .where(
        history_events.c.run_id == sa.bindparam("run_id"),
        history_events.c.event_id > sa.bindparam("after_event_id"),
    )
    .order_by(history_events.c.event_id)
    .limit(sa.bindparam("page_size"))
)
# index: pk_history_events
HISTORY_PAGE = hot(_HISTORY_PAGE)
# index: pk_history_events
HISTORY_PAGE_UP_TO = hot(
    _HISTORY_PAGE.where(history_events.c.event_id <= sa.bindparam("up_to_event_id"))
)
# A transition's events in one multi-row INSERT on PostgreSQL, one statement per row count up
# to this many: each statement in a pipeline costs the driver (and the server) about as much
# as a row more in one. More events than this (a large decision) go as one executemany.
# SQLite keeps the executemany: its statements cost no message each.
MAX_EVENTS_PER_INSERT = 16
_EVENT_COLUMNS = ("run_id", "event_id", "event_type", "event_time", "attributes")
_insert_events: dict[int, sa.Insert] = {}


def insert_events_statement(rows: int) -> sa.Insert:
    """`INSERT INTO history_events (...) VALUES (...), ...` of `rows` rows, hot; the values of
    row i are bound as `<column>_<i>`.

    index: pk_history_events"""
    statement = _insert_events.get(rows)
    if statement is None:
        statement = _insert_events[rows] = hot(
            sa.insert(history_events).values(
                [
                    {
                        c: sa.bindparam(f"{c}_{i}", type_=history_events.c[c].type)
                        for c in _EVENT_COLUMNS
                    }
                    for i in range(rows)
                ]
            )
        )
    return statement


# index: pk_buffered_events
INSERT_BUFFERED = hot(sa.insert(buffered_events))
# index: ix_buffered_events_run_id
DELETE_RUN_BUFFER = hot(
    sa.delete(buffered_events).where(buffered_events.c.run_id == sa.bindparam("run_id"))
)

# -- tasks and timers ---------------------------------------------------------------------------

# index: pk_tasks
INSERT_TASK = hot(sa.insert(tasks))
# index: ix_tasks_run_id
DELETE_RUN_TASKS = hot(sa.delete(tasks).where(tasks.c.run_id == sa.bindparam("run_id")))
# index: pk_timers
INSERT_TIMER = hot(sa.insert(timers))
# index: ix_timers_run_id
DELETE_RUN_TIMERS = hot(sa.delete(timers).where(timers.c.run_id == sa.bindparam("run_id")))
# DELETE of a run's timers of some kinds (and one ref), one statement per set of kinds, built
# at first use: the kinds are bound with their values, so no IN list is expanded per call.
# Callers name constant kinds, so there are a few dozen at most; past the bound, they are
# built per call (correct, only slower).
_delete_timers: dict[tuple[tuple[str, ...], bool], sa.Delete] = {}
MAX_DELETE_TIMERS = 64


def delete_timers_statement(kinds: tuple[str, ...], *, of_ref: bool) -> sa.Delete:
    """`DELETE FROM timers WHERE run_id = :run_id AND kind IN (<kinds>) [AND ref = :ref]`.

    index: ix_timers_run_id"""
    key = (kinds, of_ref)
    statement = _delete_timers.get(key)
    if statement is None:
        statement = sa.delete(timers).where(
            timers.c.run_id == sa.bindparam("run_id"),
            timers.c.kind.in_([sa.bindparam(f"kind_{i}", kind) for i, kind in enumerate(kinds)]),
        )
        if of_ref:
            statement = statement.where(timers.c.ref == sa.bindparam("ref"))
        if len(_delete_timers) < MAX_DELETE_TIMERS:
            _delete_timers[key] = hot(statement)
    return statement


# -- activities ---------------------------------------------------------------------------------

# index: pk_activities
SELECT_ACTIVITY = hot(
    sa.select(activities).where(
        activities.c.run_id == sa.bindparam("run_id"),
        activities.c.scheduled_event_id == sa.bindparam("ref"),
    )
)
# index: ix_activities_run_id_activity_id
SELECT_ACTIVITY_BY_ID = hot(
    sa.select(activities).where(
        activities.c.run_id == sa.bindparam("run_id"),
        activities.c.activity_id == sa.bindparam("activity_id"),
    )
)
# index: ix_activities_run_id_activity_id
PENDING_IDS = hot(
    sa.select(activities.c.activity_id).where(activities.c.run_id == sa.bindparam("run_id"))
)
# index: pk_activities
INSERT_ACTIVITY = hot(sa.insert(activities))
# index: pk_activities
UPDATE_ACTIVITY = hot(
    sa.update(activities).where(
        activities.c.run_id == sa.bindparam("pk_run_id"),
        activities.c.scheduled_event_id == sa.bindparam("pk_ref"),
    )
)
# index: pk_activities
DELETE_ACTIVITY = hot(
    sa.delete(activities).where(
        activities.c.run_id == sa.bindparam("run_id"),
        activities.c.scheduled_event_id == sa.bindparam("ref"),
    )
)
# index: pk_activities
DELETE_RUN_ACTIVITIES = hot(
    sa.delete(activities).where(activities.c.run_id == sa.bindparam("run_id"))
)
# index: ix_tasks_run_id
DELETE_ACTIVITY_TASK = hot(
    sa.delete(tasks).where(
        tasks.c.run_id == sa.bindparam("run_id"),
        tasks.c.kind == "activity",
        tasks.c.scheduled_event_id == sa.bindparam("ref"),
    )
)

# -- queries ------------------------------------------------------------------------------------

# What every workflow-task poll runs (a look, then a claim); app/engine/queries.py adds the
# version filter of a deployment's queue to it.
PENDING_QUERY = (
    query_tasks.c.namespace_id == sa.bindparam("namespace_id"),
    query_tasks.c.task_queue == sa.bindparam("task_queue"),
    query_tasks.c.state == "pending",
    query_tasks.c.expires_at > sa.bindparam("now"),
)
# A workflow-task poll's look, in one statement: is there a pending query, a workflow task?
# index: ix_query_tasks_queue, ix_tasks_queue_order
QUERY_OR_TASK = hot(
    sa.select(
        sa.exists().where(*PENDING_QUERY).label("query"),
        sa.exists()
        .where(
            tasks.c.namespace_id == sa.bindparam("namespace_id"),
            tasks.c.kind == "workflow",
            tasks.c.task_queue == sa.bindparam("task_queue"),
        )
        .label("task"),
    )
)
# The oldest pending, unexpired query; locked, skipping those locked, on PostgreSQL.
# index: ix_query_tasks_queue
OLDEST_PENDING = hot(
    sa.select(query_tasks).where(*PENDING_QUERY).order_by(query_tasks.c.created_at).limit(1)
)
# index: ix_query_tasks_queue
OLDEST_PENDING_LOCKED = hot(OLDEST_PENDING.with_for_update(skip_locked=True))
# index: pk_query_tasks
MARK_CLAIMED = hot(
    sa.update(query_tasks)
    .where(query_tasks.c.id == sa.bindparam("query_id"))
    .values(state="claimed", claimed_by=sa.bindparam("identity"))
)

# -- task queues: configuration, concurrency limits, fairness -----------------------------------

# index: pk_task_queue_configs
SELECT_CONFIG = hot(
    sa.select(task_queue_configs).where(
        task_queue_configs.c.namespace_id == sa.bindparam("namespace_id"),
        task_queue_configs.c.kind == sa.bindparam("kind"),
        task_queue_configs.c.task_queue == sa.bindparam("task_queue"),
    )
)
# index: uq_concurrency_limits_namespace_id_name
SELECT_LIMITS = hot(
    sa.select(concurrency_limits).where(
        concurrency_limits.c.namespace_id == sa.bindparam("namespace_id")
    )
)

_f = task_queue_fairness
# Whether a queue has fairness state at all (app/engine/matching/queue_order.py).
# index: pk_task_queue_fairness
IS_FAIR = hot(
    sa.select(_f.c.fairness_key)
    .where(
        _f.c.namespace_id == sa.bindparam("namespace_id"),
        _f.c.kind == sa.bindparam("kind"),
        _f.c.task_queue == sa.bindparam("task_queue"),
    )
    .limit(1)
)
_key_pass = (
    sa.select(_f.c.fairness_pass)
    .where(
        _f.c.namespace_id == sa.bindparam("namespace_id"),
        _f.c.kind == sa.bindparam("kind"),
        _f.c.task_queue == sa.bindparam("task_queue"),
        _f.c.priority == sa.bindparam("priority"),
        _f.c.fairness_key == sa.bindparam("fairness_key"),
    )
    .scalar_subquery()
)


def _head_pass(*only: sa.ColumnElement[bool]) -> sa.ScalarSelect[Any]:
    """The head of the backlog at this priority (one index probe), among the tasks that
    `only` admits (on a deployment's queue: those the new task's pollers take)."""
    return (
        sa.select(tasks.c.fairness_pass)
        .where(
            tasks.c.namespace_id == sa.bindparam("namespace_id"),
            tasks.c.kind == sa.bindparam("kind"),
            tasks.c.task_queue == sa.bindparam("task_queue"),
            tasks.c.priority == sa.bindparam("priority"),
            *only,
        )
        .order_by(tasks.c.fairness_pass, tasks.c.id)
        .limit(1)
        .scalar_subquery()
    )


# The highest pass any key has reached: where a key starts when the backlog is empty, so that
# keys that just drained their tasks hold no advantage.
_high_pass = (
    sa.select(_f.c.fairness_pass)
    .where(
        _f.c.namespace_id == sa.bindparam("namespace_id"),
        _f.c.kind == sa.bindparam("kind"),
        _f.c.task_queue == sa.bindparam("task_queue"),
        _f.c.priority == sa.bindparam("priority"),
    )
    .order_by(_f.c.fairness_pass.desc())
    .limit(1)
    .scalar_subquery()
)


def passes(*head_only: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """A key's own pass, the backlog's head (among the tasks `head_only` admits) and the
    highest pass, in one statement.

    index: pk_task_queue_fairness, ix_tasks_queue_order, ix_task_queue_fairness_pass"""
    return sa.select(_key_pass, _head_pass(*head_only), _high_pass)


# index: pk_task_queue_fairness, ix_tasks_queue_order, ix_task_queue_fairness_pass
PASSES = hot(passes())


def _upsert_pass(is_postgres: bool) -> sa.Insert:
    insert: postgresql.Insert | sqlite.Insert
    if is_postgres:
        insert = postgresql.insert(_f)
        highest = sa.func.greatest(_f.c.fairness_pass, insert.excluded.fairness_pass)
    else:
        insert = sqlite.insert(_f)
        highest = sa.func.max(_f.c.fairness_pass, insert.excluded.fairness_pass)
    return hot(
        insert.on_conflict_do_update(
            index_elements=[
                _f.c.namespace_id,
                _f.c.kind,
                _f.c.task_queue,
                _f.c.priority,
                _f.c.fairness_key,
            ],
            set_={"fairness_pass": highest},
        )
    )


# A key's pass moved forward (never back), by whether the database is PostgreSQL.
# index: pk_task_queue_fairness
UPSERT_PASS = {True: _upsert_pass(True), False: _upsert_pass(False)}

# -- wake-ups -----------------------------------------------------------------------------------

# PostgreSQL only: sent with the transaction's other writes and its COMMIT (app/db/postgres.py),
# its answer (void) never read.
# index: none (no table)
NOTIFY: sa.Select[Any] = unread(
    sa.select(sa.func.pg_notify(sa.bindparam("channel"), sa.bindparam("payload")))
)
