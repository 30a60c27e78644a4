"""Options shared by clients, workflows and activities: retry policy, id and cancellation
policies, statuses, and how calls take their arguments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from perdure._versioning import (  # noqa: F401 - temporalio.common's names
    AutoUpgradeVersioningOverride,
    PinnedVersioningOverride,
    VersioningBehavior,
    VersioningOverride,
    WorkerDeploymentVersion,
)

# `arg` left out (so that `None` can be passed as the one argument, as in Temporal).
ARG_UNSET: Any = object()


def arg_or_args(arg: Any, args: Any) -> list[Any]:
    """The positional arguments of a call that takes `arg` or `args`, never both."""
    if arg is not ARG_UNSET:
        if args:
            raise ValueError("give either arg or args, not both")
        return [arg]
    return list(args)


def seconds(value: timedelta | float | None) -> float | None:
    """A duration as JSON seconds (the server's unit)."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


@dataclass(frozen=True)
class RetryPolicy:
    """How an activity, or a whole workflow, is retried (Temporal's fields and defaults)."""

    initial_interval: timedelta = timedelta(seconds=1)
    backoff_coefficient: float = 2.0
    maximum_interval: timedelta | None = None
    maximum_attempts: int = 0
    non_retryable_error_types: list[str] = field(default_factory=list)

    @staticmethod
    def from_json(value: dict[str, Any] | None) -> RetryPolicy | None:
        """The policy of the server's `retry_policy` object (None for none)."""
        if not value:
            return None

        def delta(key: str) -> timedelta | None:
            found = value.get(key)
            return None if found is None else timedelta(seconds=found)

        return RetryPolicy(
            initial_interval=delta("initial_interval") or timedelta(seconds=1),
            backoff_coefficient=float(value.get("backoff_coefficient") or 2.0),
            maximum_interval=delta("maximum_interval"),
            maximum_attempts=int(value.get("maximum_attempts") or 0),
            non_retryable_error_types=list(value.get("non_retryable_error_types") or []),
        )

    def to_json(self) -> dict[str, Any]:
        """The server's `retry_policy` object."""
        return {
            "initial_interval": seconds(self.initial_interval),
            "backoff_coefficient": self.backoff_coefficient,
            "maximum_interval": seconds(self.maximum_interval),
            "maximum_attempts": self.maximum_attempts,
            "non_retryable_error_types": list(self.non_retryable_error_types),
        }


@dataclass(frozen=True)
class Priority:
    """Temporal's `Priority`: `priority_key` 1 (highest) to 5 (default 3); tasks of one
    priority are shared fairly across `fairness_key`s in proportion to `fairness_weight`
    ([0.001, 1000], default 1.0). A field left unset (None) is inherited from the calling
    workflow by its activities and children."""

    priority_key: int | None = None
    fairness_key: str | None = None
    fairness_weight: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The server's `priority` object (unset fields left out)."""
        out: dict[str, Any] = {}
        if self.priority_key is not None:
            out["priority_key"] = self.priority_key
        if self.fairness_key is not None:
            out["fairness_key"] = self.fairness_key
        if self.fairness_weight is not None:
            out["fairness_weight"] = self.fairness_weight
        return out


def flow_fields(
    priority: Priority | None,
    concurrency_keys: Mapping[str, str] | None,
    versioning_override: VersioningOverride | None = None,
) -> dict[str, Any]:
    """The `priority`, `concurrency_keys` and (starts) `versioning_override` members of a
    start or an activity, when set."""
    out: dict[str, Any] = {}
    if versioning_override is not None:
        out["versioning_override"] = versioning_override.to_json()
    if priority is not None:
        out["priority"] = priority.to_json()
    if concurrency_keys:
        out["concurrency_keys"] = dict(concurrency_keys)
    return out


class WorkflowIDReusePolicy(StrEnum):
    """May a new run take the id of a closed one?"""

    ALLOW_DUPLICATE = "ALLOW_DUPLICATE"
    ALLOW_DUPLICATE_FAILED_ONLY = "ALLOW_DUPLICATE_FAILED_ONLY"
    REJECT_DUPLICATE = "REJECT_DUPLICATE"


class WorkflowIDConflictPolicy(StrEnum):
    """What a start does when a run with the id is still running."""

    FAIL = "FAIL"
    USE_EXISTING = "USE_EXISTING"
    TERMINATE_EXISTING = "TERMINATE_EXISTING"


class ParentClosePolicy(StrEnum):
    """What happens to a child when its parent closes."""

    TERMINATE = "TERMINATE"
    ABANDON = "ABANDON"
    REQUEST_CANCEL = "REQUEST_CANCEL"


class ActivityCancellationType(StrEnum):
    """What cancelling an activity from workflow code does (Temporal's types).

    TRY_CANCEL: ask the server to cancel it and raise `ActivityError` (cause `CancelledError`)
    at once; WAIT_CANCELLATION_COMPLETED: ask, and raise only when the activity has ended
    (canceled, or its result if it finished first); ABANDON: ask nothing, raise at once."""

    TRY_CANCEL = "TRY_CANCEL"
    WAIT_CANCELLATION_COMPLETED = "WAIT_CANCELLATION_COMPLETED"
    ABANDON = "ABANDON"


class ChildWorkflowCancellationType(StrEnum):
    """What cancelling a child workflow from its parent does (Temporal's types).

    ABANDON: ask nothing; TRY_CANCEL: ask, raise `ChildWorkflowError` (cause `CancelledError`)
    at once; WAIT_CANCELLATION_REQUESTED: raise once the child has received the request;
    WAIT_CANCELLATION_COMPLETED (the default): raise once the child has closed."""

    ABANDON = "ABANDON"
    TRY_CANCEL = "TRY_CANCEL"
    WAIT_CANCELLATION_COMPLETED = "WAIT_CANCELLATION_COMPLETED"
    WAIT_CANCELLATION_REQUESTED = "WAIT_CANCELLATION_REQUESTED"


class WorkflowExecutionStatus(StrEnum):
    """A run's status (compares equal to the server's strings)."""

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    TERMINATED = "TERMINATED"
    CONTINUED_AS_NEW = "CONTINUED_AS_NEW"
    TIMED_OUT = "TIMED_OUT"
    PAUSED = "PAUSED"  # Temporal's Workflow Pause (server 1.30+)


@dataclass(frozen=True)
class RawValue:
    """A value not yet converted: what dynamic signal, query, activity and workflow handlers
    receive; read it with `payload_converter().from_payload(raw.payload, SomeType)`."""

    payload: Any  # a perdure.converter.Payload
