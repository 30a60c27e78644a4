"""The run workflow code is in, as workflow code sees it: `_Runtime`, abstract here and
implemented by the worker's `WorkflowInstance` (perdure/_runtime.py), and how to find the
current one. Temporal's shape (`temporalio.workflow._Runtime`, in its `workflow/_context.py`):
the workflow API asks this interface and never imports the worker, so no import circle."""

from __future__ import annotations

import asyncio
import contextvars
import random as _random
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from perdure._handlers import Handlers
    from perdure._local_activities import LocalActivities
    from perdure._operations import ActivityHandle, ChildWorkflowHandle, Command
    from perdure._updates import UpdateRuntime
    from perdure._workflow_info import Info
    from perdure.common import ActivityCancellationType, ChildWorkflowCancellationType, RetryPolicy

# The run a query or an activation is running for, beside the running loop (which names its
# run itself): the runtime sets it around each step.
current_runtime: contextvars.ContextVar[_Runtime | None] = contextvars.ContextVar(
    "perdure_workflow", default=None
)


class _Runtime(ABC):
    """One workflow run as its code sees it: the state it may read (replay-safe) and the
    commands it may emit. Every `perdure.workflow` call goes through `_Runtime.current()`."""

    # What workflow code reads; the runtime keeps it current at each activation.
    namespace: str
    run_id: str
    info: Info
    now: datetime  # the start time of the workflow task being run
    random: _random.Random  # seeded by the run id
    obj: Any  # the `@workflow.defn` instance, None until the run's first activation
    replaying: bool
    read_only: bool  # while a query handler runs
    cancel_reason: str | None
    current_details: str
    last_event_id: int
    history_bytes: int  # an estimate: the events as JSON
    continue_as_new_suggested: bool
    signal_handlers_running: int
    loop: asyncio.AbstractEventLoop
    handlers: Handlers
    updates: UpdateRuntime
    local: LocalActivities

    @staticmethod
    def maybe_current() -> _Runtime | None:
        """The run whose code is running now (its loop is running, or it is answering a
        query), else None."""
        runtime = getattr(asyncio._get_running_loop(), "instance", None)
        if isinstance(runtime, _Runtime):
            return runtime
        return current_runtime.get()

    @staticmethod
    def current() -> _Runtime:
        """The run whose code is running now; RuntimeError outside workflow code."""
        found = _Runtime.maybe_current()
        if found is None:
            raise RuntimeError("not inside a workflow")
        return found

    @abstractmethod
    def _next_seq(self) -> int:
        """The next command sequence number (activity and timer ids derive from it)."""

    @abstractmethod
    def is_failure_exception(self, err: BaseException) -> bool:
        """Whether `err`, escaping workflow code, fails the workflow (else only the task)."""

    @abstractmethod
    def add_command(self, command_type: str, attributes: dict[str, Any], future: Any) -> Command:
        """Emit a command as it is (`future` settled by its outcome event, if any)."""

    @abstractmethod
    def patch(self, patch_id: str, *, deprecated: bool) -> bool:
        """`workflow.patched` / `deprecate_patch` (rules in perdure/_patches.py)."""

    @abstractmethod
    def wait_condition(self, fn: Callable[[], bool]) -> asyncio.Future[Any]:
        """A future settled once `fn()` is true."""

    @abstractmethod
    def schedule_activity(
        self,
        activity_type: str,
        args: list[Any],
        *,
        task_queue: str | None,
        timeouts: dict[str, float | None],
        retry_policy: RetryPolicy | None,
        cancellation_type: ActivityCancellationType,
        activity_id: str | None,
        result_type: Any,
        flow: dict[str, Any] | None = None,
    ) -> ActivityHandle:
        """Emit SCHEDULE_ACTIVITY_TASK; the handle is a task of the activity's result."""

    @abstractmethod
    async def start_child(
        self,
        workflow_type: str,
        args: list[Any],
        *,
        workflow_id: str,
        attributes: dict[str, Any],
        cancellation_type: ChildWorkflowCancellationType,
        result_type: Any,
    ) -> ChildWorkflowHandle:
        """Emit START_CHILD_WORKFLOW_EXECUTION; the handle once the child has started."""

    @abstractmethod
    async def signal_external(
        self, workflow_id: str, run_id: str | None, signal_name: str, args: list[Any]
    ) -> None:
        """Emit SIGNAL_EXTERNAL_WORKFLOW_EXECUTION and wait until it is delivered."""

    @abstractmethod
    async def cancel_external(self, workflow_id: str, run_id: str | None) -> None:
        """Emit REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION and wait until it is delivered."""
