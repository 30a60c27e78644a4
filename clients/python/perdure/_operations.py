"""What workflow code holds while an activity or child runs (handles that are asyncio tasks),
the commands the runtime emits, and how their outcomes become values or errors."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perdure._names import _handler_name
from perdure._workflow_context import _Runtime
from perdure.common import ARG_UNSET, arg_or_args
from perdure.converter import from_json
from perdure.exceptions import ActivityError, ChildWorkflowError

if TYPE_CHECKING:
    from perdure._runtime import DurableTimer, WorkflowInstance

# Event type recorded for each command type (what replay compares).
COMMAND_EVENTS = {
    "ACTIVITY_TASK_SCHEDULED": "SCHEDULE_ACTIVITY_TASK",
    "ACTIVITY_TASK_CANCEL_REQUESTED": "REQUEST_CANCEL_ACTIVITY_TASK",
    "TIMER_STARTED": "START_TIMER",
    "TIMER_CANCELED": "CANCEL_TIMER",
    "START_CHILD_WORKFLOW_EXECUTION_INITIATED": "START_CHILD_WORKFLOW_EXECUTION",
    "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED": "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION",
    "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED": "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION",
    "MARKER_RECORDED": "RECORD_MARKER",
    "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES": "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
    "WORKFLOW_EXECUTION_COMPLETED": "COMPLETE_WORKFLOW_EXECUTION",
    "WORKFLOW_EXECUTION_FAILED": "FAIL_WORKFLOW_EXECUTION",
    "WORKFLOW_EXECUTION_CANCELED": "CANCEL_WORKFLOW_EXECUTION",
    "WORKFLOW_EXECUTION_CONTINUED_AS_NEW": "CONTINUE_AS_NEW_WORKFLOW_EXECUTION",
    # An update's acceptance and response, placed by PROTOCOL_MESSAGE commands (_updates.py).
    "WORKFLOW_EXECUTION_UPDATE_ACCEPTED": "PROTOCOL_MESSAGE",
    "WORKFLOW_EXECUTION_UPDATE_COMPLETED": "PROTOCOL_MESSAGE",
}
# Commands the server may drop without an event (the target finished first).
MAY_LEAVE_NO_EVENT = {"REQUEST_CANCEL_ACTIVITY_TASK", "CANCEL_TIMER"}
# Attributes that must agree between a command and its recorded event.
IDENTITY_FIELDS = {
    "SCHEDULE_ACTIVITY_TASK": ("activity_id", "activity_type"),
    "START_TIMER": ("timer_id",),
    "CANCEL_TIMER": ("timer_id",),
    "START_CHILD_WORKFLOW_EXECUTION": ("workflow_id", "workflow_type"),
    "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION": ("workflow_id", "signal_name"),
    "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION": ("workflow_id",),
    "RECORD_MARKER": ("marker_name",),
}


class WorkflowTaskFailure(Exception):
    """The workflow task must fail (and be retried): a bug or non-determinism, not a failure
    of the workflow itself."""

    def __init__(self, message: str, cause: str, error: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        self.error = error


@dataclass
class Command:
    """An emitted command and what resolves it."""

    command_type: str
    attributes: dict[str, Any]
    future: Any = None
    timer: DurableTimer | None = None
    start_future: Any = None
    event_id: int | None = None
    done: bool = False
    result_type: Any = None
    cancellation_type: str | None = None
    handle: Any = None  # the ActivityHandle or ChildWorkflowHandle workflow code holds
    # A command history may lack (a patch's TemporalChangeVersion upsert, which a client of
    # another language may not record): replay drops it when its event is not there.
    optional: bool = False
    started_event_id: int | None = None  # a child's CHILD_WORKFLOW_EXECUTION_STARTED

    def body(self) -> dict[str, Any]:
        return {"command_type": self.command_type, "attributes": self.attributes}

    def describe(self) -> str:
        keys = IDENTITY_FIELDS.get(self.command_type, ())
        shown = ", ".join(f"{k}={self.attributes.get(k)!r}" for k in keys)
        return f"{self.command_type}({shown})"


class _Operation(asyncio.Task):
    """An activity or child workflow as workflow code sees it: a task that waits for the
    outcome its history events settle. Cancelling the task applies the operation's
    cancellation type instead of abandoning the wait; the outcome still decides what the
    awaiting code sees (Temporal's handles behave so)."""

    def __init__(self, instance: WorkflowInstance, outcome: asyncio.Future[Any], name: str):
        self._outcome = outcome
        super().__init__(self._wait(), loop=instance.loop, name=name)

    async def _wait(self) -> Any:
        while True:
            try:
                return await asyncio.shield(self._outcome)
            except asyncio.CancelledError:
                if self._outcome.done():
                    raise  # settled in the same step: the cancellation wins
                self._request_cancel()
                self.uncancel()

    def _request_cancel(self) -> None:
        raise NotImplementedError


class ActivityHandle(_Operation):
    """A scheduled activity: awaiting it gives its result or raises `ActivityError`."""

    def __init__(self, instance: WorkflowInstance, command: Command) -> None:
        self._command = command
        super().__init__(instance, command.future, f"activity {command.describe()}")

    def _request_cancel(self) -> None:
        current_loop_instance(self).cancel_activity(self._command)


class ChildWorkflowHandle(_Operation):
    """A started child workflow: `id`, `first_execution_run_id`, and a task of its result."""

    def __init__(self, instance: WorkflowInstance, command: Command, workflow_id: str) -> None:
        self._command = command
        self.id = workflow_id
        self.namespace = instance.namespace
        self.first_execution_run_id: str | None = None
        super().__init__(instance, command.future, f"child workflow {workflow_id}")

    def _request_cancel(self) -> None:
        current_loop_instance(self).cancel_child(self._command)

    async def signal(self, signal: Any, arg: Any = ARG_UNSET, *, args: Any = ()) -> None:
        """Signal the child."""
        await _Runtime.current().signal_external(
            self.id, None, _handler_name(signal), arg_or_args(arg, args)
        )


def current_loop_instance(future: asyncio.Future[Any]) -> WorkflowInstance:
    return future.get_loop().instance  # type: ignore[attr-defined] # a WorkflowLoop


def _result(value: Any, command: Command) -> Any:
    """An activity's or child's result as its type hint says; a value of another type fails
    the workflow task (Temporal's converter refuses it the same way)."""
    try:
        return from_json(value, command.result_type)
    except TypeError as err:
        raise WorkflowTaskFailure(
            f"the result of {command.describe()} does not fit its result type: {err}",
            "WORKFLOW_WORKER_UNHANDLED_FAILURE",
            err,
        ) from err


def _activity_cancelled(
    command: Command,
    cause: BaseException,
    *,
    started_event_id: int | None = None,
    identity: str | None = None,
) -> ActivityError:
    return ActivityError(
        "activity canceled",
        scheduled_event_id=command.event_id or 0,
        started_event_id=started_event_id or 0,
        identity=identity or "",
        activity_type=command.attributes["activity_type"],
        activity_id=command.attributes["activity_id"],
        retry_state="CANCEL_REQUESTED",
        cause=cause,
    )


def _child_failed(
    command: Command, cause: BaseException, retry_state: str | None = None
) -> ChildWorkflowError:
    handle = command.handle
    return ChildWorkflowError(
        "child workflow execution failed",
        namespace=handle.namespace if handle is not None else "",
        workflow_id=command.attributes["workflow_id"],
        run_id=(handle.first_execution_run_id if handle is not None else None) or "",
        workflow_type=command.attributes["workflow_type"],
        initiated_event_id=command.event_id or 0,
        started_event_id=command.started_event_id or 0,
        retry_state=retry_state,
        cause=cause,
    )


def _task_failure(err: BaseException) -> WorkflowTaskFailure:
    """The workflow task failure for an exception that is a bug, not a workflow failure."""
    failure = WorkflowTaskFailure(
        f"workflow code raised {type(err).__name__}: {err}",
        "WORKFLOW_WORKER_UNHANDLED_FAILURE",
        err,
    )
    failure.__cause__ = err
    return failure
