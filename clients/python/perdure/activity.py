"""Activities: `@activity.defn` functions (async, or sync run in a thread pool) and what they
can ask while running: `info()`, `heartbeat(details)`, `is_cancelled()`, `logger`,
`raise_complete_async()`, `wait_for_cancelled()`, `client()`."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from perdure.client import Client
    from perdure.converter import PayloadConverter

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ActivityDefinition:
    """An `@activity.defn` function: its activity type name and how it runs."""

    name: str
    fn: Callable[..., Any]
    is_async: bool
    dynamic: bool = False


@overload
def defn(fn: F) -> F: ...


@overload
def defn(
    *, name: str | None = None, no_thread_cancel_exception: bool = False
) -> Callable[[F], F]: ...


@overload
def defn(
    *, no_thread_cancel_exception: bool = False, dynamic: bool = False
) -> Callable[[F], F]: ...


def defn(
    fn: F | None = None,
    *,
    name: str | None = None,
    no_thread_cancel_exception: bool = False,
    dynamic: bool = False,
) -> Any:
    """Mark a function (or a method, registered on the worker as `obj.method`) as an activity.

    Its type is the function name unless `name` is given. `dynamic=True` makes it the worker's
    activity for every type it has no other function for: it takes one parameter, the
    arguments as a `Sequence[RawValue]`, and reads its type from `info().activity_type`
    (Temporal's dynamic activities). `no_thread_cancel_exception` is accepted for Temporal's
    code: Perdure never raises into a sync activity's thread, only from `heartbeat()`."""
    import inspect

    if dynamic and name:
        raise ValueError("a dynamic activity takes no name")

    def wrap(f: F) -> F:
        f.__perdure_activity__ = ActivityDefinition(  # type: ignore[attr-defined]  # a marker set on the decorated function or class
            name="" if dynamic else name or f.__name__,
            fn=f,
            is_async=inspect.iscoroutinefunction(f),
            dynamic=dynamic,
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
    """What the running activity attempt knows about itself (Temporal's `activity.Info`: every
    duration a `timedelta`, every time an aware `datetime`)."""

    activity_id: str
    activity_type: str
    attempt: int
    task_queue: str
    task_token: str
    workflow_id: str
    workflow_run_id: str
    workflow_type: str
    heartbeat_details: list[Any]
    heartbeat_timeout: timedelta | None
    start_to_close_timeout: timedelta | None
    schedule_to_close_timeout: timedelta | None
    scheduled_time: datetime | None
    started_time: datetime | None
    current_attempt_scheduled_time: datetime | None = None
    namespace: str = ""
    workflow_namespace: str = ""
    is_local: bool = False

    def _logger_details(self) -> dict[str, Any]:
        """What `activity.logger` adds to each record (Temporal's keys)."""
        return {
            "activity_id": self.activity_id,
            "activity_type": self.activity_type,
            "attempt": self.attempt,
            "namespace": self.namespace,
            "task_queue": self.task_queue,
            "workflow_id": self.workflow_id,
            "workflow_run_id": self.workflow_run_id,
            "workflow_type": self.workflow_type,
        }


@dataclass(frozen=True)
class ActivityCancellationDetails:
    """Why the attempt was cancelled (temporalio's `ActivityCancellationDetails`): the workflow
    asked (`cancel_requested`), an operator paused (`paused`) or reset (`reset`) the activity,
    the attempt is gone (`not_found`: timed out, or its run closed), or the worker is shutting
    down (`worker_shutdown`)."""

    not_found: bool = False
    cancel_requested: bool = False
    paused: bool = False
    timed_out: bool = False
    worker_shutdown: bool = False
    reset: bool = False


class ActivityContext:
    """The worker's side of a running attempt: heartbeats, cancellation, worker shutdown."""

    def __init__(
        self,
        info: Info,
        send_heartbeat: Callable[[Any], object],
        is_sync: bool,
        *,
        client: Client | None = None,
        worker_shutdown: threading.Event | None = None,
    ) -> None:
        self.info = info
        self.is_sync = is_sync
        self._send_heartbeat = send_heartbeat
        self.cancelled = threading.Event()
        self.cancellation: ActivityCancellationDetails | None = None
        self.worker_shutdown = worker_shutdown or threading.Event()
        self.client = client
        self.last_heartbeat: Any = None
        self.logger_details = info._logger_details()

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
    """Record progress; the server keeps the last details for the next attempt.

    In a sync activity, once cancellation was requested, this raises
    `perdure.exceptions.CancelledError` (Temporal's `temporalio.exceptions.CancelledError`,
    which programs catch); async activities are cancelled as tasks (`asyncio.CancelledError`)."""
    ctx = _context()
    ctx.heartbeat(details[0] if len(details) == 1 else list(details) if details else None)
    if ctx.cancelled.is_set() and ctx.is_sync:
        from perdure.exceptions import CancelledError

        raise CancelledError("activity cancellation requested")


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


def run_in_process(fn: Callable[..., Any], info: Info, args: list[Any]) -> Any:
    """Run a sync activity in a process pool's process, with its `info()` (a module-level
    function, so that the pool can pickle the call)."""
    _current.set(ActivityContext(info, lambda _details: None, True))
    return fn(*args)


def is_worker_shutdown() -> bool:
    """True once the worker running this attempt has begun shutting down."""
    return _context().worker_shutdown.is_set()


async def _wait_event(event: threading.Event) -> None:
    # A threading.Event (sync activities' threads share it) read from the loop: polled.
    while not event.is_set():  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def wait_for_cancelled() -> None:
    """Return once cancellation was requested (learned through heartbeats)."""
    await _wait_event(_context().cancelled)


def wait_for_cancelled_sync(timeout: timedelta | float | None = None) -> None:  # noqa: ASYNC109
    """Block (a sync activity's thread) until cancellation was requested or `timeout` passed."""
    _context().cancelled.wait(_seconds(timeout))


async def wait_for_worker_shutdown() -> None:
    """Return once the worker begins shutting down."""
    await _wait_event(_context().worker_shutdown)


def wait_for_worker_shutdown_sync(timeout: timedelta | float | None = None) -> None:  # noqa: ASYNC109
    """Block until the worker begins shutting down or `timeout` passed."""
    _context().worker_shutdown.wait(_seconds(timeout))


def _seconds(value: timedelta | float | None) -> float | None:
    return value.total_seconds() if isinstance(value, timedelta) else value


@contextlib.contextmanager
def shield_thread_cancel_exception() -> Iterator[None]:
    """Temporal's guard against a cancel raised into a sync activity's thread mid-block;
    Perdure raises cancellation only from `heartbeat()`, so there is nothing to shield."""
    yield


def client() -> Client:
    """The client of the worker running this activity (to start or signal workflows)."""
    found = _context().client
    if found is None:
        raise RuntimeError("this activity runs without a client (ActivityEnvironment?)")
    return found


def payload_converter() -> PayloadConverter:
    """The payload converter of the worker running this activity."""
    from perdure.converter import default

    return default().payload_converter


class LoggerAdapter(logging.LoggerAdapter):
    """`activity.logger`: appends the attempt's details to each message and puts them on the
    record as `temporal_activity` (Temporal's adapter and switches)."""

    def __init__(self, logger: logging.Logger, extra: Mapping[str, Any] | None) -> None:
        super().__init__(logger, extra or {})
        self.activity_info_on_message = True
        self.activity_info_on_extra = True
        self.full_activity_info_on_extra = False

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        ctx = _current.get(None)
        if ctx is not None:
            if self.activity_info_on_message:
                msg = f"{msg} ({ctx.logger_details})"
            if self.activity_info_on_extra or self.full_activity_info_on_extra:
                extra = dict(kwargs.get("extra") or {})  # never change the caller's dict
                if self.activity_info_on_extra:
                    extra["temporal_activity"] = ctx.logger_details
                if self.full_activity_info_on_extra:
                    extra["activity_info"] = ctx.info
                kwargs["extra"] = extra
        return msg, kwargs

    @property
    def base_logger(self) -> logging.Logger:
        """The logger underneath (to add handlers or formatters)."""
        return self.logger


logger = LoggerAdapter(logging.getLogger("perdure.activity"), None)
