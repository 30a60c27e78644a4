"""Hot statements on SQLite: compiled once, then run on the sqlite3 connection directly.

SQLAlchemy spends 15–40 µs of Python on each execution (cache key, execution context, result
metadata) of a statement SQLite itself runs in 2–5 µs, and a transition runs a dozen of them.
Statements the engine runs on every transition are marked with `hot(...)`. On SQLite they
skip that machinery but keep SQLAlchemy's own SQL and type conversions (its bind and result
processors), so what is written and read is exactly what SQLAlchemy would write and read; the
answer is a real SQLAlchemy `Result`. Anything this module does not handle — Python-side column
defaults, RETURNING, an empty IN list, a statement not marked hot — and every statement on
PostgreSQL goes through SQLAlchemy unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.exc import DBAPIError

S = TypeVar("S", bound=sa.Executable)
_MISSING = object()
# Marked statements, by identity (held here, so an id is never reused by another object).
_marked: dict[int, sa.Executable] = {}
_compiled: dict[tuple[int, tuple[str, ...]], _Compiled | None] = {}
MAX_COMPILED = 5_000


def hot(statement: S) -> S:
    """Mark a statement built once at import time as one to run without SQLAlchemy's
    per-execution overhead on SQLite. Returns it unchanged."""
    _marked[id(statement)] = statement
    return statement


def is_hot(statement: Any) -> bool:
    return id(statement) in _marked


class DMLResult:
    """What a hot INSERT, UPDATE or DELETE answers: how many rows it touched."""

    __slots__ = ("rowcount",)

    def __init__(self, rowcount: int) -> None:
        self.rowcount = rowcount


class _Param:
    __slots__ = ("name", "default", "process", "expanding")

    def __init__(
        self, name: str, default: Any, process: Callable[[Any], Any] | None, expanding: bool
    ) -> None:
        self.name = name
        self.default = default
        self.process = process
        self.expanding = expanding


class _Compiled:
    __slots__ = ("sql", "params", "expanding", "metadata", "row_processors", "returns_rows")

    def __init__(self, compiled: sa.engine.Compiled, dialect: Dialect) -> None:
        self.sql: str = compiled.string
        binds = compiled.binds  # type: ignore[attr-defined]  # SQLCompiler's (ADR 0002); Compiled does not declare it
        processors = compiled._bind_processors  # type: ignore[attr-defined]  # SQLCompiler's (ADR 0002); Compiled does not declare it
        self.params: list[_Param] = []
        for name in compiled.positiontup or ():  # type: ignore[attr-defined]  # SQLCompiler's (ADR 0002); Compiled does not declare it
            bind = binds[name]
            default = bind.value if bind.value is not None else _MISSING
            self.params.append(_Param(name, default, processors.get(name), bool(bind.expanding)))
        self.expanding = any(p.expanding for p in self.params)
        columns = compiled._result_columns or []
        self.returns_rows = bool(columns)
        self.metadata = SimpleResultMetaData([c[0] for c in columns])
        self.row_processors = [c[3]._cached_result_processor(dialect, None) for c in columns]

    def arguments(self, values: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL (with expanded IN lists) and its positional arguments."""
        sql = self.sql
        arguments: list[Any] = []
        for p in self.params:
            value = values.get(p.name, p.default)
            if value is _MISSING:
                raise KeyError(p.name)
            if p.expanding:
                items = list(value)
                sql = sql.replace(f"__[POSTCOMPILE_{p.name}]", ", ".join("?" * len(items)), 1)
                arguments.extend(map(p.process, items) if p.process else items)
            else:
                arguments.append(p.process(value) if p.process else value)
        return sql, arguments

    def result(self, cursor: sqlite3.Cursor) -> Any:
        return processed_result(self.metadata, cursor.fetchall(), self.row_processors)


def processed_result(
    metadata: SimpleResultMetaData,
    rows: list[Any],
    processors: Sequence[Callable[[Any], Any] | None],
) -> Any:
    """A SQLAlchemy Result of the driver's `rows`, each value through its column's result
    processor (SQLAlchemy's own type conversions), as SQLAlchemy would answer."""
    if any(processors):
        rows = [
            tuple(f(v) if f else v for f, v in zip(processors, row, strict=True)) for row in rows
        ]
    return IteratorResult(metadata, iter(rows))


def takes_shortcut(compiled: sa.engine.Compiled) -> bool:
    """Whether a compiled statement can run without SQLAlchemy's execution context: no
    Python-side defaults, no RETURNING, no literal-rendered or callable parameters."""
    return not (
        compiled.insert_prefetch  # type: ignore[attr-defined]  # SQLCompiler's (ADR 0002); Compiled does not declare it
        or compiled.update_prefetch  # type: ignore[attr-defined]  # SQLCompiler's (ADR 0002); Compiled does not declare it
        or compiled.returning  # type: ignore[attr-defined]  # SQLCompiler's (ADR 0002); Compiled does not declare it
        or compiled.literal_execute_params  # type: ignore[attr-defined]  # SQLCompiler's (ADR 0002); Compiled does not declare it
        or any(b.callable is not None for b in compiled.binds.values())  # type: ignore[attr-defined]  # SQLCompiler's (ADR 0002); Compiled does not declare it
    )


def _compile(statement: sa.Executable, keys: tuple[str, ...], dialect: Dialect) -> _Compiled | None:
    is_dml = isinstance(statement, sa.Insert | sa.Update | sa.Delete)
    # Every statement the engine sends is a ClauseElement; Executable does not declare compile.
    compiled = statement.compile(dialect=dialect, column_keys=list(keys) if is_dml else None)  # type: ignore[attr-defined]  # SQLCompiler's (ADR 0002); Compiled does not declare it
    return _Compiled(compiled, dialect) if takes_shortcut(compiled) else None


def execute(
    raw: sqlite3.Connection,
    dialect: Dialect,
    statement: Any,
    parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
) -> Any:
    """Run a hot statement on the raw connection; None when SQLAlchemy must run it."""
    if id(statement) not in _marked:
        return None
    many: list[Mapping[str, Any]] | None = None
    if isinstance(parameters, list):
        if not parameters:
            return None
        many, first = parameters, parameters[0]
    else:
        first = cast(Mapping[str, Any], parameters or {})
    cache_key = (id(statement), tuple(sorted(first)))
    try:
        compiled = _compiled[cache_key]
    except KeyError:
        if len(_compiled) >= MAX_COMPILED:
            _compiled.clear()  # many column sets of one UPDATE: start over rather than grow
        compiled = _compiled[cache_key] = _compile(statement, cache_key[1], dialect)
    if compiled is None:
        return None
    sql, arguments = compiled.sql, None
    try:
        if many:
            if compiled.expanding or compiled.returns_rows:
                return None
            arguments = [compiled.arguments(values)[1] for values in many]
            cursor = raw.executemany(sql, arguments)
        else:
            if compiled.expanding and any(
                p.expanding and not first.get(p.name) for p in compiled.params
            ):
                return None  # an empty IN list: SQLAlchemy renders it specially
            sql, arguments = compiled.arguments(first)
            cursor = raw.execute(sql, arguments)
    except sqlite3.Error as err:
        # The same exception classes SQLAlchemy would raise (IntegrityError, OperationalError…).
        raise DBAPIError.instance(sql, arguments, err, sqlite3.Error, dialect=dialect) from err
    if compiled.returns_rows:
        return compiled.result(cursor)
    return DMLResult(cursor.rowcount)
