"""The event loop of one workflow run: it runs only when the runtime steps it, its time is the
workflow's time, and `call_later` is a durable server timer (perdure/_runtime.py emits the
commands)."""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import TYPE_CHECKING, Any

from perdure.exceptions import ContinueAsNewError

if TYPE_CHECKING:
    from perdure._operations import Command
    from perdure._runtime import WorkflowInstance

log = logging.getLogger("perdure.worker")


class DurableTimer(asyncio.TimerHandle):
    """`loop.call_later` in a workflow: a server timer; cancelling it cancels the timer."""

    def __init__(
        self, when: float, callback: Any, args: Any, loop: WorkflowLoop, context: Any
    ) -> None:
        super().__init__(when, callback, args, loop, context=context)
        self.command: Command | None = None

    def cancel(self) -> None:
        if not self.cancelled() and self.command is not None and not self.command.done:
            self._loop.instance.cancel_timer(self)  # type: ignore[attr-defined]  # the loop is always a WorkflowLoop
        super().cancel()


class WorkflowLoop(asyncio.AbstractEventLoop):
    """An event loop that only runs when the runtime steps it; time is the workflow's time."""

    def __init__(self, instance: WorkflowInstance) -> None:
        self.instance = instance
        self._ready: collections.deque[asyncio.Handle] = collections.deque()

    # -- what asyncio needs ------------------------------------------------------------------

    def call_soon(  # type: ignore[override]  # asyncio's is generic over the callback's args
        self, callback: Any, *args: Any, context: Any = None
    ) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context=context)
        self._ready.append(handle)
        return handle

    def call_later(  # type: ignore[override]  # asyncio's is generic over the callback's args
        self, delay: float, callback: Any, *args: Any, context: Any = None
    ) -> Any:
        if delay <= 0:
            return self.call_soon(callback, *args, context=context)
        return self.instance.start_timer(delay, callback, args, context)

    def call_at(  # type: ignore[override]  # asyncio's is generic over the callback's args
        self, when: float, callback: Any, *args: Any, context: Any = None
    ) -> Any:
        return self.call_later(when - self.time(), callback, *args, context=context)

    def time(self) -> float:
        return self.instance.now.timestamp()

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(self, coro: Any, *, name: str | None = None, context: Any = None) -> Any:
        return asyncio.Task(coro, loop=self, name=name, context=context)

    def get_debug(self) -> bool:
        return False

    def is_running(self) -> bool:
        return True

    def is_closed(self) -> bool:
        return False

    def _timer_handle_cancelled(self, handle: Any) -> None:
        pass

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, asyncio.CancelledError | ContinueAsNewError):
            return
        if "destroyed but it is pending" in str(context.get("message")):
            return  # an evicted or finished run's tasks are dropped with it
        log.warning(
            "workflow %s: %s",
            self.instance.info.workflow_id,
            context.get("message"),
            exc_info=error,
        )

    def get_exception_handler(self) -> Any:
        return None

    # -- stepping ---------------------------------------------------------------------------

    def run_ready(self) -> bool:
        """Run every ready callback (and those they make ready); True if any ran."""
        ran = False
        while self._ready:
            handle = self._ready.popleft()
            if not handle.cancelled():
                handle._run()
                ran = True
        return ran
