"""Hot statements: the shortcut both databases share (ADR 0002).

A statement is marked hot through SQLAlchemy's public `execution_options` (`hot(statement)`
sets `perdure_hot=True`); each database's connection class (SQLiteConnection in
app/db/sqlite.py, PostgresConnection in app/db/postgres.py) compiles a hot statement once per
column set, into the one cache here, and runs it with SQLAlchemy's own SQL and its own bind
and result processors but without SQLAlchemy's per-execution work. Anything else goes through
SQLAlchemy unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData

S = TypeVar("S", bound=sa.Executable)
C = TypeVar("C")
# The execution options that mark a statement (custom keys: SQLAlchemy carries them along and
# ignores them when the statement goes through it).
HOT = "perdure_hot"
# A SELECT whose answer nobody reads (pg_notify): PostgreSQL queues it like a write.
UNREAD = "perdure_unread"
MAX_COMPILED = 5_000


def hot(statement: S) -> S:
    """`statement` marked as one to run without SQLAlchemy's per-execution overhead: a copy
    (execution options are generative), so keep the answer, built once at import time."""
    return statement.execution_options(**{HOT: True})


def unread(statement: S) -> S:
    """`statement` marked hot and as one whose answer is never read (PostgreSQL queues it
    with the writes of its transaction, see app/db/postgres.py)."""
    return statement.execution_options(**{HOT: True, UNREAD: True})


def is_hot(statement: Any) -> bool:
    """Whether `statement` (any executable) was marked by `hot` or `unread`."""
    return bool(statement.get_execution_options().get(HOT, False))


class DMLResult:
    """What a hot INSERT, UPDATE or DELETE answers: how many rows it touched."""

    __slots__ = ("rowcount",)

    def __init__(self, rowcount: int) -> None:
        self.rowcount = rowcount


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


class CompiledStatements:
    """The one cache of compiled hot statements, for both databases: by database, statement
    and the column names a call passes (an INSERT or UPDATE compiles to other SQL for other
    columns). An entry holds its statement, so the statement's id is not reused while the
    entry lives. Bounded: past `limit` entries (many column sets of one UPDATE) it starts
    over rather than grow."""

    __slots__ = ("limit", "_entries")

    def __init__(self, limit: int = MAX_COMPILED) -> None:
        self.limit = limit
        self._entries: dict[tuple[str, int, tuple[str, ...]], tuple[Any, Any]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(
        self,
        database: str,
        statement: Any,
        keys: tuple[str, ...],
        compile: Callable[[Any, tuple[str, ...]], C | None],
    ) -> C | None:
        """The compiled form of `statement` for `database` ("sqlite", "postgresql") and the
        columns `keys`, made by `compile(statement, keys)` the first time (None: it does not
        take the shortcut, which is remembered too)."""
        key = (database, id(statement), keys)
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= self.limit:
                self._entries.clear()
            entry = self._entries[key] = (statement, compile(statement, keys))
        compiled: C | None = entry[1]
        return compiled

    def clear(self) -> None:
        self._entries.clear()


COMPILED = CompiledStatements()


class HotConnection(ABC, Generic[C]):
    """What the connection classes of both databases share: which statements take the
    shortcut (marked hot, and `hot_enabled`) and their compiled form `C`, from `COMPILED`.
    Each database's class says how it compiles (`_compile`) and runs them."""

    __slots__ = ("dialect", "hot_enabled")

    dialect: Dialect
    hot_enabled: bool

    def _compiled_for(self, statement: Any, first: Mapping[str, Any]) -> C | None:
        """The compiled form of a hot `statement` for the column names of `first` (the call's
        parameters, or the first row of an executemany); None when SQLAlchemy must run it."""
        if not self.hot_enabled or not is_hot(statement):
            return None
        return COMPILED.get(self.dialect.name, statement, tuple(sorted(first)), self._compile)

    @abstractmethod
    def _compile(self, statement: Any, keys: tuple[str, ...]) -> C | None:
        """`statement` compiled for this database and the columns `keys`; None when it cannot
        take the shortcut (Python-side defaults, RETURNING, …)."""
