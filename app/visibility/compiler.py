"""A list filter's syntax tree, compiled to SQLAlchemy Core over indexed columns.

Names resolve as Temporal resolves them: the namespace's custom attributes first, then the
system's (WorkflowId, ExecutionStatus, …, read from the run's row), then the predefined
`Temporal…` ones (also by their name without the prefix). Every value becomes a bound
parameter of the attribute's type; nothing from the query is ever spliced into SQL.

`NOT` is pushed down to the predicates (De Morgan; `=`/`!=`, `<`/`>=`, `IN`/`NOT IN`, …), which
keeps SQL's three-valued meaning: a run without an attribute matches neither `A = 1` nor
`NOT A = 1`, as in Temporal's SQL visibility. Custom attributes become `run id IN (SELECT run_id
FROM workflow_search_attributes WHERE namespace_id = ? AND name = ? AND value …)`, served by
ix_workflow_search_attributes_lookup.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NoReturn

import sqlalchemy as sa

from app.db.tables import (
    SQLITE_FTS_TABLE,
    workflow_runs,
    workflow_search_attributes,
    workflow_search_texts,
)
from app.engine.events import RunStatus
from app.engine.pause import statuses_condition
from app.engine.search_attribute_types import (
    PREDEFINED_ATTRIBUTES,
    RESERVED_PREFIX,
    SYSTEM_ATTRIBUTES,
    SAType,
)
from app.errors import InvalidArgument
from app.visibility import values
from app.visibility.syntax import (
    And,
    Between,
    Compare,
    Field,
    Literal,
    Member,
    Node,
    Not,
    NullTest,
    Or,
    Predicate,
    Query,
    StartsWith,
)

c = workflow_runs.c
# System attributes whose predicates an index of workflow_runs serves (beside namespace_id).
INDEXED_COLUMNS = {
    "WorkflowId",
    "RunId",
    "WorkflowType",
    "ExecutionStatus",
    "StartTime",
    "CloseTime",
}
ORDERABLE = ("StartTime", "CloseTime", "ExecutionTime")
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_OPPOSITE = {"=": "!=", "!=": "=", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
_RANGE_TYPES = {SAType.KEYWORD, SAType.INT, SAType.DOUBLE, SAType.DATETIME}


def _columns(dialect: str) -> dict[str, Any]:
    duration: sa.ColumnElement[Any]
    if dialect == "postgresql":
        duration = sa.func.extract("epoch", c.close_time - c.execution_time)
    else:  # SQLite keeps times as text; julianday() reads them (to about a millisecond)
        duration = (sa.func.julianday(c.close_time) - sa.func.julianday(c.execution_time)) * 86400.0
    return {
        "WorkflowId": c.workflow_id,
        "RunId": c.id,
        "WorkflowType": c.workflow_type,
        "ExecutionStatus": c.status,
        "StartTime": c.start_time,
        "CloseTime": c.close_time,
        "ExecutionTime": c.execution_time,
        "ExecutionDuration": duration,  # seconds; only closed runs have one
        "TaskQueue": c.task_queue,
        "HistoryLength": c.next_event_id - 1,
        "HistorySizeBytes": c.history_bytes,
        "ParentWorkflowId": c.parent_workflow_id,
        "ParentRunId": c.parent_run_id,
        "RootWorkflowId": c.root_workflow_id,
    }


@dataclass(frozen=True)
class Attribute:
    name: str
    type: SAType
    system: bool  # read from the run's row; otherwise from the search attribute tables


@dataclass
class Compiled:
    """A filter ready to run: the clauses (ANDed with the namespace's), whether an index
    narrows it beyond the namespace, the ordering, and the count's grouping."""

    where: sa.ColumnElement[bool] | None
    narrowed: bool
    order: str  # 'StartTime', 'CloseTime' or 'ExecutionTime'
    descending: bool
    group_by_status: bool


def resolve(field: Field, custom: dict[str, SAType]) -> Attribute:
    """Custom attributes first, then the system's, then the predefined (also without their
    `Temporal` prefix), as Temporal resolves names (list filter aliasing)."""
    name = field.name
    if name in custom:
        return Attribute(name, custom[name], system=False)
    if name in SYSTEM_ATTRIBUTES:
        return Attribute(name, SYSTEM_ATTRIBUTES[name], system=True)
    for candidate in (name, RESERVED_PREFIX + name):
        if candidate in PREDEFINED_ATTRIBUTES:
            return Attribute(candidate, PREDEFINED_ATTRIBUTES[candidate], system=False)
    raise InvalidArgument(
        f"'{name}' at position {field.position} is not a search attribute of this namespace",
        field="query",
        position=field.position,
    )


def push_not(node: Node, negate: bool = False) -> Node:
    """The same condition with every NOT moved onto a predicate (De Morgan)."""
    if isinstance(node, Not):
        return push_not(node.item, not negate)
    if isinstance(node, And | Or):
        items = tuple(push_not(item, negate) for item in node.items)
        flip = isinstance(node, And) == negate  # NOT (a AND b) = NOT a OR NOT b
        return Or(items) if flip else And(items)
    if not negate:
        return node
    if isinstance(node, Compare):
        return replace(node, op=_OPPOSITE[node.op])
    return replace(node, negated=not node.negated)


class Compiler:
    def __init__(
        self, namespace_id: str, custom: dict[str, SAType], dialect: str, now: datetime
    ) -> None:
        self.namespace_id = namespace_id
        self.custom = custom
        self.dialect = dialect
        self.now = now
        self.columns = _columns(dialect)

    # -- the whole query -----------------------------------------------------------------------

    def compile(self, query: Query, *, counting: bool) -> Compiled:
        where, narrowed = None, False
        if query.where is not None:
            node = push_not(query.where)
            where, narrowed = self.node(node)
        if query.group_by and not counting:
            raise InvalidArgument(
                "GROUP BY is only for counts (…/workflow-count)",
                field="query",
                position=query.group_by[0].position,
            )
        if len(query.group_by) > 1 or any(f.name != "ExecutionStatus" for f in query.group_by):
            raise InvalidArgument(
                "GROUP BY supports only ExecutionStatus, as in Temporal",
                field="query",
                position=query.group_by[0].position,
            )
        order, descending = "StartTime", True
        if query.order_by and not counting:
            if len(query.order_by) > 1 or query.order_by[0].field.name not in ORDERABLE:
                field = query.order_by[-1].field
                raise InvalidArgument(
                    "ORDER BY supports one of " + ", ".join(ORDERABLE),
                    field="query",
                    position=field.position,
                )
            order, descending = query.order_by[0].field.name, query.order_by[0].descending
        return Compiled(
            where=where,
            narrowed=narrowed,
            order=order,
            descending=descending,
            group_by_status=bool(query.group_by),
        )

    def node(self, node: Node) -> tuple[sa.ColumnElement[bool], bool]:
        """The clause of a (NOT-free) node, and whether an index narrows it."""
        if isinstance(node, And):
            parts = [self.node(item) for item in node.items]
            return sa.and_(*(p for p, _ in parts)), any(n for _, n in parts)
        if isinstance(node, Or):
            parts = [self.node(item) for item in node.items]
            return sa.or_(*(p for p, _ in parts)), all(n for _, n in parts)
        assert not isinstance(node, Not), "NOT is pushed into the predicates before this"
        attribute = resolve(node.field, self.custom)
        if attribute.system:
            return self.system(attribute, node)
        return self.custom_attribute(attribute, node)

    # -- attributes of the run's row -----------------------------------------------------------

    def system_value(self, attribute: Attribute, field: Field, literal: Literal) -> Any:
        if attribute.name == "ExecutionStatus":
            return values.status(field, literal).value
        if attribute.name == "ExecutionDuration":
            return values.duration_seconds(field, literal)
        if attribute.type is SAType.DATETIME:
            return values.instant(field, literal, self.now)
        if attribute.type is SAType.INT:
            return values.number(field, literal, integer=True)
        return values.text(field, literal)

    def system(self, attribute: Attribute, node: Predicate) -> tuple[sa.ColumnElement[bool], bool]:
        column = self.columns[attribute.name]
        field = node.field
        value = lambda literal: self.system_value(attribute, field, literal)  # noqa: E731
        indexed = attribute.name in INDEXED_COLUMNS
        if attribute.name == "ExecutionStatus":
            return self.status(node)
        if isinstance(node, NullTest):
            target = c.close_time if attribute.name == "ExecutionDuration" else column
            return (target.is_not(None) if node.negated else target.is_(None)), False
        if isinstance(node, Compare):
            self.check_range(attribute, node.op, field)
            return _OPS[node.op](column, value(node.value)), indexed and node.op != "!="
        if isinstance(node, Member):
            items = [value(v) for v in node.values]
            return (column.not_in(items) if node.negated else column.in_(items)), (
                indexed and not node.negated
            )
        if isinstance(node, Between):
            self.check_range(attribute, "BETWEEN", field)
            low, high = value(node.low), value(node.high)
            if node.negated:
                return sa.or_(column < low, column > high), False
            return column.between(low, high), indexed
        assert isinstance(node, StartsWith)
        self.check_starts_with(attribute, field)
        prefix = value(node.prefix)
        # A range for the index, and the exact test, since the column's collation may not be
        # byte order on PostgreSQL.
        test = sa.and_(
            *prefix_range(column, prefix),
            sa.func.substr(column, 1, len(prefix)) == prefix,
        )
        return (sa.not_(test) if node.negated else test), indexed and not node.negated

    def status(self, node: Predicate) -> tuple[sa.ColumnElement[bool], bool]:
        """ExecutionStatus: every test becomes an IN list, which its index serves."""
        field = node.field
        if isinstance(node, NullTest):  # every run has a status
            return (sa.true() if node.negated else sa.false()), not node.negated
        if isinstance(node, Compare) and node.op in ("=", "!="):
            chosen, negated = {values.status(field, node.value)}, node.op == "!="
        elif isinstance(node, Member):
            chosen = {values.status(field, v) for v in node.values}
            negated = node.negated
        else:
            op = node.op if isinstance(node, Compare) else type(node).__name__.upper()
            raise InvalidArgument(
                f"ExecutionStatus at position {field.position} supports =, !=, IN and NOT IN, "
                f"not {op}",
                field="query",
                position=field.position,
            )
        if negated:
            chosen = set(RunStatus) - chosen
        return statuses_condition(chosen), True

    # -- custom and predefined attributes ------------------------------------------------------

    def rows(
        self, name: str, *conditions: Any, table: sa.Table = workflow_search_attributes
    ) -> Any:
        """Run ids with a value of `name` meeting the conditions (an uncorrelated subquery)."""
        return (
            sa.select(table.c.run_id)
            .where(table.c.namespace_id == self.namespace_id, table.c.name == name, *conditions)
            .scalar_subquery()
        )

    def custom_attribute(
        self, attribute: Attribute, node: Predicate
    ) -> tuple[sa.ColumnElement[bool], bool]:
        name, sa_type = attribute.name, attribute.type
        field = node.field
        table = workflow_search_texts if sa_type is SAType.TEXT else workflow_search_attributes
        if isinstance(node, NullTest):
            having = c.id.in_(self.rows(name, table=table))
            return (having if node.negated else c.id.not_in(self.rows(name, table=table))), (
                node.negated
            )
        if sa_type is SAType.TEXT:
            return self.text(name, node)
        if sa_type is SAType.KEYWORD_LIST:
            return self.keyword_list(name, node)
        value = workflow_search_attributes.c.value
        stored = lambda literal: values.stored(sa_type, field, literal, self.now)  # noqa: E731
        if isinstance(node, Compare):
            if sa_type is SAType.BOOL and node.op not in ("=", "!="):
                self.refuse(field, f"a Bool supports = and !=, not {node.op}")
            self.check_range(attribute, node.op, field)
            condition = _OPS[node.op](value, stored(node.value))
        elif isinstance(node, Member):
            items = [stored(v) for v in node.values]
            condition = value.not_in(items) if node.negated else value.in_(items)
        elif isinstance(node, Between):
            self.check_range(attribute, "BETWEEN", field)
            low, high = stored(node.low), stored(node.high)
            condition = (
                sa.or_(value < low, value > high) if node.negated else value.between(low, high)
            )
        else:
            assert isinstance(node, StartsWith)
            self.check_starts_with(attribute, field)
            # Byte order ("C" collation) makes the range exact for every prefix.
            condition = sa.and_(*prefix_range(value, values.text(field, node.prefix)))
            if node.negated:
                condition = sa.not_(condition)
        # One row per run for these types: "has a value meeting the condition" is the test.
        return c.id.in_(self.rows(name, condition)), True

    def keyword_list(self, name: str, node: Predicate) -> tuple[sa.ColumnElement[bool], bool]:
        """Temporal's KeywordList: `=` means the list holds the value, `IN` any of the values;
        `!=` and `NOT IN` mean it holds none of them."""
        field = node.field
        value = workflow_search_attributes.c.value
        if isinstance(node, Compare) and node.op in ("=", "!="):
            items, negated = [values.text(field, node.value)], node.op == "!="
        elif isinstance(node, Member):
            items, negated = [values.text(field, v) for v in node.values], node.negated
        else:
            self.refuse(field, "a KeywordList supports =, !=, IN and NOT IN")
        holding = self.rows(name, value.in_(items))
        if negated:
            return sa.and_(c.id.in_(self.rows(name)), c.id.not_in(holding)), True
        return c.id.in_(holding), True

    def text(self, name: str, node: Predicate) -> tuple[sa.ColumnElement[bool], bool]:
        """Text: `=` matches runs whose value has any of the words (Temporal's OR matching);
        `!=` those whose value has none of them."""
        field = node.field
        if not (isinstance(node, Compare) and node.op in ("=", "!=")):
            self.refuse(field, "a Text attribute supports = and != (word match)")
        words = values.text(field, node.value).split()
        if not words:
            self.refuse(field, "a Text match needs at least one word")
        t = workflow_search_texts
        if self.dialect == "postgresql":
            # The expression of the GIN index ix_workflow_search_texts_words, exactly.
            vector = sa.func.to_tsvector(sa.literal_column("'simple'::regconfig"), t.c.value)
            query: sa.ColumnElement[Any] | None = None
            for word in words:
                one = sa.func.plainto_tsquery(sa.literal_column("'simple'::regconfig"), word)
                query = one if query is None else query.op("||")(one)
            match = vector.op("@@")(query)
        else:
            fts = sa.table(SQLITE_FTS_TABLE, sa.column("rowid"))
            phrases = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
            found = sa.select(fts.c.rowid).where(
                sa.literal_column(SQLITE_FTS_TABLE).op("MATCH")(
                    sa.bindparam("words", phrases, unique=True)
                )
            )
            match = t.c.id.in_(found.scalar_subquery())
        matching = self.rows(name, match, table=t)
        if node.op == "!=":
            return sa.and_(c.id.in_(self.rows(name, table=t)), c.id.not_in(matching)), True
        return c.id.in_(matching), True

    # -- what each type allows ------------------------------------------------------------------

    def refuse(self, field: Field, why: str) -> NoReturn:
        raise InvalidArgument(
            f"{field.name} at position {field.position}: {why}",
            field="query",
            position=field.position,
        )

    def check_range(self, attribute: Attribute, op: str, field: Field) -> None:
        if op in ("=", "!="):
            return
        if attribute.type not in _RANGE_TYPES:
            self.refuse(field, f"{op} needs an ordered type, not {attribute.type.value}")

    def check_starts_with(self, attribute: Attribute, field: Field) -> None:
        if attribute.type is not SAType.KEYWORD:
            self.refuse(field, "STARTS_WITH is only for Keyword attributes")


def prefix_range(column: Any, prefix: str) -> list[Any]:
    """`column >= prefix AND column < (the least string after every one with the prefix)`."""
    bounds = [column >= prefix]
    upper = prefix_upper_bound(prefix)
    if upper is not None:
        bounds.append(column < upper)
    return bounds


def prefix_upper_bound(prefix: str) -> str | None:
    """The prefix with its last character incremented (code point order = UTF-8 byte order),
    skipping characters that have no successor; None when every string is above it."""
    chars = list(prefix)
    while chars:
        point = ord(chars.pop()) + 1
        if 0xD800 <= point <= 0xDFFF:
            point = 0xE000  # surrogates are not characters
        if point <= 0x10FFFF:
            return "".join(chars) + chr(point)
    return None
