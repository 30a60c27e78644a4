"""A database that went away: telling it from a bug, and logging it without flooding the log.

While the database is unreachable every request and every loop tick fails the same way; a
traceback each (hundreds of lines through SQLAlchemy and the driver) buries everything else.
`report_failure` writes one line per failure instead, at most BURST lines per WINDOW seconds,
and one summary line for the rest of the window.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

import sqlalchemy.exc

log = logging.getLogger("perdure.db")

# How long a client should wait before trying again (the Retry-After of a 503), seconds.
RETRY_AFTER_SECONDS = 2
WINDOW = 10.0
BURST = 5

# SQLSTATE classes of a connection lost or refused, an operator shutdown, or no resources:
# 08 connection exception, 53 insufficient resources, 57 operator intervention (including
# pg_terminate_backend's 57P01 and statement timeouts), 58 system error.
_PG_UNAVAILABLE_CLASSES = frozenset({"08", "53", "57", "58"})
# SQLite's primary result codes for a database another process holds or a disk that refuses:
# BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL.
_SQLITE_UNAVAILABLE_CODES = frozenset({5, 6, 7, 8, 10, 13, 14, 15})


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means "the database cannot be used right now" (try again later), as
    opposed to a bug in a statement."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_unavailable(e) for e in exc.exceptions)
    if isinstance(exc, sqlalchemy.exc.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if exc.orig is not None else exc
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_UNAVAILABLE_CODES
    sqlstate = getattr(exc, "sqlstate", "")
    if type(exc).__module__.startswith("psycopg"):
        import psycopg

        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            # No SQLSTATE: the client could not connect or lost the connection.
            return not sqlstate or sqlstate[:2] in _PG_UNAVAILABLE_CLASSES
    return isinstance(exc, ConnectionError)


def describe(exc: BaseException) -> str:
    """One line: the driver's error class and the first line of its message."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.orig is not None:
        exc = exc.orig
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:300]


class FailureLog:
    """One line per failure, at most `burst` per `window` seconds, then a summary line."""

    def __init__(self, logger: logging.Logger, *, window: float = WINDOW, burst: int = BURST):
        self.logger = logger
        self.window = window
        self.burst = burst
        self._started = 0.0
        self._written = 0
        self._suppressed = 0
        self._summary: asyncio.TimerHandle | None = None

    def report(self, message: str) -> None:
        now = time.monotonic()
        if now - self._started >= self.window:
            self._flush()
            self._started, self._written = now, 0
        if self._written < self.burst:
            self._written += 1
            self.logger.warning(message)
            return
        self._suppressed += 1
        if self._summary is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._summary = loop.call_later(self._started + self.window - now, self._flush)

    def _flush(self) -> None:
        if self._summary is not None:
            self._summary.cancel()
            self._summary = None
        if self._suppressed:
            self.logger.warning(
                "database unavailable: %d more failure(s) like the above in %.0f s",
                self._suppressed,
                self.window,
            )
            self._suppressed = 0


outages = FailureLog(log)


def report_failure(logger: logging.Logger, where: str, exc: BaseException) -> None:
    """Log a failed request or loop tick: one rate-limited line when the database is
    unavailable, a traceback otherwise (a bug worth reading)."""
    if is_unavailable(exc):
        outages.report(f"database unavailable ({where}): {describe(exc)}")
    else:
        logger.error("%s failed", where, exc_info=exc)
