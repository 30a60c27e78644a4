"""List and count a namespace's runs: the query parameters and the list filter (ANDed), in
pages ordered by a time, within the bounds that keep one query from stalling the server.

Bounds: a filter that no index narrows beyond the namespace (e.g. only `TaskQueue = 'q'`) is
refused (422) on a namespace of more than `visibility_scan_limit` runs, since it would read
them all; any list or count that runs longer than `visibility_query_timeout` is cut off (504).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from app.db.bounded import read_bounded
from app.db.connection import Connection
from app.db.database import Database
from app.db.tables import workflow_runs
from app.db.types import UTCDateTime
from app.engine import search_attributes
from app.engine.events import RunStatus
from app.engine.pause import status_condition
from app.engine.reads import RunFilter, parse_search_attribute_filters, run_summary
from app.errors import DeadlineExceeded, InvalidArgument, LimitExceeded
from app.pagination import decode_token, encode_token, token_time
from app.settings import Settings
from app.visibility.compiler import Compiled, Compiler
from app.visibility.syntax import Compare, Field, Literal, parse
from app.visibility.values import STATUS_SHORTHAND

c = workflow_runs.c


@dataclass(frozen=True)
class Phase:
    """One stretch of an ordering: the runs it covers and the time they are ordered by
    (then by run id). ORDER BY CloseTime has two: open runs (no close time) and closed."""

    only: sa.ColumnElement[bool] | None
    key: sa.Column[Any]


_OPEN = c.status == RunStatus.RUNNING.value
_CLOSED = c.close_time.is_not(None)
# Temporal's order for CloseTime: open runs count as closing after every closed one.
ORDERINGS: dict[tuple[str, bool], list[Phase]] = {
    ("StartTime", True): [Phase(None, c.start_time)],
    ("StartTime", False): [Phase(None, c.start_time)],
    ("ExecutionTime", True): [Phase(None, c.execution_time)],
    ("ExecutionTime", False): [Phase(None, c.execution_time)],
    ("CloseTime", True): [Phase(_OPEN, c.start_time), Phase(_CLOSED, c.close_time)],
    ("CloseTime", False): [Phase(_CLOSED, c.close_time), Phase(_OPEN, c.start_time)],
}


@dataclass
class Plan:
    where: list[sa.ColumnElement[bool]]
    compiled: Compiled
    narrowed: bool  # an index narrows the filter beyond the namespace (or there is none)


def _old_parameter_query(flt: RunFilter) -> list[Compare]:
    """`search_attribute=Name=value` parameters as `Name = value` predicates (a list value:
    one per item, as a KeywordList holds them all)."""
    predicates = []
    for name, value in flt.search_attributes.items():
        for item in value if isinstance(value, list) else [value]:
            kind = (
                "bool"
                if isinstance(item, bool)
                else "number"
                if isinstance(item, int | float)
                else "string"
            )
            literal = Literal(kind, item if kind != "string" else str(item), 0, repr(item))
            predicates.append(Compare(Field(name, 0), "=", literal))
    return predicates


async def plan(
    conn: Connection,
    namespace_id: str,
    flt: RunFilter,
    query_text: str | None,
    *,
    dialect: str,
    now: datetime,
    counting: bool,
) -> Plan:
    """Parse and compile; InvalidArgument (400) for anything the language or types refuse."""
    query = parse(query_text or "")
    custom = await search_attributes.registered_types(conn, namespace_id)
    compiler = Compiler(namespace_id, custom, dialect, now)
    compiled = compiler.compile(query, counting=counting)
    where = flt.where(namespace_id)
    # Every query parameter is served by an index (see RunFilter and the lookup index).
    old_parameters = len(where) > 1 or bool(flt.search_attributes)
    if compiled.where is not None:
        where.append(compiled.where)
    for predicate in _old_parameter_query(flt):
        try:
            clause, _ = compiler.node(predicate)
        except InvalidArgument as err:
            raise InvalidArgument(err.detail, field="search_attribute") from None
        where.append(clause)
    narrowed = query.where is None or compiled.narrowed or old_parameters
    if compiled.order == "ExecutionTime" and not (compiled.narrowed or old_parameters):
        narrowed = False  # no index orders by it: every run would be sorted
    return Plan(where=where, compiled=compiled, narrowed=narrowed)


def _refuse_unnarrowed(conn: sa.Connection, namespace_id: str, limit: int) -> None:
    """On a namespace of more than `limit` runs, a filter no index narrows is refused (its
    plan would read every run). Counting stops at the limit (an index-only walk)."""
    more = conn.execute(
        sa.select(c.id)
        .where(c.namespace_id == namespace_id)
        .order_by(c.start_time)
        .offset(limit)
        .limit(1)
    ).first()
    if more is not None:
        raise LimitExceeded(
            f"this filter would read every run of a namespace of more than {limit} runs: "
            "narrow it with an attribute an index serves (WorkflowId, RunId, WorkflowType, "
            "ExecutionStatus, StartTime, CloseTime, or a custom search attribute)",
            field="query",
            limit=limit,
        )


async def _bounded(db: Database, settings: Settings, prepare: Any, work: Any) -> Any:
    """Plan on a reader connection, then run the reading within the time budget."""
    async with db.read(transaction=True) as conn:
        planned: Plan = await prepare(conn)
        try:
            return await read_bounded(
                conn, lambda sync: work(sync, planned), settings.visibility_query_timeout
            )
        except TimeoutError:
            raise DeadlineExceeded(
                f"the query ran longer than {settings.visibility_query_timeout:g} s; "
                "narrow it (an indexed attribute, a time range)",
                field="query",
            ) from None


def _token_kind(compiled: Compiled) -> str:
    return f"{compiled.order}:{'desc' if compiled.descending else 'asc'}"


async def list_runs(
    db: Database,
    settings: Settings,
    namespace_id: str,
    flt: RunFilter,
    query_text: str | None,
    *,
    now: datetime,
    page_size: int,
    page_token: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of runs (newest first unless the filter orders otherwise) and the token of the
    next page. Tokens carry the ordering and the last run's place in it."""

    async def prepare(conn: Connection) -> Plan:
        return await plan(
            conn, namespace_id, flt, query_text, dialect=db.dialect, now=now, counting=False
        )

    position = decode_token(page_token, length=4)

    def work(conn: sa.Connection, planned: Plan) -> tuple[list[Any], str | None]:
        if not planned.narrowed:
            _refuse_unnarrowed(conn, namespace_id, settings.visibility_scan_limit)
        compiled = planned.compiled
        phases = ORDERINGS[(compiled.order, compiled.descending)]
        start_phase, after = 0, None
        if position is not None:
            kind, phase_index, moment, run_id = position
            if kind != _token_kind(compiled) or phase_index not in range(len(phases)):
                raise InvalidArgument(
                    "next_page_token belongs to a list in another order", field="next_page_token"
                )
            start_phase, after = phase_index, (token_time(moment), str(run_id))
        found: list[tuple[int, Any]] = []
        for index in range(start_phase, len(phases)):
            phase = phases[index]
            wanted = page_size + 1 - len(found)
            if wanted <= 0:
                break
            rows = conn.execute(
                phase_query(planned, phase, compiled.descending, after, wanted)
            ).mappings()
            found += [(index, row) for row in rows]
            after = None
        token = None
        if len(found) > page_size:
            found = found[:page_size]
            index, last = found[-1]
            key = last[phases[index].key.name]
            token = encode_token([_token_kind(compiled), index, key.isoformat(), last["id"]])
        return [row for _, row in found], token

    rows, token = await _bounded(db, settings, prepare, work)
    return [run_summary(r) for r in rows], token


