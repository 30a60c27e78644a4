"""SQLite connections: a synchronous SQLite connection behind the async interface, with hot
statements run on the sqlite3 connection itself.

SQLAlchemy spends 15–40 µs of Python on each execution (cache key, execution context, result
metadata) of a statement SQLite itself runs in 2–5 µs, and a transition runs a dozen of them.
Statements marked hot (app/db/hot.py) skip that machinery but keep SQLAlchemy's own SQL and
type conversions (its bind and result processors), so what is written and read is exactly what
SQLAlchemy would write and read; the answer is a real SQLAlchemy `Result`. Anything this
module does not handle — Python-side column defaults, RETURNING, an empty IN list, a statement
not marked hot — goes through SQLAlchemy unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.result import SimpleResultMetaData
from sqlalchemy.exc import DBAPIError

from app.db.hot import DMLResult, HotConnection, processed_result, takes_shortcut

T = TypeVar("T")
_MISSING = object()


class _Param:
    __slots__ = ("name", "default", "process", "expanding")

    def __init__(
        self, name: str, default: Any, process: Callable[[Any], Any] | None, expanding: bool
    ) -> None:
        self.name = name
        self.default = default
        self.process = process
        self.expanding = expanding


class SQLiteCompiled:
    """A hot statement compiled for SQLite: its SQL with `?` placeholders, its parameters in
    order with their bind processors, and its result columns with their result processors."""

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
        """The SQL (with expanded IN lists) and its positional arguments.

        Raises KeyError for a parameter `values` lacks that has no value of its own."""
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


class SQLiteConnection(HotConnection[SQLiteCompiled]):
    """The async connection interface the server uses, over a synchronous SQLite connection
    (see the module's docstring). `hot_enabled=False` sends every statement through
    SQLAlchemy (PERDURE_HOT_STATEMENTS, to measure what the shortcut buys)."""

    __slots__ = ("sync", "raw")

    def __init__(self, sync: sa.Connection, *, hot_enabled: bool = True) -> None:
        self.sync = sync
        self.raw = cast(sqlite3.Connection, sync.connection.driver_connection)
        self.dialect = sync.dialect
        self.hot_enabled = hot_enabled

    async def execute(self, statement: Any, parameters: Any = None) -> sa.CursorResult[Any]:
        """Run `statement` with `parameters` (a mapping, or a list of them for executemany).

        Answers a SQLAlchemy Result, or a `DMLResult` (its rowcount only) for a hot INSERT,
        UPDATE or DELETE. Raises SQLAlchemy's DBAPIError subclasses for the driver's errors."""
        result = self._hot(statement, parameters)
        if result is None:
            result = self.sync.execute(statement, parameters)
        return result  # type: ignore[no-any-return]  # _hot answers SQLAlchemy's own result types

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    def read_with_next(self, statement: Any, parameters: Any) -> None:
        """Nothing to save on SQLite: a statement costs no round trip (see PostgresConnection)."""

    async def run_sync(self, fn: Callable[[sa.Connection], T]) -> T:
        return fn(self.sync)

    def _compile(self, statement: Any, keys: tuple[str, ...]) -> SQLiteCompiled | None:
        is_dml = isinstance(statement, sa.Insert | sa.Update | sa.Delete)
        # Every statement the engine sends is a ClauseElement; Executable does not declare compile.
        compiled = statement.compile(
            dialect=self.dialect, column_keys=list(keys) if is_dml else None
        )
        return SQLiteCompiled(compiled, self.dialect) if takes_shortcut(compiled) else None

    def _hot(
        self, statement: Any, parameters: Mapping[str, Any] | list[Mapping[str, Any]] | None
    ) -> Any:
        """Run a hot statement on the raw connection; None when SQLAlchemy must run it."""
        many: list[Mapping[str, Any]] | None = None
        if isinstance(parameters, list):
            if not parameters:
                return None
            many, first = parameters, parameters[0]
        else:
            first = parameters or {}
        compiled = self._compiled_for(statement, first)
        if compiled is None:
            return None
        sql, arguments = compiled.sql, None
        try:
            if many:
                if compiled.expanding or compiled.returns_rows:
                    return None
                arguments = [compiled.arguments(values)[1] for values in many]
                cursor = self.raw.executemany(sql, arguments)
            else:
                if compiled.expanding and any(
                    p.expanding and not first.get(p.name) for p in compiled.params
                ):
                    return None  # an empty IN list: SQLAlchemy renders it specially
                sql, arguments = compiled.arguments(first)
                cursor = self.raw.execute(sql, arguments)
        except sqlite3.Error as err:
            # The same exception classes SQLAlchemy would raise (IntegrityError, OperationalError…).
            raise DBAPIError.instance(
                sql, arguments, err, sqlite3.Error, dialect=self.dialect
            ) from err
        if compiled.returns_rows:
            return compiled.result(cursor)
        return DMLResult(cursor.rowcount)
