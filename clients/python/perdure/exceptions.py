"""Errors an SDK user sees, and their JSON failure form (what the server stores).

The cause chain follows Temporal's: a workflow fails with `WorkflowFailureError` whose `cause`
is, e.g., an `ActivityError` whose `cause` is the `ApplicationError` the activity raised.
"""

from __future__ import annotations

from datetime import timedelta
from enum import IntEnum
from typing import Any


class PerdureError(Exception):
    """Base of every SDK error."""


class RPCError(PerdureError):
    """The server answered with an error: `status` and the RFC 9457 problem `details`."""

    def __init__(self, message: str, status: int, problem: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem or {}

    @property
    def type(self) -> str:
        """The problem `type` URI (stable per error kind)."""
        return str(self.problem.get("type", ""))


class WorkflowAlreadyStartedError(RPCError):
    """A start was refused because the workflow id is taken (id reuse/conflict policies)."""


class WorkflowQueryFailedError(PerdureError):
    """The query handler raised, or the workflow does not know the query."""


class QueryTimeoutError(PerdureError):
    """No worker answered the query in time (the server's 504)."""


class AsyncActivityCancelledError(PerdureError):
    """An `AsyncActivityHandle.heartbeat()` learned that cancellation was requested."""

    def __init__(self) -> None:
        super().__init__("activity cancellation requested")


class WorkflowContinuedAsNewError(PerdureError):
    """`handle.result(follow_runs=False)` of a run that continued as new."""

    def __init__(self, new_execution_run_id: str | None) -> None:
        super().__init__("workflow continued as new")
        self.new_execution_run_id = new_execution_run_id


class FailureError(PerdureError):
    """Base of errors that travel as failures (between activities, workflows and clients)."""

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.message = message
        if cause is not None:
            self.__cause__ = cause

    @property
    def cause(self) -> BaseException | None:
        """The error that caused this one, if any."""
        return self.__cause__


class ApplicationErrorCategory(IntEnum):
    """How an application failure is reported: BENIGN ones (expected, e.g. a poll that found
    nothing yet) are logged at DEBUG, not as errors (Temporal's categories)."""

    UNSPECIFIED = 0
    BENIGN = 1


class ApplicationError(FailureError):
    """An error raised by user code. `non_retryable=True` stops activity retries at once;
    `next_retry_delay` replaces the retry policy's back-off for the next attempt; `category`
    BENIGN keeps the worker from logging it as a failure."""

    def __init__(
        self,
        message: str,
        *details: Any,
        type: str | None = None,  # noqa: A002 - Temporal's name
        non_retryable: bool = False,
        next_retry_delay: timedelta | None = None,
        category: ApplicationErrorCategory = ApplicationErrorCategory.UNSPECIFIED,
    ) -> None:
        super().__init__(message)
        self.details = list(details)
        self.type = type
        self.non_retryable = non_retryable
        self.next_retry_delay = next_retry_delay
        self.category = ApplicationErrorCategory(category)


class TimeoutError(FailureError):  # noqa: A001 - Temporal's name
    """An activity or workflow ran out of time; `type` says which timeout."""

    def __init__(
        self, message: str, *, type: str | None = None, last_heartbeat_details: Any = None
    ) -> None:  # noqa: A002
        super().__init__(message)
        self.type = type
        self.last_heartbeat_details = last_heartbeat_details


class CancelledError(FailureError):
    """The activity, child or workflow was canceled."""

    def __init__(self, message: str = "canceled", *details: Any) -> None:
        super().__init__(message)
        self.details = list(details)


class TerminatedError(FailureError):
    """The workflow was terminated."""


class ActivityError(FailureError):
    """An activity failed; `cause` says how (ApplicationError, TimeoutError, CancelledError)."""

    def __init__(
        self,
        message: str,
        *,
        activity_type: str = "",
        activity_id: str = "",
        retry_state: str | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message, cause=cause)
        self.activity_type = activity_type
        self.activity_id = activity_id
        self.retry_state = retry_state


class ChildWorkflowError(FailureError):
    """A child workflow failed; `cause` says how."""

    def __init__(
        self,
        message: str,
        *,
        workflow_id: str = "",
        workflow_type: str = "",
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message, cause=cause)
        self.workflow_id = workflow_id
        self.workflow_type = workflow_type


class WorkflowFailureError(PerdureError):
    """`handle.result()` of a workflow that did not complete; `cause` says why."""

    def __init__(self, *, cause: BaseException, status: str = "FAILED") -> None:
        super().__init__(f"workflow execution {status.lower()}")
        self.status = status
        self.__cause__ = cause

    @property
    def cause(self) -> BaseException:
        """The failure the workflow ended with."""
        assert self.__cause__ is not None
        return self.__cause__


class ContinueAsNewError(BaseException):
    """Raised by `workflow.continue_as_new`; the SDK turns it into a command (never catch it)."""

    def __init__(self, command: dict[str, Any]) -> None:
        super().__init__("continue as new")
        self.command = command


class NondeterminismError(PerdureError):
    """Replaying the workflow code produced commands that differ from its history."""


def is_cancelled_exception(err: BaseException) -> bool:
    """Whether `err` stands for a cancellation: `asyncio.CancelledError`, `CancelledError`, or an
    `ActivityError` / `ChildWorkflowError` caused by one (Temporal's rule)."""
    import asyncio

    return (
        isinstance(err, asyncio.CancelledError | CancelledError)
        or isinstance(err, ActivityError | ChildWorkflowError)
        and isinstance(err.cause, CancelledError)
    )


def to_failure(err: BaseException) -> dict[str, Any]:
    """The JSON failure form of an exception (the server's FailureBody plus a cause chain)."""
    failure: dict[str, Any] = {"message": str(err), "type": type(err).__name__}
    if isinstance(err, ApplicationError):
        failure.update(
            message=err.message,
            type=err.type or "ApplicationError",
            non_retryable=err.non_retryable,
            details=err.details or None,
        )
        if err.category != ApplicationErrorCategory.UNSPECIFIED:
            failure["category"] = err.category.name
        if err.next_retry_delay is not None:
            failure["next_retry_delay"] = err.next_retry_delay.total_seconds()
    elif isinstance(err, TimeoutError):
        failure.update(type="TimeoutError", timeout_type=err.type)
    elif isinstance(err, CancelledError):
        failure.update(type="CanceledError", details=err.details or None)
    elif isinstance(err, ActivityError):
        failure.update(
            type="ActivityError",
            activity_type=err.activity_type,
            activity_id=err.activity_id,
            retry_state=err.retry_state,
        )
    elif isinstance(err, ChildWorkflowError):
        failure.update(
            type="ChildWorkflowError",
            workflow_id=err.workflow_id,
            workflow_type=err.workflow_type,
        )
    if isinstance(err, FailureError) and err.message:
        failure["message"] = err.message
    if err.__cause__ is not None:
        failure["cause"] = to_failure(err.__cause__)
    return failure


def from_failure(failure: dict[str, Any] | None) -> BaseException:
    """The exception a JSON failure stands for (inverse of `to_failure`)."""
    failure = failure or {}
    message = str(failure.get("message") or "")
    kind = failure.get("type")
    cause = from_failure(failure["cause"]) if isinstance(failure.get("cause"), dict) else None
    err: BaseException
    if kind == "ActivityError":
        err = ActivityError(
            message,
            activity_type=failure.get("activity_type", ""),
            activity_id=failure.get("activity_id", ""),
            retry_state=failure.get("retry_state"),
            cause=cause,
        )
    elif kind == "ChildWorkflowError":
        err = ChildWorkflowError(
            message,
            workflow_id=failure.get("workflow_id", ""),
            workflow_type=failure.get("workflow_type", ""),
            cause=cause,
        )
    elif kind == "TimeoutError" and "timeout_type" in failure:
        # A Perdure timeout (the server's); a Python `TimeoutError` that failed a workflow
        # travels without `timeout_type` and reads back as an ApplicationError, as in Temporal.
        err = TimeoutError(
            message,
            type=failure.get("timeout_type"),
            last_heartbeat_details=failure.get("last_heartbeat_details"),
        )
    elif kind == "CanceledError":
        details = failure.get("details")
        err = CancelledError(message or "canceled", *([details] if details is not None else []))
    elif kind == "TerminatedError":
        err = TerminatedError(message)
    else:
        details = failure.get("details")
        err = ApplicationError(
            message,
            *(details if isinstance(details, list) else [details] if details is not None else []),
            type=kind,
            non_retryable=bool(failure.get("non_retryable")),
            next_retry_delay=timedelta(seconds=failure["next_retry_delay"])
            if failure.get("next_retry_delay") is not None
            else None,
            category=ApplicationErrorCategory.__members__.get(
                str(failure.get("category")), ApplicationErrorCategory.UNSPECIFIED
            ),
        )
        if cause is not None:
            err.__cause__ = cause
    return err
