"""Logging: JSON lines in production, readable lines in `perdure dev`; one line per request
and a line for each engine event worth an operator's attention. Never payloads or secrets:
callers pass ids, names, statuses and durations only."""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

import anyio
from pythonjsonlogger.json import JsonFormatter

from app.settings import Environment, Settings

REQUEST_LOG = logging.getLogger("perdure.http")
ENGINE_LOG = logging.getLogger("perdure.engine")
# Fields every record may carry beside its message; the readable format appends those set.
CONTEXT_FIELDS = (
    "method",
    "route",
    "status",
    "duration_ms",
    "namespace",
    "namespace_id",
    "workflow_id",
    "run_id",
    "task_queue",
    "activity_type",
    "cause",
    "attempt",
    "endpoint",
    "outcome",
    "path",
    "deployment_name",
    "build_id",
    "identity",
)


class ReadableFormatter(logging.Formatter):
    """`12:00:01.234 INFO  perdure.http  GET /api/... 201 3.1 ms  namespace=default`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-5s %(name)s  %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [
            f"{name}={getattr(record, name)}"
            for name in CONTEXT_FIELDS
            if getattr(record, name, None) is not None and name not in _IN_MESSAGE
        ]
        return f"{line}  {' '.join(extras)}" if extras else line

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return time.strftime(datefmt or "%H:%M:%S", time.localtime(record.created)) + (
            f".{int(record.msecs):03d}"
        )


# Request lines already say these in their message.
_IN_MESSAGE = {"method", "route", "status", "duration_ms", "path"}
# Fields other libraries attach that JSON lines leave out: uvicorn's copy of its message with
# ANSI color escapes.
_DROPPED = ("color_message",)


class JsonLines(JsonFormatter):
    """One JSON object a line: `time` in RFC 3339 with its zone (UTC, milliseconds), `level`,
    `logger`, `message`, and the record's context fields."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        moment = datetime.fromtimestamp(record.created, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        for name in _DROPPED:
            log_data.pop(name, None)
        return log_data


def is_hang_up(exc: BaseException | None) -> bool:
    """Whether an exception only says that a client went away (or was dropped for not
    reading): normal on a server holding long waits and streams, never an error."""
    if exc is None:
        return False
    if isinstance(exc, BaseExceptionGroup):
        return all(is_hang_up(e) for e in exc.exceptions)
    from starlette.requests import ClientDisconnect

    from app.sse import StreamStalled

    return isinstance(
        exc, StreamStalled | ClientDisconnect | ConnectionError | anyio.BrokenResourceError
    )


class HangUpsAreDebug(logging.Filter):
    """uvicorn logs "Exception in ASGI application" with a traceback when a response ends by
    an exception; when that exception is a client's hang-up (or a stalled stream cut), the
    record becomes one DEBUG line without the traceback (issue 28: 3,000 clients leaving at
    once wrote 4 MB of tracebacks)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not is_hang_up(exc):
            return True
        record.msg, record.args = "client went away: %s", (type(exc).__name__,)
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger("perdure").isEnabledFor(logging.DEBUG)


def quiet_hang_ups() -> None:
    """Install HangUpsAreDebug on uvicorn's error logger (once; wherever the app is served)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, HangUpsAreDebug) for f in logger.filters):
        logger.addFilter(HangUpsAreDebug())


def configure_logging(settings: Settings) -> None:
    """Route every logger (uvicorn's included) to stderr in the environment's format, at
    PERDURE_LOG_LEVEL. uvicorn's own access log is switched off: `perdure.http` replaces it
    with lines that carry the route template, namespace and duration."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.environment == Environment.PRODUCTION:
        handler.setFormatter(
            JsonLines(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(ReadableFormatter())
    quiet_hang_ups()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    access.disabled = True


def log_request(
    method: str,
    route: str,
    status: int,
    seconds: float,
    namespace: str | None,
    *,
    path: str | None = None,
) -> None:
    """One line per request: `GET /api/v1/namespaces/{namespace}/... 200 2.4 ms`; a request
    no route matched carries its `path`."""
    if not REQUEST_LOG.isEnabledFor(logging.INFO):
        return
    duration_ms = round(seconds * 1000, 2)
    REQUEST_LOG.info(
        "%s %s %d %.1f ms",
        method,
        route if path is None else f"{route} {path}",
        status,
        duration_ms,
        extra={
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            "namespace": namespace,
            "path": path,
        },
    )


def log_engine_events(notes: list[tuple[int, str, dict[str, Any]]]) -> None:
    """Engine events a transition noted, logged after it committed (a rolled-back transition
    logs nothing)."""
    for level, message, fields in notes:
        ENGINE_LOG.log(level, message, extra=fields)
