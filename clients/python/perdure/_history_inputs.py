"""How the input events of an activation reach workflow code: signals are delivered, a cancel
request cancels the run's main task, and each outcome event (activity, timer, child, external
signal or cancel) settles the future of the command it names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from perdure._operations import _activity_cancelled, _child_failed, _result
from perdure.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    RPCError,
    WorkflowAlreadyStartedError,
    from_failure,
)

if TYPE_CHECKING:
    from perdure._runtime import WorkflowInstance


def apply_input(instance: WorkflowInstance, event: dict[str, Any]) -> None:
    """Apply one input event of an activation: deliver a signal, note a cancel request, or
    settle the command its outcome event names (by the event id the command was recorded at)."""
    kind = event["event_type"]
    a = event.get("attributes") or {}
    if kind == "WORKFLOW_EXECUTION_SIGNALED":
        instance.handlers.deliver_signal(a.get("signal_name", ""), a.get("input"))
    elif kind == "WORKFLOW_EXECUTION_CANCEL_REQUESTED":
        instance.cancel_requested = True
        instance.cancel_reason = a.get("cause") or a.get("reason")
        if instance.main_task is not None and not instance.main_task.done():
            instance.main_task.cancel()
    elif kind.startswith("ACTIVITY_TASK_") and kind != "ACTIVITY_TASK_STARTED":
        command = instance.by_event.get(a.get("scheduled_event_id", -1))
        if command is None or command.done:
            return
        command.done = True
        future = command.future
        if future.done():
            return
        if kind == "ACTIVITY_TASK_COMPLETED":
            future.set_result(_result(a.get("result"), command))
        elif kind == "ACTIVITY_TASK_CANCELED":
            future.set_exception(
                _activity_cancelled(
                    command,
                    CancelledError("activity canceled", a.get("details")),
                    started_event_id=a.get("started_event_id"),
                    identity=a.get("identity"),
                )
            )
        else:
            future.set_exception(
                ActivityError(
                    "activity task failed",
                    scheduled_event_id=command.event_id or 0,
                    started_event_id=int(a.get("started_event_id") or 0),
                    identity=str(a.get("identity") or ""),
                    activity_type=command.attributes["activity_type"],
                    activity_id=command.attributes["activity_id"],
                    retry_state=a.get("retry_state"),
                    cause=from_failure(a.get("failure")),
                )
            )
    elif kind == "TIMER_FIRED":
        command = instance.by_event.get(a.get("started_event_id", -1))
        if command is None or command.done:
            return
        command.done = True
        timer = command.timer
        if timer is not None and not timer.cancelled():
            instance.loop._ready.append(timer)
    elif kind == "START_CHILD_WORKFLOW_EXECUTION_FAILED":
        command = instance.by_event.get(a.get("initiated_event_id", -1))
        if command is None:
            return
        command.done = True
        if not command.start_future.done():
            # Perdure's cause: a CANCEL_NEWEST concurrency limit refused the child.
            refused = a.get("cause") == "CONCURRENCY_LIMIT_EXCEEDED"
            command.start_future.set_exception(
                RPCError(
                    f"child workflow '{a.get('workflow_id')}' refused: {a.get('message')}", 409
                )
                if refused
                else WorkflowAlreadyStartedError(
                    f"child workflow id '{a.get('workflow_id')}' is already in use", 409
                )
            )
    elif kind == "CHILD_WORKFLOW_EXECUTION_STARTED":
        command = instance.by_event.get(a.get("initiated_event_id", -1))
        if command is None:
            return
        handle = command.handle
        handle.first_execution_run_id = (a.get("workflow_execution") or {}).get("run_id")
        command.started_event_id = event["event_id"]
        if not command.start_future.done():
            command.start_future.set_result(handle)
    elif kind.startswith("CHILD_WORKFLOW_EXECUTION_"):
        command = instance.by_event.get(a.get("initiated_event_id", -1))
        if command is None or command.done:
            return
        command.done = True
        future = command.future
        if future.done():
            return
        if kind == "CHILD_WORKFLOW_EXECUTION_COMPLETED":
            future.set_result(_result(a.get("result"), command))
        else:
            failure = a.get("failure") or {"message": kind, "type": "CanceledError"}
            future.set_exception(
                _child_failed(command, from_failure(failure), a.get("retry_state"))
            )
    elif kind in (
        "EXTERNAL_WORKFLOW_EXECUTION_SIGNALED",
        "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED",
        "EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED",
    ):
        command = instance.by_event.get(a.get("initiated_event_id", -1))
        if command is None or command.future is None or command.future.done():
            return
        command.done = True
        if kind.endswith("_FAILED"):
            command.future.set_exception(
                ApplicationError(
                    f"external workflow not found: {a.get('cause')}",
                    type="ExternalWorkflowNotFound",
                )
            )
        else:
            command.future.set_result(None)
