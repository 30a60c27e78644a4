"""Errors an SDK user sees, and their JSON failure form (what the server stores).

The cause chain follows Temporal's: a workflow fails with `WorkflowFailureError` whose `cause`
is, e.g., an `ActivityError` whose `cause` is the `ApplicationError` the activity raised.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from datetime import timedelta
from enum import IntEnum, StrEnum
from typing import Any


class PerdureError(Exception):
    """Base of every SDK error."""


# Temporal's name for the base of its errors.
TemporalError = PerdureError


class ServerError(PerdureError):
    """The server failed a request (Temporal's ServerError; Perdure raises `RPCError`)."""

    def __init__(self, message: str, *, non_retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.non_retryable = non_retryable


class RetryState(StrEnum):
    """Why an activity or child stopped being retried (Temporal's `RetryState`; its members
    are the names, as the server's history writes them without the `RETRY_STATE_` prefix)."""

    IN_PROGRESS = "IN_PROGRESS"
    NON_RETRYABLE_FAILURE = "NON_RETRYABLE_FAILURE"
    TIMEOUT = "TIMEOUT"
    MAXIMUM_ATTEMPTS_REACHED = "MAXIMUM_ATTEMPTS_REACHED"
    RETRY_POLICY_NOT_SET = "RETRY_POLICY_NOT_SET"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    CANCEL_REQUESTED = "CANCEL_REQUESTED"

    @classmethod
    def parse(cls, value: Any) -> RetryState | None:
        """The state a history attribute names (`RETRY_STATE_TIMEOUT` or `TIMEOUT`)."""
        if value is None:
            return None
        name = str(value).removeprefix("RETRY_STATE_")
        return cls.__members__.get(name)


class TimeoutType(StrEnum):
    """Which timeout passed (Temporal's `TimeoutType`, as names)."""

    START_TO_CLOSE = "START_TO_CLOSE"
    SCHEDULE_TO_START = "SCHEDULE_TO_START"
    SCHEDULE_TO_CLOSE = "SCHEDULE_TO_CLOSE"
    HEARTBEAT = "HEARTBEAT"


@dataclass
class Failure:
    """A failure as it travels (Temporal's `Failure` message): `message`, `source`,
    `stack_trace`, `cause`, and the kind's own fields in `info` (the JSON as stored)."""

    message: str = ""
    source: str = ""
    stack_trace: str = ""
    cause: Failure | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def from_json(value: dict[str, Any] | None) -> Failure | None:
        """The failure of its JSON form (None for none)."""
        if not isinstance(value, dict):
            return None
        return Failure(
            message=str(value.get("message") or ""),
            source=str(value.get("source") or ""),
            stack_trace=str(value.get("stack_trace") or ""),
            cause=Failure.from_json(value.get("cause")),
            info={k: v for k, v in value.items() if k != "cause"},
        )


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


class ConnectError(RPCError):
    """`Client.connect` could not reach the server (a wrong address, or it is down); `status`
    is 0 since no answer came."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 0, {"title": "Server unreachable", "detail": message})


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

    def __init__(
        self,
        message: str,
        *,
        cause: BaseException | None = None,
        failure: Failure | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        # The failure this error was read from (None for one raised in this process).
        self.failure = failure
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
    """An activity failed; `cause` says how (ApplicationError, TimeoutError, CancelledError).
    Temporal's fields: the history events that scheduled and started the attempt, the worker
    identity that failed it, and why it is not retried (`retry_state`)."""

    def __init__(
        self,
        message: str,
        *,
        scheduled_event_id: int = 0,
        started_event_id: int = 0,
        identity: str = "",
        activity_type: str = "",
        activity_id: str = "",
        retry_state: RetryState | str | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message, cause=cause)
        self.scheduled_event_id = scheduled_event_id
        self.started_event_id = started_event_id
        self.identity = identity
        self.activity_type = activity_type
        self.activity_id = activity_id
        self.retry_state = RetryState.parse(retry_state)


class ChildWorkflowError(FailureError):
    """A child workflow failed; `cause` says how. Temporal's fields: the child's namespace,
    ids and type, the parent's events that initiated and started it, and `retry_state`."""

    def __init__(
        self,
        message: str,
        *,
        namespace: str = "",
        workflow_id: str = "",
        run_id: str = "",
        workflow_type: str = "",
        initiated_event_id: int = 0,
        started_event_id: int = 0,
        retry_state: RetryState | str | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message, cause=cause)
        self.namespace = namespace
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.workflow_type = workflow_type
        self.initiated_event_id = initiated_event_id
        self.started_event_id = started_event_id
        self.retry_state = RetryState.parse(retry_state)


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
    """Replaying the workflow code produced commands that differ from its history;
    `event_id`: the history event where it diverged, when known."""

    def __init__(self, message: str, *, event_id: int | None = None) -> None:
        super().__init__(message)
        self.event_id = event_id


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
    """The JSON failure form of an exception (the server's FailureBody plus a cause chain,
    `source` and the Python `stack_trace`, as Temporal's failure converter writes them)."""
    failure: dict[str, Any] = {"message": str(err), "type": type(err).__name__}
    failure["source"] = "PerdureSDK/python"
    if err.__traceback__ is not None:
        failure["stack_trace"] = "".join(traceback.format_tb(err.__traceback__))
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
            scheduled_event_id=err.scheduled_event_id,
            started_event_id=err.started_event_id,
            identity=err.identity,
        )
    elif isinstance(err, ChildWorkflowError):
        failure.update(
            type="ChildWorkflowError",
            namespace=err.namespace,
            workflow_id=err.workflow_id,
            run_id=err.run_id,
            workflow_type=err.workflow_type,
            initiated_event_id=err.initiated_event_id,
            started_event_id=err.started_event_id,
            retry_state=err.retry_state,
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
            scheduled_event_id=int(failure.get("scheduled_event_id") or 0),
            started_event_id=int(failure.get("started_event_id") or 0),
            identity=str(failure.get("identity") or ""),
            activity_type=failure.get("activity_type", ""),
            activity_id=failure.get("activity_id", ""),
            retry_state=failure.get("retry_state"),
            cause=cause,
        )
    elif kind == "ChildWorkflowError":
        err = ChildWorkflowError(
            message,
            namespace=str(failure.get("namespace") or ""),
            workflow_id=failure.get("workflow_id", ""),
            run_id=str(failure.get("run_id") or ""),
            workflow_type=failure.get("workflow_type", ""),
            initiated_event_id=int(failure.get("initiated_event_id") or 0),
            started_event_id=int(failure.get("started_event_id") or 0),
            retry_state=failure.get("retry_state"),
            cause=cause,
        )
    elif kind == "TimeoutError" and "timeout_type" in failure:
        # A Perdure timeout (the server's); a Python `TimeoutError` that failed a workflow
        # travels without `timeout_type` and reads back as an ApplicationError, as in Temporal.
        err = TimeoutError(
            message,
            type=TimeoutType.__members__.get(str(failure.get("timeout_type")))
            or failure.get("timeout_type"),
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
    if isinstance(err, FailureError):
        err.failure = Failure.from_json(failure)
    return err
