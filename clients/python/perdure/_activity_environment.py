"""`testing.ActivityEnvironment` (Temporal's): run an activity function in a test, without a
server or a worker, with its `activity.info()`, heartbeats and cancellation under the test's
control."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from perdure import activity
from perdure.client import Client


def default_info() -> activity.Info:
    """Temporal's test defaults: attempt 1, ids "test", timeouts of 5 s (start to close)."""
    now = datetime.now(UTC)
    return activity.Info(
        activity_id="test",
        activity_type="unknown",
        attempt=1,
        task_queue="test",
        task_token="test-task-token",
        workflow_id="test",
        workflow_run_id="test-run",
        workflow_type="test",
        heartbeat_details=[],
        heartbeat_timeout=None,
        start_to_close_timeout=timedelta(seconds=5),
        schedule_to_close_timeout=timedelta(seconds=5),
        scheduled_time=now,
        started_time=now,
        current_attempt_scheduled_time=now,
        namespace="default",
        workflow_namespace="default",
    )


class ActivityEnvironment:
    """Set `info`, `on_heartbeat` (called with the details of each `activity.heartbeat`) and
    `client`, then `run(fn, *args)`; `cancel()` and `worker_shutdown()` act on the running
    activity as the worker would (an async activity's task is cancelled; a sync one sees it
    at its next heartbeat)."""

    def __init__(self, client: Client | None = None) -> None:
        self.info = default_info()
        self.on_heartbeat: Callable[..., None] = lambda *details: None
        self.client = client
        self._cancelled = threading.Event()
        self._shutdown = threading.Event()
        self._context: activity.ActivityContext | None = None
        self._task: asyncio.Task[Any] | None = None

    def cancel(
        self,
        cancellation_details: activity.ActivityCancellationDetails = (
            activity.ActivityCancellationDetails(cancel_requested=True)
        ),
    ) -> None:
        """Ask the running activity to cancel."""
        if self._context is not None:
            self._context.cancellation = cancellation_details
        self._cancelled.set()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def worker_shutdown(self) -> None:
        """Tell the running activity that its worker is shutting down."""
        self._shutdown.set()

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call `fn` as the activity; an async function gives an awaitable of its result."""
        definition = getattr(fn, "__perdure_activity__", None)
        info = self.info
        if definition is not None and info.activity_type == "unknown":
            from dataclasses import replace

            info = replace(info, activity_type=definition.name or fn.__name__)
        context = activity.ActivityContext(
            info,
            lambda details: self.on_heartbeat(*([] if details is None else [details])),
            not asyncio.iscoroutinefunction(fn),
            client=self.client,
            worker_shutdown=self._shutdown,
        )
        context.cancelled = self._cancelled
        self._context = context
        if asyncio.iscoroutinefunction(fn):

            async def run_async() -> Any:
                token = activity._current.set(context)
                try:
                    self._task = asyncio.current_task()
                    return await fn(*args, **kwargs)
                finally:
                    activity._current.reset(token)

            return run_async()
        token = activity._current.set(context)
        try:
            return fn(*args, **kwargs)
        finally:
            activity._current.reset(token)
