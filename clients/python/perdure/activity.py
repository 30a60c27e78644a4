"""Activities: `@activity.defn` functions (async, or sync run in a thread pool) and what they
can ask while running: `info()`, `heartbeat(details)`, `is_cancelled()`,
`raise_complete_async()`."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ActivityDefinition:
    """An `@activity.defn` function: its activity type name and how it runs."""

    name: str
    fn: Callable[..., Any]
    is_async: bool


def defn(fn: F | None = None, *, name: str | None = None) -> Any:
    """Mark a function as an activity (its type is the function name unless `name` is given)."""
    import inspect

    def wrap(f: F) -> F:
        f.__perdure_activity__ = ActivityDefinition(  # type: ignore[attr-defined]
            name=name or f.__name__, fn=f, is_async=inspect.iscoroutinefunction(f)
        )
        return f

    return wrap(fn) if fn is not None else wrap


def definition(fn: Any) -> ActivityDefinition:
    """The definition of a `@activity.defn` function."""
    found = getattr(fn, "__perdure_activity__", None)
    if found is None:
        raise TypeError(f"{fn!r} is not an @activity.defn function")
    return found


@dataclass(frozen=True)
class Info:
    """What the running activity attempt knows about itself."""

    activity_id: str
    activity_type: str
    attempt: int
    task_queue: str
    task_token: str
    workflow_id: str
    workflow_run_id: str
    workflow_type: str
    heartbeat_details: list[Any]
    heartbeat_timeout: float | None
    start_to_close_timeout: float | None
    schedule_to_close_timeout: float | None
    scheduled_time: datetime | str
    started_time: datetime | str


@dataclass(frozen=True)
class ActivityCancellationDetails:
    """Why the attempt was cancelled (temporalio's `ActivityCancellationDetails`): the workflow
    asked (`cancel_requested`), an operator paused (`paused`) or reset (`reset`) the activity,
    or the attempt is gone (`not_found`: timed out, or its run closed)."""

    cancel_requested: bool = False
    paused: bool = False
    reset: bool = False
    not_found: bool = False


class ActivityContext:
    """The worker's side of a running attempt: heartbeats and cancellation."""

    def __init__(self, info: Info, send_heartbeat: Callable[[Any], None], is_sync: bool) -> None:
        self.info = info
        self.is_sync = is_sync
        self._send_heartbeat = send_heartbeat
        self.cancelled = threading.Event()
        self.cancellation: ActivityCancellationDetails | None = None
        self.last_heartbeat: Any = None

    def heartbeat(self, details: Any) -> None:
        """Keep the details and hand them to the sender (any thread)."""
        self.last_heartbeat = details
        self._send_heartbeat(details)


_current: contextvars.ContextVar[ActivityContext] = contextvars.ContextVar("perdure_activity")


def _context() -> ActivityContext:
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError("not inside an activity") from None


def info() -> Info:
    """The running activity's info (id, type, attempt, workflow, last heartbeat details…)."""
    return _context().info


def heartbeat(*details: Any) -> None:
    """Record progress; the server keeps the last details for the next attempt. Raises
    `asyncio.CancelledError` in a sync activity once cancellation was requested (async
    activities are cancelled as tasks)."""
    import asyncio

    ctx = _context()
    ctx.heartbeat(details[0] if len(details) == 1 else list(details) if details else None)
    if ctx.cancelled.is_set() and ctx.is_sync:
        raise asyncio.CancelledError("activity cancellation requested")


def cancellation_details() -> ActivityCancellationDetails | None:
    """Why this attempt was cancelled, once it was (None before): e.g. `.paused` when an
    operator paused the activity (Temporal 1.28's activity controls)."""
    return _context().cancellation


def is_cancelled() -> bool:
    """True once the server has asked this attempt to cancel (learned through heartbeats)."""
    return _context().cancelled.is_set()


class CompleteAsyncError(BaseException):
    """Raised by `raise_complete_async()`; the worker then reports nothing (never catch it)."""


def raise_complete_async() -> None:
    """Leave this attempt running after the function returns: someone completes, fails or
    heartbeats it later through `Client.get_async_activity_handle` (or the HTTP routes) with
    `info().task_token`, or by workflow id and activity id."""
    raise CompleteAsyncError()


def in_activity() -> bool:
    """True inside an activity."""
    return _current.get(None) is not None
