"""PostgreSQL write transactions that wait on the database as few times as they can.

Each statement sent alone costs a round trip to PostgreSQL (~0.25 ms here, and CPU on both
sides), and a transition runs a dozen: BEGIN, read the run, then INSERTs, UPDATEs, DELETEs
and pg_notify whose answers nobody reads, then COMMIT. In a write transaction, statements
marked `hot` (app/db/hot.py) are sent through a psycopg pipeline instead: INSERT, UPDATE,
DELETE (without RETURNING) and pg_notify are queued, and go out together with the next
statement that must be answered — a hot SELECT, answered from the same pipeline, or anything
else, sent after them — or with COMMIT. BEGIN rides along with the first of them.

Nothing changes in what is written or when it is durable: the statements run in the order they
were issued, in the same transaction, and commit waits for PostgreSQL's answer (with
`synchronous_commit` as the server has it). A failed statement raises the SQLAlchemy
exception of the driver's error at the latest at commit, so a unique violation or a deadlock
still rolls the whole transaction back and the engine retries it. Queued statements answer no
rowcount: code that needs one runs a statement that is not marked hot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import hot

T = TypeVar("T")
_compiled: dict[tuple[int, tuple[str, ...]], _Compiled | None] = {}
MAX_COMPILED = 5_000


class QueuedResult:
    """What a queued INSERT, UPDATE or DELETE answers: nothing yet."""

    __slots__ = ()

    @property
    def rowcount(self) -> int:
        raise TypeError("a queued statement has no rowcount; use a statement not marked hot")


QUEUED = QueuedResult()


class _Compiled:
    __slots__ = ("compiled", "processors", "returns_rows", "metadata", "types", "row_processors")

    def __init__(self, compiled: sa.engine.Compiled, dialect: Dialect) -> None:
        self.compiled = compiled
        self.processors: dict[str, Callable[[Any], Any]] = dict(
            compiled._bind_processors  # type: ignore[attr-defined]
        )
        columns = compiled._result_columns  # type: ignore[attr-defined]
        self.returns_rows = bool(columns)
        self.metadata = SimpleResultMetaData([c[0] for c in columns])
        self.types = [c[3] for c in columns]
        # Some depend on the type PostgreSQL answers with (numerics): made at the first answer.
        self.row_processors: list[Callable[[Any], Any] | None] | None = None

    def arguments(self, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The SQL (IN lists expanded) and its arguments, as SQLAlchemy would send them."""
        state = self.compiled.construct_expanded_state(values)  # type: ignore[arg-type]
        processors = self.processors
        if state.processors:
            processors = {**processors, **state.processors}
        arguments = {
            name: processors[name](value) if name in processors else value
            for name, value in state.parameters.items()  # type: ignore[union-attr]
        }
        return state.statement, arguments

    def result(self, rows: list[tuple[Any, ...]], type_codes: list[int], dialect: Dialect) -> Any:
        processors = self.row_processors
        if processors is None:
            processors = self.row_processors = [
                t._cached_result_processor(dialect, code)
                for t, code in zip(self.types, type_codes, strict=True)
            ]
        if any(processors):
            rows = [
                tuple(f(v) if f else v for f, v in zip(processors, row, strict=True))
                for row in rows
            ]
        return IteratorResult(self.metadata, iter(rows))


def _compile(statement: sa.Executable, keys: tuple[str, ...], dialect: Dialect) -> _Compiled | None:
    is_dml = isinstance(statement, sa.Insert | sa.Update | sa.Delete)
    if isinstance(statement, sa.Insert):
        statement = statement.inline()  # no implicit RETURNING of the primary key
    compiled = statement.compile(dialect=dialect, column_keys=list(keys) if is_dml else None)
    if (
        compiled.insert_prefetch  # type: ignore[attr-defined]
        or compiled.update_prefetch  # type: ignore[attr-defined]
        or compiled.returning  # type: ignore[attr-defined]
        or compiled.literal_execute_params  # type: ignore[attr-defined]
        or any(b.callable is not None for b in compiled.binds.values())  # type: ignore[attr-defined]
        or (is_dml and compiled._result_columns)  # type: ignore[attr-defined]
    ):
        return None
    return _Compiled(compiled, dialect)


