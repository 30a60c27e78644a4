"""Perdure's Python SDK: a client, a worker, and durable workflows written as code.

from perdure import activity, workflow
from perdure.client import Client
from perdure.worker import Worker
"""

from perdure import activity, workflow
from perdure.client import Client, WorkflowHandle
from perdure.common import (
    ParentClosePolicy,
    RetryPolicy,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from perdure.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    NondeterminismError,
    RPCError,
    TerminatedError,
    TimeoutError,
    WorkflowAlreadyStartedError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
)
from perdure.worker import Worker

__all__ = [
    "ActivityError",
    "ApplicationError",
    "CancelledError",
    "ChildWorkflowError",
    "Client",
    "NondeterminismError",
    "ParentClosePolicy",
    "RPCError",
    "RetryPolicy",
    "TerminatedError",
    "TimeoutError",
    "Worker",
    "WorkflowAlreadyStartedError",
    "WorkflowFailureError",
    "WorkflowHandle",
    "WorkflowIDConflictPolicy",
    "WorkflowIDReusePolicy",
    "WorkflowQueryFailedError",
    "activity",
    "workflow",
]
