"""PostgreSQL connections that wait on the database, and on Python, as little as they can.

Each statement sent alone costs a round trip to PostgreSQL (~0.25 ms here, and CPU on both
sides), and a transition runs a dozen: BEGIN, read the run, then INSERTs, UPDATEs, DELETEs
and pg_notify whose answers nobody reads, then COMMIT. In a write transaction, statements
marked hot (app/db/hot.py) are sent through a psycopg pipeline instead: INSERT, UPDATE,
DELETE (without RETURNING) and pg_notify are queued, and go out together with the next
statement that must be answered — a hot SELECT, answered from the same pipeline, or anything
else, sent after them — or with COMMIT. BEGIN rides along with the first of them. In a read,
a hot statement is sent alone, straight on psycopg.

Nothing changes in what is written or when it is durable: the statements run in the order they
were issued, in the same transaction, and commit waits for PostgreSQL's answer (with
`synchronous_commit` as the server has it). A failed statement raises the SQLAlchemy
exception of the driver's error at the latest at commit, so a unique violation or a deadlock
still rolls the whole transaction back and the engine retries it. Queued statements answer no
rowcount: code that needs one runs a statement that is not marked hot.

The Python around each statement matters as much as the round trips: the server spends more
CPU per workflow in SQLAlchemy's and psycopg's per-call work than PostgreSQL spends running the
statements. A hot statement is compiled once and its arguments are built here; a transaction
uses the pool's psycopg connection directly, and a SQLAlchemy connection is made only for a
statement that is not hot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.result import SimpleResultMetaData
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import greenlet_spawn

from app.db.hot import UNREAD, DMLResult, HotConnection, processed_result, takes_shortcut

log = logging.getLogger("perdure.db")
# Connections being given back by callers that were cancelled meanwhile (kept referenced).
_GIVING_BACK: set[asyncio.Future[None]] = set()
# A statement still in flight (the task was cancelled while it ran) or a broken connection.
_NOT_REUSABLE = frozenset(
    {psycopg.pq.TransactionStatus.ACTIVE, psycopg.pq.TransactionStatus.UNKNOWN}
)

T = TypeVar("T")


class QueuedResult:
    """What a queued INSERT, UPDATE or DELETE answers: nothing yet."""

    __slots__ = ()

    @property
    def rowcount(self) -> int:
        raise TypeError("a queued statement has no rowcount; use a statement not marked hot")


QUEUED = QueuedResult()


class _Param:
    """One bind parameter of a compiled statement: its name in the SQL, the key a caller may
    pass it under, its value when none is passed, and its type's bind processor."""

    __slots__ = ("name", "key", "default", "required", "process")

    def __init__(self, bind: Any, name: str, process: Callable[[Any], Any] | None) -> None:
        self.name = name
        self.key = bind.key
        self.required = bool(bind.required)
        self.default = None if self.required else bind.effective_value
        self.process = process


