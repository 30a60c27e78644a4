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
    RetryPolicy,
    WorkflowExecutionStatus,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from perdure.description import WorkflowExecution, WorkflowExecutionDescription
from perdure.exceptions import (
    ActivityError,
    ApplicationError,
    ApplicationErrorCategory,
    AsyncActivityCancelledError,
    CancelledError,
    ChildWorkflowError,
    ConnectError,
    FailureError,
    NondeterminismError,
    PerdureError,
    QueryTimeoutError,
    RetryState,
    RPCError,
    ServerError,
    TemporalError,
    TerminatedError,
    TimeoutError,
    TimeoutType,
    WorkflowAlreadyStartedError,
    WorkflowContinuedAsNewError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    is_cancelled_exception,
)
from perdure.operator import ResetReapplyExcludeType, ResetType
from perdure.worker import Worker

__all__ = [
    "ActivityCancellationType",
    "ActivityError",
    "ApplicationError",
    "ApplicationErrorCategory",
    "AsyncActivityCancelledError",
    "AsyncActivityHandle",
    "CancelledError",
    "ChildWorkflowCancellationType",
    "ChildWorkflowError",
    "ConnectError",
    "Client",
    "FailureError",
    "NondeterminismError",
    "ParentClosePolicy",
    "PerdureError",
    "QueryTimeoutError",
    "RPCError",
    "ResetReapplyExcludeType",
    "ResetType",
    "RetryPolicy",
    "RetryState",
    "ServerError",
    "TemporalError",
    "TerminatedError",
    "TimeoutError",
    "TimeoutType",
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
