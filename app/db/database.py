"""Engines and transactions for SQLite (embedded default) and PostgreSQL.

PostgreSQL: one async psycopg pool for reads and writes, its connections in autocommit mode; a
write transaction sends its own BEGIN and COMMIT and pipelines its statements, and a read runs
each statement on its own (app/db/postgres.py).

SQLite: the database is a file in this process, and its statements take microseconds, while
handing each one to aiosqlite's thread costs about half a millisecond. So SQLite transactions
run synchronously on the event loop thread, behind the same async interface: one writer
connection (`BEGIN IMMEDIATE`, which also avoids lock-upgrade deadlocks) behind a lock that
serves tenants in turn (app/db/fairness.py), and a few reader connections under WAL. The
embedded default is therefore one process per database file (`perdure serve` with several
workers needs PostgreSQL).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.connection import AlchemyConnection, Connection
from app.db.fairness import FairGate
from app.db.postgres import PostgresConnection
from app.db.sqlite import SQLiteConnection

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_READERS = 4
# How long a write waits for another process to let go of SQLite's write lock, seconds. The
# wait is asynchronous (BEGIN IMMEDIATE is retried every SQLITE_LOCK_POLL seconds), so a held
# lock stalls the writes that need it, not the event loop; past it the write fails and is
# answered 503.
SQLITE_LOCK_TIMEOUT = 10.0
SQLITE_LOCK_POLL = 0.02
# A PostgreSQL that does not answer at all (a dropped network) is given up after this long.
POSTGRES_CONNECT_TIMEOUT = 10
# A pooled PostgreSQL connection idle at least this long is pinged before use, seconds.
PING_AFTER_IDLE_SECONDS = 1.0
T = TypeVar("T")


def _prepare_sqlite_file(url: str) -> None:
    """Create the database file readable by its owner only (SQLite gives its -wal and -shm
    files the same mode); it holds sealed secrets and hashed keys, but still."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _sync_sqlite_url(url: str) -> str:
    return make_url(url).set(drivername="sqlite").render_as_string(hide_password=False)