def phase_query(
    planned: Plan,
    phase: Phase,
    descending: bool,
    after: tuple[datetime, str] | None,
    limit: int,
) -> sa.Select[Any]:
    query = sa.select(workflow_runs).where(*planned.where)
    if phase.only is not None:
        query = query.where(phase.only)
    if after is not None:
        # A row-value comparison: an index range on (…, time, id), on both databases.
        mark = sa.tuple_(sa.literal(after[0], UTCDateTime()), sa.literal(after[1], sa.String()))
        here = sa.tuple_(phase.key, c.id)
        query = query.where(here < mark if descending else here > mark)
    if descending:
        return query.order_by(phase.key.desc(), c.id.desc()).limit(limit)
    return query.order_by(phase.key.asc(), c.id.asc()).limit(limit)


def _bounded_status_count(planned: Plan, status: RunStatus, cap: int) -> sa.Select[Any]:
    """`SELECT count(*) FROM (SELECT 1 … AND status = ? LIMIT cap + 1)`: an index walk of at
    most cap + 1 entries of (namespace_id, status, start_time), whatever the namespace holds."""
    matching = (
        sa.select(sa.literal(1).label("one"))
        .select_from(workflow_runs)
        .where(*planned.where, status_condition(status))
        .limit(cap + 1)
        .subquery()
    )
    return sa.select(sa.func.count()).select_from(matching)


