"""Reads that may be heavy (visibility lists and counts), run within a time budget.

SQLite runs statements on the event loop thread (see database.py): a long scan there would
stall every poll of the process. So these reads go to a worker thread (sqlite3 releases the
GIL while a statement runs) on the reader connection already taken, and a progress handler
interrupts the statement once the budget is spent. PostgreSQL's own `statement_timeout`,
local to the read transaction, bounds them there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, OperationalError

from app.db.connection import Connection
from app.db.sqlite import SQLiteConnection

T = TypeVar("T")
# How many SQLite virtual machine instructions run between two looks at the clock.
PROGRESS_EVERY = 1_000
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for statement_timeout


async def read_bounded(conn: Connection, work: Callable[[sa.Connection], T], seconds: float) -> T:
    """`work(connection)` with every statement it runs bounded to `seconds` in all (SQLite) or
    each (PostgreSQL); TimeoutError when the budget runs out (nothing is written)."""
    if isinstance(conn, SQLiteConnection):
        return await asyncio.to_thread(_sqlite_bounded, conn, work, seconds)
    milliseconds = max(1, int(seconds * 1000))
    await conn.execute(sa.select(sa.func.set_config("statement_timeout", str(milliseconds), True)))
    try:
        return await conn.run_sync(work)
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == QUERY_CANCELED:
            raise TimeoutError(f"the read took more than {seconds:g} s") from None
        raise


def _sqlite_bounded(
    conn: SQLiteConnection, work: Callable[[sa.Connection], T], seconds: float
) -> T:
    deadline = time.monotonic() + seconds
    conn.raw.set_progress_handler(lambda: time.monotonic() > deadline, PROGRESS_EVERY)
    try:
        return work(conn.sync)
    except OperationalError as exc:
        if "interrupted" in str(exc.orig):
            raise TimeoutError(f"the read took more than {seconds:g} s") from None
        raise
    finally:
        conn.raw.set_progress_handler(None, 0)