def _sqlite_engine(url: str, *, writer: bool, pool_size: int) -> sa.Engine:
    engine = sa.create_engine(
        _sync_sqlite_url(url),
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=60,
        poolclass=sa.QueuePool,
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE can be issued.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL under WAL survives a process crash (SIGKILL); only power loss can drop the
        # last commits, which is the documented trade-off of the embedded default.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # The writer never sleeps in SQLite's busy handler: Database.write waits instead.
        cursor.execute(f"PRAGMA busy_timeout={0 if writer else SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if writer:
            # Database.write has issued BEGIN IMMEDIATE already (it may have had to wait).
            if not cast(sqlite3.Connection, conn.connection.driver_connection).in_transaction:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def _ping_idle_connections(engine: sa.Engine) -> None:
    """Ping a pooled connection before use only when it sat idle for a while: one that has
    just been checked in is alive, and a ping per transaction is a round trip per transaction.
    A connection that fails its ping is replaced (as `pool_pre_ping` does), so a restarted
    PostgreSQL costs no request; one that dies while busy fails its transaction, and the
    pool then replaces every connection of that generation."""

    @sa.event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise sa.exc.DisconnectionError() from exc


def _roll_back_on_return(engine: sa.Engine) -> None:
    """Roll back a connection that comes back to the pool inside a transaction (a write that
    raised before its COMMIT, or one cancelled mid-way); an idle one is left as it is."""

    @sa.event.listens_for(engine, "reset")
    def _reset(dbapi_connection: Any, _record: Any, state: Any) -> None:
        if not state.asyncio_safe:
            return  # garbage collected outside the event loop: the pool closes it
        status = dbapi_connection.driver_connection.info.transaction_status
        if status != psycopg.pq.TransactionStatus.IDLE:
            dbapi_connection.rollback()


def _connect_args(url: str) -> dict[str, Any]:
    """psycopg options the URL does not set already."""
    given = make_url(url).query
    return {} if "connect_timeout" in given else {"connect_timeout": POSTGRES_CONNECT_TIMEOUT}


class Database:
    """The engines of one server process and the two ways to use them: read and write."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 16,
        lock_timeout: float = SQLITE_LOCK_TIMEOUT,
        concurrency: int | None = None,
        hot_statements: bool = True,
    ) -> None:
        """`hot_statements=False` turns the hot-statement shortcut off (ADR 0002): every
        statement then goes through SQLAlchemy, to measure what the shortcut buys."""
        self.url = url
        self.hot_statements = hot_statements
        self.lock_timeout = lock_timeout
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            _prepare_sqlite_file(url)
            self._sqlite_writer = _sqlite_engine(url, writer=True, pool_size=1)
            self._sqlite_reader = _sqlite_engine(url, writer=False, pool_size=SQLITE_READERS)
            # Connections are opened once and kept: a pool checkout per transaction costs more
            # than the transaction.
            self._writer_conn: sa.Connection | None = None
            self._idle_readers: list[sa.Connection] = []
            # Fair between tenants (app/db/fairness.py): a queue per tenant, served in turn.
            self._write_lock = FairGate(1)
            self._readers = FairGate(SQLITE_READERS)
            self.dialect = "sqlite"
        else:
            self._engine = create_async_engine(
                url,
                # Kept open: as many as one tenant's requests at work on PostgreSQL (16, see
                # app/api/limits/admission.py), so a busy tenant does not make the pool open
                # and close overflow connections (a login and a backend fork each) all along.
                # The overflow serves the background loops; 20 at most, as before.
                pool_size=pool_size,
                max_overflow=max(4, pool_size // 4),
                # The connection used last is used next: busy connections stay warm (their
                # prepared statements too) and the rest idle out of the ping-free window.
                pool_use_lifo=True,
                # Autocommit once per connection, not set and reset at every checkout: write
                # transactions send their own BEGIN (app/db/postgres.py).
                isolation_level="AUTOCOMMIT",
                # A connection comes back idle unless a transaction failed or was abandoned;
                # `_roll_back_on_return` checks, rather than a ROLLBACK call per checkin.
                pool_reset_on_return=None,
                connect_args=_connect_args(url),
            )
            _ping_idle_connections(self._engine.sync_engine)
            _roll_back_on_return(self._engine.sync_engine)
            self._transactional = self._engine.execution_options(isolation_level="READ COMMITTED")
            self.dialect = self._engine.dialect.name
            # Transactions at once, shared fairly between tenants (app/db/fairness.py).
            # The pool and its overflow.
            self._gate = FairGate(concurrency or pool_size + max(4, pool_size // 4))

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Connection]:
        """One transaction that commits when the block exits without an exception."""
        if self.is_sqlite:
            async with self._write_lock.slot():
                if self._writer_conn is None:
                    self._writer_conn = self._sqlite_writer.connect()
                await self._begin_immediate(
                    cast(sqlite3.Connection, self._writer_conn.connection.driver_connection)
                )
                with self._writer_conn.begin():
                    yield SQLiteConnection(self._writer_conn, hot_enabled=self.hot_statements)
            return
        # In autocommit mode: the transaction's BEGIN is sent by PostgresConnection, in the
        # same pipeline as its first statements.
        async with self._gate.slot():
            conn = PostgresConnection(
                self._engine,
                await self._checkout(),
                transaction=True,
                hot_enabled=self.hot_statements,
            )
            try:
                yield conn
                await conn.commit()
            finally:
                await conn.release()

    async def _checkout(self) -> Any:
        """A pooled PostgreSQL connection (the pool's proxy). A connection that cannot be made
        raises SQLAlchemy's exception of the driver's error, as `engine.connect()` would."""
        try:
            return await self._engine.raw_connection()
        except psycopg.Error as err:
            sync = self._engine.sync_engine
            sa.Connection._handle_dbapi_exception_noconnection(err, sync.dialect, sync)
            raise

    async def _begin_immediate(self, raw: sqlite3.Connection) -> None:
        """Take SQLite's write lock, waiting (without blocking the loop) while another process
        holds it; after `lock_timeout` seconds SQLite's "database is locked" goes up."""
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() >= deadline:
                    raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, exc) from exc
            await asyncio.sleep(SQLITE_LOCK_POLL)

    @asynccontextmanager
    async def read(self, *, transaction: bool = False) -> AsyncIterator[Connection]:
        """A connection for reading. On PostgreSQL each statement runs on its own (autocommit),
        unless `transaction` asks for one around them (e.g. for settings local to it): under
        READ COMMITTED a transaction gives reads no common snapshot anyway, and its BEGIN and
        COMMIT would be two more round trips. SQLite's readers always run in one."""
        if self.is_sqlite:
            async with self._readers.slot():
                conn = (
                    self._idle_readers.pop()
                    if self._idle_readers
                    else self._sqlite_reader.connect()
                )
                try:
                    with conn.begin():
                        yield SQLiteConnection(conn, hot_enabled=self.hot_statements)
                finally:
                    self._idle_readers.append(conn)
            return
        if transaction:
            async with self._gate.slot(), self._transactional.begin() as alchemy:
                yield AlchemyConnection(alchemy)
            return
        async with self._gate.slot():
            reader = PostgresConnection(
                self._engine,
                await self._checkout(),
                transaction=False,
                hot_enabled=self.hot_statements,
            )
            try:
                yield reader
            finally:
                await reader.release()

    def connections_in_use(self) -> int:
        """Connections checked out now (the pool-use gauge)."""
        if self.is_sqlite:
            return self._write_lock.in_use + self._readers.in_use
        # QueuePool's count; the Pool base class does not declare it.
        return cast(int, self._engine.sync_engine.pool.checkedout())  # type: ignore[attr-defined]

    async def dispose(self) -> None:
        if self.is_sqlite:
            for conn in [self._writer_conn, *self._idle_readers]:
                if conn is not None:
                    conn.close()
            self._writer_conn, self._idle_readers = None, []
            self._sqlite_writer.dispose()
            self._sqlite_reader.dispose()
        else:
            await self._engine.dispose()