async def count_by_status(
    db: Database,
    settings: Settings,
    namespace_id: str,
    flt: RunFilter,
    query_text: str | None,
    *,
    now: datetime,
    cap: int,
) -> dict[str, int]:
    """How many runs match, per status (RunStatus value; statuses with none left out), with
    the filter's own `status` parameter ignored so that every status shows. Each count stops
    at `cap` + 1: a count above `cap` means "more than cap" (Temporal's Web UI shows
    "10,000+"), so the cost is bounded by `cap`, not by the namespace's size. Errors as
    `count_runs`."""
    unfiltered = replace(flt, status=None)

    async def prepare(conn: Connection) -> Plan:
        return await plan(
            conn, namespace_id, unfiltered, query_text, dialect=db.dialect, now=now, counting=True
        )

    def work(conn: sa.Connection, planned: Plan) -> dict[str, int]:
        if not planned.narrowed:
            _refuse_unnarrowed(conn, namespace_id, settings.visibility_scan_limit)
        # One statement (one round trip): a bounded count per status, side by side.
        statuses = list(RunStatus)
        row = conn.execute(
            sa.select(
                *(
                    _bounded_status_count(planned, status, cap).scalar_subquery()
                    for status in statuses
                )
            )
        ).one()
        return {status.value: int(n) for status, n in zip(statuses, row, strict=True) if n}

    result: dict[str, int] = await _bounded(db, settings, prepare, work)
    return result


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return _quoted(str(value))


def filter_as_query(flt: RunFilter, query_text: str | None) -> str:
    """The query parameters and the list filter as one list filter (its ORDER BY left out):
    what a batch operation, which takes a filter only, needs to act on the runs a list shows.
    InvalidArgument when the list filter does not parse."""
    clauses = []
    if flt.status is not None:
        clauses.append(f"ExecutionStatus = {_quoted(flt.status.value)}")
    if flt.workflow_type:
        clauses.append(f"WorkflowType = {_quoted(flt.workflow_type)}")
    if flt.workflow_id_prefix:
        clauses.append(f"WorkflowId STARTS_WITH {_quoted(flt.workflow_id_prefix)}")
    for name, op, moment in (
        ("StartTime", ">=", flt.started_after),
        ("StartTime", "<", flt.started_before),
        ("CloseTime", ">=", flt.closed_after),
        ("CloseTime", "<", flt.closed_before),
    ):
        if moment is not None:
            clauses.append(f"{name} {op} {_quoted(moment.isoformat())}")
    for name, value in flt.search_attributes.items():
        if "`" in name:
            raise InvalidArgument(f"'{name}' is not a search attribute name", field="query")
        for item in value if isinstance(value, list) else [value]:
            clauses.append(f"`{name}` = {_value_text(item)}")
    text = (query_text or "").strip()
    parsed = parse(text)
    if parsed.group_by:
        raise InvalidArgument("GROUP BY is only for counts", field="query")
    if parsed.order_by:
        # Cut at the ORDER BY that precedes the first ordering field.
        head = text[: parsed.order_by[0].field.position]
        text = re.sub(r"(?is)\border\s+by\s*$", "", head).strip()
    if parsed.where is not None and text:
        clauses.append(f"({text})")
    return " AND ".join(clauses)


def count_query(planned: Plan) -> sa.Select[Any]:
    """`SELECT count(*)`, or `SELECT status, count(*) … GROUP BY status`, of a plan."""
    if planned.compiled.group_by_status:
        return sa.select(c.status, sa.func.count()).where(*planned.where).group_by(c.status)
    return sa.select(sa.func.count()).select_from(workflow_runs).where(*planned.where)


def paused_count_query(planned: Plan) -> sa.Select[Any]:
    """How many of a plan's runs are paused: the part of its RUNNING group that readers see
    as PAUSED. A second count rather than a grouping on `pause_info`, so the grouped count
    stays on the status index alone and this one reads only the running rows."""
    return (
        sa.select(sa.func.count())
        .select_from(workflow_runs)
        .where(*planned.where, status_condition(RunStatus.PAUSED))
    )


