"""Perdure's Python SDK: a client, a worker, and durable workflows written as code.

from perdure import activity, workflow
from perdure.client import Client
from perdure.worker import Worker
"""

from perdure import activity, workflow
from perdure.client import (
    AsyncActivityHandle,
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from perdure.common import (
    ActivityCancellationType,
    ChildWorkflowCancellationType,
    ParentClosePolicy,
    Priority,
    RetryPolicy,
    WorkflowExecutionStatus,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from perdure.description import WorkflowExecution, WorkflowExecutionDescription
from perdure.exceptions import (
    ActivityError,
    ApplicationError,
    AsyncActivityCancelledError,
    CancelledError,
    ChildWorkflowError,
    FailureError,
    NondeterminismError,
    PerdureError,
    QueryTimeoutError,
    RPCError,
    TerminatedError,
    TimeoutError,
    WorkflowAlreadyStartedError,
    WorkflowContinuedAsNewError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    is_cancelled_exception,
)
from perdure.worker import Worker

__all__ = [
    "ActivityCancellationType",
    "ActivityError",
    "ApplicationError",
    "AsyncActivityCancelledError",
    "AsyncActivityHandle",
    "CancelledError",
    "ChildWorkflowCancellationType",
    "ChildWorkflowError",
    "Client",
    "FailureError",
    "NondeterminismError",
    "ParentClosePolicy",
    "PerdureError",
    "Priority",
    "QueryTimeoutError",
    "RPCError",
    "RetryPolicy",
    "TerminatedError",
    "TimeoutError",
    "Worker",
    "WorkflowAlreadyStartedError",
    "WorkflowContinuedAsNewError",
    "WorkflowExecution",
    "WorkflowExecutionDescription",
    "WorkflowExecutionStatus",
    "WorkflowFailureError",
    "WorkflowHandle",
    "WorkflowIDConflictPolicy",
    "WorkflowIDReusePolicy",
    "WorkflowQueryFailedError",
    "WorkflowUpdateFailedError",
    "WorkflowUpdateHandle",
    "WorkflowUpdateRPCTimeoutOrCancelledError",
    "WorkflowUpdateStage",
    "WithStartWorkflowOperation",
    "activity",
    "is_cancelled_exception",
    "workflow",
]