def _compiled_for(statement: Any, first: Mapping[str, Any], dialect: Dialect) -> _Compiled | None:
    if not hot.is_hot(statement):
        return None
    key = (id(statement), tuple(sorted(first)))
    try:
        return _compiled[key]
    except KeyError:
        if len(_compiled) >= MAX_COMPILED:
            _compiled.clear()
        compiled = _compiled[key] = _compile(statement, key[1], dialect)
        return compiled


class PipelinedConnection:
    """The async connection interface the engine uses, over one PostgreSQL write transaction
    whose hot statements are pipelined (see the module's docstring)."""

    __slots__ = ("conn", "raw", "dialect", "_queue", "_begun")

    def __init__(self, conn: AsyncConnection, raw: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.raw = raw
        self.dialect = conn.dialect
        # (sql, arguments, many): statements sent with the next answered one or with COMMIT.
        # The connection is in autocommit mode: the transaction is ours to BEGIN and COMMIT.
        self._queue: list[tuple[str, Any, bool]] = [("BEGIN", None, False)]
        self._begun = False

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        many = isinstance(parameters, list)
        first: Mapping[str, Any] = (
            (parameters[0] if parameters else {}) if many else (parameters or {})
        )
        compiled = (
            None if many and not parameters else _compiled_for(statement, first, self.dialect)
        )
        if compiled is None:
            await self._send()
            return await self.conn.execute(statement, parameters)
        if many:
            if compiled.returns_rows:
                await self._send()
                return await self.conn.execute(statement, parameters)
            sql = compiled.arguments(first)[0]
            rows = [compiled.arguments(values)[1] for values in parameters]
            self._queue.append((sql, rows, True))
            return QUEUED
        sql, arguments = compiled.arguments(first)
        if not compiled.returns_rows or id(statement) in _NOTIFIES:
            self._queue.append((sql, arguments, False))
            return QUEUED
        rows, type_codes = await self._send((sql, arguments))
        return compiled.result(rows, type_codes, self.dialect)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    async def run_sync(self, fn: Callable[[sa.Connection], T]) -> T:
        await self._send()
        return await self.conn.run_sync(fn)

    async def commit(self) -> None:
        """Send what is queued and COMMIT, in one round trip; return once it is durable."""
        if self._begun or len(self._queue) > 1:
            await self._send(commit=True)
        self._queue = []
        await self.conn.commit()  # SQLAlchemy's bookkeeping only (autocommit mode)

    async def _send(
        self, query: tuple[str, dict[str, Any]] | None = None, *, commit: bool = False
    ) -> tuple[list[tuple[Any, ...]], list[int]]:
        """Send the queue (then `query`, whose rows and column types are answered, then
        COMMIT) in one pipeline."""
        if not self._queue and query is None and not commit:
            return [], []
        queue, self._queue = self._queue, []
        self._begun = True
        sql, arguments = "", None
        rows: list[tuple[Any, ...]] = []
        type_codes: list[int] = []
        try:
            async with self.raw.cursor() as cursor:
                # Leaving the pipeline syncs it: the one wait for every answer. The query's
                # rows are read after it (fetching inside would wait once more).
                async with self.raw.pipeline():
                    for sql, arguments, many in queue:
                        if many:
                            await cursor.executemany(sql, arguments)
                        else:
                            await cursor.execute(sql, arguments)
                    if query is not None:
                        sql, arguments = query
                        await cursor.execute(sql, arguments)
                    if commit:
                        sql, arguments = "COMMIT", None
                        await cursor.execute(sql)
                if query is not None:
                    rows = await cursor.fetchall()
                    type_codes = [c.type_code for c in cursor.description or ()]
        except psycopg.Error as err:
            invalidated = self.dialect.is_disconnect(err, None, None)
            if invalidated:
                await self.conn.invalidate(err)
            raise DBAPIError.instance(
                sql,
                arguments,
                err,
                psycopg.Error,
                dialect=self.dialect,
                connection_invalidated=invalidated,
            ) from err
        return rows, type_codes


# pg_notify statements: SELECTs whose answer (void) nobody reads, queued like DML.
_NOTIFIES: set[int] = set()


def notify_statement() -> sa.Select[Any]:
    """`SELECT pg_notify(:channel, :payload)`, hot, and queued in pipelined transactions."""
    statement = hot.hot(
        sa.select(sa.func.pg_notify(sa.bindparam("channel"), sa.bindparam("payload")))
    )
    _NOTIFIES.add(id(statement))
    return statement