class PostgresCompiled:
    """A hot statement compiled for PostgreSQL: its SQL, how to build its arguments, and its
    result columns (their processors made at the first answer)."""

    __slots__ = (
        "compiled",
        "unread",
        "sql",
        "params",
        "processors",
        "expanding",
        "returns_rows",
        "metadata",
        "types",
        "row_processors",
    )

    def __init__(self, compiled: sa.engine.Compiled, *, unread: bool) -> None:
        self.compiled = compiled
        # A SELECT whose answer nobody reads (pg_notify): queued with the writes.
        self.unread = unread
        self.sql: str = compiled.string
        self.processors: dict[str, Callable[[Any], Any]] = dict(
            compiled._bind_processors  # type: ignore[attr-defined]  # SQLCompiler's (ADR 0002); Compiled does not declare it
        )
        # An IN list is rendered per call (SQLAlchemy's "post compile"); anything else is the
        # same SQL each time, and its arguments are built here without SQLAlchemy's per-call
        # bookkeeping (construct_params' cache-key extraction and escaping, ~20 µs a call).
        self.expanding = bool(compiled.post_compile_params)  # type: ignore[attr-defined]  # SQLCompiler's (ADR 0002); Compiled does not declare it
        escaped = compiled.escaped_bind_names  # type: ignore[attr-defined]  # SQLCompiler's (ADR 0002); Compiled does not declare it
        self.params = [
            _Param(bind, escaped.get(name, name), self.processors.get(escaped.get(name, name)))
            for bind, name in compiled.bind_names.items()  # type: ignore[attr-defined]  # SQLCompiler's (ADR 0002); Compiled does not declare it
        ]
        columns = compiled._result_columns or []
        self.returns_rows = bool(columns)
        self.metadata = SimpleResultMetaData([c[0] for c in columns])
        self.types = [c[3] for c in columns]
        # Some depend on the type PostgreSQL answers with (numerics): made at the first answer.
        self.row_processors: list[Callable[[Any], Any] | None] | None = None

    def arguments(self, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The SQL (IN lists expanded) and its arguments, as SQLAlchemy would send them.

        Raises sa.exc.InvalidRequestError for a required parameter (an INSERT's column) that
        `values` lacks, as SQLAlchemy does."""
        if self.expanding:
            return self._expanded(values)
        arguments: dict[str, Any] = {}
        for p in self.params:
            if p.key in values:
                value = values[p.key]
            elif p.name in values:
                value = values[p.name]
            elif p.required:
                raise sa.exc.InvalidRequestError(
                    f"A value is required for bind parameter {p.key!r}"
                )
            else:
                value = p.default
            arguments[p.name] = value if p.process is None else p.process(value)
        return self.sql, arguments

    def _expanded(self, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        # SQLCompiler's (a statement compiled for a dialect is one); Compiled does not declare it.
        state = self.compiled.construct_expanded_state(values)  # type: ignore[attr-defined]  # SQLCompiler's (ADR 0002); Compiled does not declare it
        processors = self.processors
        if state.processors:
            processors = {**processors, **state.processors}
        arguments = {
            name: processors[name](value) if name in processors else value
            for name, value in state.parameters.items()
        }
        return state.statement, arguments

    def result(self, rows: list[tuple[Any, ...]], answer: Any, dialect: Dialect) -> Any:
        """A SQLAlchemy Result of `rows`; `answer` is the psycopg PGresult they came in (its
        column types pick the result processors, once)."""
        processors = self.row_processors
        if processors is None:
            type_codes = [answer.ftype(i) for i in range(answer.nfields)]
            processors = self.row_processors = [
                t._cached_result_processor(dialect, code)
                for t, code in zip(self.types, type_codes, strict=True)
            ]
        return processed_result(self.metadata, rows, processors)


class PostgresConnection(HotConnection[PostgresCompiled]):
    """The async connection interface the server uses, over one pooled psycopg connection
    (see the module's docstring).

    In a write transaction (`transaction=True`) hot statements are pipelined and BEGIN and
    COMMIT are ours to send. A read runs each statement on its own (autocommit), a hot one
    straight on psycopg. Statements not marked hot go through a SQLAlchemy connection over the
    same psycopg connection, made the first time one is needed: most transactions never need
    one, and making and closing one per transaction (its autobegin, its rollback, the pool's
    reset) cost more Python than the transaction's own statements. `hot_enabled=False` sends
    every statement through SQLAlchemy (PERDURE_HOT_STATEMENTS, to measure the shortcut)."""

    __slots__ = (
        "engine",
        "fairy",
        "raw",
        "transaction",
        "_queue",
        "_begun",
        "_cursor",
        "_alchemy",
        "_trailing",
        "_read_ahead",
    )

    def __init__(
        self, engine: AsyncEngine, fairy: Any, *, transaction: bool, hot_enabled: bool = True
    ) -> None:
        self.engine = engine
        self.hot_enabled = hot_enabled
        self.fairy = fairy  # the pool's proxy: closing it returns the connection
        self.raw: psycopg.AsyncConnection[Any] = fairy.driver_connection
        self.dialect = engine.dialect
        self.transaction = transaction
        # (sql, arguments, many): statements sent with the next answered one or with COMMIT.
        # The connection is in autocommit mode: the transaction is ours to BEGIN and COMMIT.
        self._queue: list[tuple[str, Any, bool]] = [("BEGIN", None, False)] if transaction else []
        self._begun = False
        # One cursor for every statement sent here (its results are replaced at each).
        self._cursor = self.raw.cursor()
        self._alchemy: AsyncConnection | None = None
        # Hot SELECTs to send right after the next answered statement, in its pipeline, and
        # their answers until asked for (see `read_with_next`).
        self._trailing: dict[Any, tuple[PostgresCompiled, str, dict[str, Any]]] = {}
        self._read_ahead: dict[Any, tuple[PostgresCompiled, list[tuple[Any, ...]], Any]] = {}

    def _compile(self, statement: Any, keys: tuple[str, ...]) -> PostgresCompiled | None:
        is_dml = isinstance(statement, sa.Insert | sa.Update | sa.Delete)
        if isinstance(statement, sa.Insert):
            statement = statement.inline()  # no implicit RETURNING of the primary key
        # Every statement the engine sends is a ClauseElement; Executable does not declare compile.
        compiled = statement.compile(
            dialect=self.dialect, column_keys=list(keys) if is_dml else None
        )
        if not takes_shortcut(compiled) or (is_dml and compiled._result_columns):
            return None
        return PostgresCompiled(
            compiled, unread=bool(statement.get_execution_options().get(UNREAD, False))
        )

    def read_with_next(self, statement: Any, parameters: Mapping[str, Any]) -> None:
        """Send the hot SELECT `statement` right after the next statement that is answered, in
        the same round trip; `execute(statement, parameters)` later answers what it read.

        For a read the code will certainly make next, that does not depend on the statement
        before it: "lock the run, then read its activity" is one round trip instead of two.
        Statements run in order, so the SELECT still sees what the one before it locked or
        wrote (under READ COMMITTED each statement reads what was committed when it began).
        Outside a write transaction, or for a statement not hot, this does nothing."""
        key = _read_key(statement, parameters)
        if not self.transaction or key is None or key in self._read_ahead:
            return
        compiled = self._compiled_for(statement, parameters)
        if compiled is None or not compiled.returns_rows:
            return
        self._trailing[key] = (compiled, *compiled.arguments(parameters))

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        """Run `statement` with `parameters` (a mapping, or a list of them for executemany).

        Answers a SQLAlchemy Result for statements that return rows; QUEUED for a hot INSERT,
        UPDATE or DELETE in a write transaction (sent later, see the module's docstring).
        Raises SQLAlchemy's DBAPIError subclasses for the driver's errors."""
        many = isinstance(parameters, list)
        first: Mapping[str, Any] = (
            (parameters[0] if parameters else {}) if many else (parameters or {})
        )
        compiled = None if many and not parameters else self._compiled_for(statement, first)
        if compiled is None or (many and (compiled.returns_rows or not self.transaction)):
            await self._send()
            return await (await self._sqlalchemy()).execute(statement, parameters)
        if many:
            sql = compiled.arguments(first)[0]
            batch = [compiled.arguments(values)[1] for values in parameters]
            self._queue.append((sql, batch, True))
            return QUEUED
        if self._trailing or self._read_ahead:
            key = _read_key(statement, first)
            if key in self._read_ahead:
                _, rows, answer = self._read_ahead.pop(key)
                return compiled.result(rows, answer, self.dialect)
            self._trailing.pop(key, None)  # asked for before it went: sent as asked
        sql, arguments = compiled.arguments(first)
        if not self.transaction:
            return await self._alone(compiled, sql, arguments)
        if not compiled.returns_rows or compiled.unread:
            self._queue.append((sql, arguments, False))
            return QUEUED
        rows, answer = await self._send((sql, arguments))
        return compiled.result(rows, answer, self.dialect)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    async def run_sync(self, fn: Callable[[sa.Connection], T]) -> T:
        """`fn(connection)` on a synchronous SQLAlchemy connection (after what is queued)."""
        await self._send()
        return await (await self._sqlalchemy()).run_sync(fn)

    async def commit(self) -> None:
        """Send what is queued and COMMIT, in one round trip; return once it is durable."""
        if self.transaction and (self._begun or len(self._queue) > 1):
            await self._send(commit=True)
        self._queue = []

    async def release(self) -> None:
        """Give the connection back to the pool, even when the caller is being cancelled (its
        client hung up): the hand-back runs in a task of its own that a cancellation does not
        interrupt, so a connection is never left checked out or half rolled back."""
        giving_back = asyncio.ensure_future(self._give_back())
        _GIVING_BACK.add(giving_back)
        giving_back.add_done_callback(_GIVING_BACK.discard)
        await asyncio.shield(giving_back)

    async def _give_back(self) -> None:
        """A transaction left open (an exception before commit) is rolled back here; a
        connection with a statement still running (cancelled mid-way) or in an unknown state
        is closed instead, quietly: a hang-up is not an error (issue 28: the pool's reset
        logged "Exception during reset" tracebacks for each)."""
        if not self.fairy.is_valid:  # invalidated already (a statement lost the connection)
            await greenlet_spawn(self.fairy.close)
            return
        status = self.raw.info.transaction_status
        try:
            if status in _NOT_REUSABLE:
                await greenlet_spawn(self.fairy.invalidate)
            elif status != psycopg.pq.TransactionStatus.IDLE:
                await greenlet_spawn(self.fairy.rollback)
        except Exception as exc:
            log.debug("connection closed instead of rolled back: %s", exc)
            await greenlet_spawn(self.fairy.invalidate)
        await greenlet_spawn(self.fairy.close)

    async def _alone(self, compiled: PostgresCompiled, sql: str, arguments: dict[str, Any]) -> Any:
        """A hot statement outside a transaction: one round trip, no pipeline."""
        cursor = self._cursor
        try:
            await cursor.execute(sql, arguments)
            if not compiled.returns_rows:
                return DMLResult(cursor.rowcount)
            rows = await cursor.fetchall()
            return compiled.result(rows, cursor.pgresult, self.dialect)
        except psycopg.Error as err:
            raise await self._failed(err, sql, arguments) from err

    async def _sqlalchemy(self) -> AsyncConnection:
        """A SQLAlchemy connection over this psycopg connection (for statements not marked
        hot). It is never closed: the pool's connection is ours to give back."""
        if self._alchemy is None:
            sync = sa.Connection(self.engine.sync_engine, connection=self.fairy)
            self._alchemy = AsyncConnection(self.engine, sync)
        return self._alchemy

    async def _failed(self, err: psycopg.Error, sql: str, arguments: Any) -> DBAPIError:
        """The SQLAlchemy exception for a driver error; a lost connection is invalidated, so
        the pool does not hand it out again."""
        # psycopg's Error is the DBAPI module's Error that the dialect declares (as a protocol).
        invalidated = self.dialect.is_disconnect(err, None, None)  # type: ignore[arg-type]
        if invalidated:
            await greenlet_spawn(self.fairy.invalidate, err)
        # A DBAPI error (given as `orig`) always gives a DBAPIError; the declared type is wider.
        return DBAPIError.instance(  # type: ignore[return-value]
            sql,
            arguments,
            err,
            psycopg.Error,
            dialect=self.dialect,
            connection_invalidated=invalidated,
        )

    async def _send(
        self, query: tuple[str, dict[str, Any]] | None = None, *, commit: bool = False
    ) -> tuple[list[tuple[Any, ...]], Any]:
        """Send the queue (then `query`, whose rows and PGresult are answered, then COMMIT) in
        one pipeline."""
        if not self._queue and query is None and not commit:
            return [], None
        queue, self._queue = self._queue, []
        trailing: list[tuple[Any, PostgresCompiled, psycopg.AsyncCursor[Any]]] = []
        self._begun = True
        sql, arguments = "", None
        rows: list[tuple[Any, ...]] = []
        answer = None
        cursor = self._cursor
        try:
            # Leaving the pipeline syncs it: the one wait for every answer. The query's rows
            # are read after it (fetching inside would wait once more).
            async with self.raw.pipeline():
                for sql, arguments, many in queue:
                    if many:
                        await cursor.executemany(sql, arguments)
                    else:
                        await cursor.execute(sql, arguments)
                if query is not None:
                    sql, arguments = query
                    await cursor.execute(sql, arguments)
                    for key, (compiled, sql, arguments) in self._trailing.items():
                        ahead = self.raw.cursor()  # its own cursor: holds its own rows
                        await ahead.execute(sql, arguments)
                        trailing.append((key, compiled, ahead))
                    self._trailing.clear()
                if commit:
                    sql, arguments = "COMMIT", None
                    await cursor.execute(sql)
            if query is not None:
                rows = await cursor.fetchall()
                answer = cursor.pgresult
            for key, compiled, ahead in trailing:
                self._read_ahead[key] = (compiled, await ahead.fetchall(), ahead.pgresult)
        except psycopg.Error as err:
            raise await self._failed(err, sql, arguments) from err
        return rows, answer


def _read_key(statement: Any, parameters: Mapping[str, Any]) -> Any:
    """What names one read in `read_with_next`: the statement and its values (None when a
    value cannot be a key)."""
    try:
        return (id(statement), frozenset(parameters.items()))
    except TypeError:
        return None
