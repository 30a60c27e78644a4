"""The connection every service types against: what `Database.read` and `Database.write` hand
out on either database (SQLiteConnection, PostgresConnection, or a SQLAlchemy connection behind
`AlchemyConnection`), so no module claims an `AsyncConnection` it does not get."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")

# A result and a row of any columns (SQLAlchemy 2.1 types them by their columns' types).
Rows = sa.CursorResult[*tuple[Any, ...]]
Row = sa.Row[*tuple[Any, ...]]


class Connection(Protocol):
    """One database connection inside `Database.read()` or `Database.write()`.

    `execute` answers a SQLAlchemy result (rows, `scalar()`, `mappings()`, `rowcount`), typed
    as one. The exception: a write marked hot answers only `rowcount` (`hot.DMLResult`), and on
    PostgreSQL inside a transaction nothing at all until it is sent (`postgres.QUEUED`, whose
    `rowcount` raises); a caller that needs the count uses a statement not marked hot."""

    async def execute(self, statement: Any, parameters: Any = None) -> Rows:
        """Run one statement (a SQLAlchemy Core statement) with its parameters: a mapping, or
        a list of mappings for executemany."""
        ...

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        """The first column of the first row, or None."""
        ...

    @property
    def dialect(self) -> sa.Dialect:
        """The database's SQLAlchemy dialect (`dialect.name`: "sqlite" or "postgresql")."""
        ...

    async def run_sync(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run `fn` with a synchronous SQLAlchemy connection (Alembic, bounded reads)."""
        ...

    def read_with_next(self, statement: Any, parameters: Mapping[str, Any]) -> None:
        """Send `statement` in the round trip of the next one, where the connection pipelines
        (PostgreSQL inside a transaction); elsewhere nothing."""
        ...


class AlchemyConnection:
    """A SQLAlchemy `AsyncConnection` as a `Connection` (transactional reads on PostgreSQL)."""

    __slots__ = ("alchemy",)

    def __init__(self, alchemy: AsyncConnection) -> None:
        self.alchemy = alchemy

    @property
    def dialect(self) -> sa.Dialect:
        return self.alchemy.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Rows:
        return await self.alchemy.execute(statement, parameters)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return await self.alchemy.scalar(statement, parameters)

    async def run_sync(self, fn: Callable[[sa.Connection], T]) -> T:
        return await self.alchemy.run_sync(fn)

    def read_with_next(self, statement: Any, parameters: Mapping[str, Any]) -> None:
        """Nothing to send ahead: this connection does not pipeline."""