def _shown_groups(rows: Any, paused: int) -> list[tuple[str, int]]:
    """(status name, count) per status a reader sees: `paused` of the RUNNING runs move to
    Paused, as `ExecutionStatus = 'Paused'` lists them (Temporal's status PAUSED)."""
    counts = {RunStatus(status): int(count) for status, count in rows}
    if paused:
        counts[RunStatus.RUNNING] -= paused
        counts[RunStatus.PAUSED] = paused
    return [(STATUS_SHORTHAND[status], count) for status, count in counts.items() if count]


async def count_runs(
    db: Database,
    settings: Settings,
    namespace_id: str,
    flt: RunFilter,
    query_text: str | None,
    *,
    now: datetime,
    started_up_to: datetime | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """How many runs match, and with `GROUP BY ExecutionStatus` how many of each status
    (Temporal's CountWorkflowExecutions: groups' values are its status names, e.g. 'Running';
    a paused run counts as 'Paused').
    With `started_up_to` (a batch operation's scope) only runs started by then count, and the
    filter may not group."""

    async def prepare(conn: Connection) -> Plan:
        planned = await plan(
            conn,
            namespace_id,
            flt,
            query_text,
            dialect=db.dialect,
            now=now,
            counting=started_up_to is None,
        )
        if started_up_to is not None:
            planned.where.append(c.start_time <= started_up_to)
        return planned

    def work(conn: sa.Connection, planned: Plan) -> tuple[int, list[dict[str, Any]]]:
        if not planned.narrowed:
            _refuse_unnarrowed(conn, namespace_id, settings.visibility_scan_limit)
        if not planned.compiled.group_by_status:
            return int(conn.execute(count_query(planned)).scalar_one()), []
        rows = conn.execute(count_query(planned)).all()
        running = any(status == RunStatus.RUNNING.value for status, _ in rows)
        paused = int(conn.execute(paused_count_query(planned)).scalar_one()) if running else 0
        counted = _shown_groups(rows, paused)
        counted.sort(key=lambda group: (-group[1], group[0]))
        groups = [{"group_values": [status], "count": count} for status, count in counted]
        return sum(count for _, count in counted), groups

    result: tuple[int, list[dict[str, Any]]] = await _bounded(db, settings, prepare, work)
    return result


def run_filter(
    *,
    status: RunStatus | None = None,
    workflow_type: str | None = None,
    workflow_id_prefix: str | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
    closed_after: datetime | None = None,
    closed_before: datetime | None = None,
    search_attributes: Sequence[str] = (),
) -> RunFilter:
    """The filter of a list or count, from the API's query parameters or the console's form
    (one rule for both): a blank type or prefix filters nothing; `search_attributes` are
    `Name=value` texts (InvalidArgument otherwise), the value read as JSON when it parses,
    else as a string; a time without an offset is UTC."""
    return RunFilter(
        status=status,
        workflow_type=workflow_type or None,
        workflow_id_prefix=workflow_id_prefix or None,
        started_after=started_after,
        started_before=started_before,
        closed_after=closed_after,
        closed_before=closed_before,
        search_attributes=parse_search_attribute_filters(list(search_attributes)),
    )


# The list route's `order_by` parameter, as the list filter's ORDER BY.
DEFAULT_ORDER = "start_time_desc"
ORDER_PARAMETER = {
    "start_time_desc": "StartTime DESC",
    "start_time_asc": "StartTime ASC",
    "close_time_desc": "CloseTime DESC",
    "close_time_asc": "CloseTime ASC",
}


def in_order(query_text: str | None, order_by: str) -> str | None:
    """The list filter to list in the order `order_by` names: unchanged for the default
    order, else `with_order`'s. InvalidArgument for an order not in ORDER_PARAMETER."""
    if order_by not in ORDER_PARAMETER:
        raise InvalidArgument(f"unknown order '{order_by}'", field="order_by")
    return query_text if order_by == DEFAULT_ORDER else with_order(query_text, order_by)


def with_order(query_text: str | None, order_by: str) -> str:
    """The list filter with the `order_by` parameter appended as its ORDER BY (close-time
    orders also keep closed runs only, as the parameter promises). InvalidArgument
    when the filter has an ORDER BY of its own (two orders would be ambiguous)."""
    if query_text and query_text.strip() and parse(query_text).order_by:
        raise InvalidArgument(
            "give the order either in the query's ORDER BY or as order_by, not both",
            field="order_by",
        )
    text = (query_text or "").strip()
    if order_by.startswith("close_time"):  # the parameter lists closed runs only
        text = f"({text}) AND CloseTime IS NOT NULL" if text else "CloseTime IS NOT NULL"
    return f"{text} ORDER BY {ORDER_PARAMETER[order_by]}"
