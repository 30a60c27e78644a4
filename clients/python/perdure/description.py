"""What `WorkflowHandle.describe()` answers: Temporal's typed fields of a run, Perdure's
pending work, and the server's answer as it came (`raw_description`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from perdure._search_attributes import untyped
from perdure._versioning import VersioningInfo
from perdure.common import RetryPolicy, WorkflowExecutionStatus
from perdure.converter import from_json
from perdure.exceptions import from_failure

_MISSING: Any = object()


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _duration(value: float | None) -> timedelta | None:
    return timedelta(seconds=value) if value is not None else None


@dataclass(frozen=True)
class PendingActivity:
    """An activity of the run that has not ended (scheduled, started, or between retries)."""

    activity_id: str
    activity_type: str
    task_queue: str
    state: str
    attempt: int
    scheduled_time: datetime | None
    last_started_time: datetime | None
    last_heartbeat_time: datetime | None
    heartbeat_details: Any
    last_failure: BaseException | None
    last_worker_identity: str | None
    cancel_requested: bool
    paused: bool = False  # an operator paused it (state PAUSED or PAUSE_REQUESTED)


@dataclass(frozen=True)
class PendingTimer:
    """A durable timer of the run that has not fired."""

    timer_id: str
    fire_time: datetime | None


@dataclass(frozen=True)
class PendingChild:
    """A child workflow of the run that is still running."""

    workflow_id: str
    run_id: str
    workflow_type: str
    parent_close_policy: str | None


@dataclass(frozen=True)
class WorkflowExecution:
    """One run, with the fields of Temporal's `WorkflowExecution`."""

    id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: WorkflowExecutionStatus
    start_time: datetime
    execution_time: datetime | None
    close_time: datetime | None
    history_length: int
    parent_id: str | None
    parent_run_id: str | None
    search_attributes: dict[str, list[Any]]
    namespace: str
    raw_info: dict[str, Any] = field(repr=False)
    # The memo with a codec's encoding undone (None: `raw_info`'s memo is already plain).
    decoded_memo: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def workflow_id(self) -> str:
        """The workflow id (`id`)."""
        return self.id

    async def memo(self) -> dict[str, Any]:
        """The run's memo (an empty dict when it has none)."""
        if self.decoded_memo is not None:
            return dict(self.decoded_memo)
        return dict(self.raw_info.get("memo") or {})

    async def memo_value(self, key: str, default: Any = _MISSING, *, type_hint: Any = None) -> Any:
        """One memo value, checked against `type_hint`; `KeyError` when absent and no
        `default` is given."""
        memo = await self.memo()
        if key not in memo:
            if default is _MISSING:
                raise KeyError(f"memo has no key '{key}'")
            return default
        return from_json(memo[key], type_hint)

    @staticmethod
    def _fields(
        raw: dict[str, Any], namespace: str, types: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The base fields of the server's run JSON; search attributes in Temporal's untyped
        form (`perdure._search_attributes.untyped`, `types` as the namespace registers them)."""
        parent = raw.get("parent") or {}
        return {
            "id": raw["workflow_id"],
            "run_id": raw["run_id"],
            "workflow_type": raw["workflow_type"],
            "task_queue": raw["task_queue"],
            "status": WorkflowExecutionStatus(raw["status"]),
            "start_time": _time(raw["start_time"]),
            "execution_time": _time(raw.get("execution_time")),
            "close_time": _time(raw.get("close_time")),
            "history_length": int(raw.get("history_length") or 0),
            "parent_id": parent.get("workflow_id"),
            "parent_run_id": parent.get("run_id"),
            "search_attributes": untyped(raw.get("search_attributes"), types or {}),
            "namespace": namespace,
            "raw_info": raw,
        }


@dataclass(frozen=True)
class WorkflowExecutionDescription(WorkflowExecution):
    """A run described: Temporal's fields, its timeouts, retries and pending work."""

    first_execution_run_id: str | None = None
    continued_from_run_id: str | None = None
    continued_to_run_id: str | None = None
    attempt: int = 1
    execution_timeout: timedelta | None = None
    run_timeout: timedelta | None = None
    task_timeout: timedelta | None = None
    retry_policy: RetryPolicy | None = None
    cancel_requested: bool = False
    pending_activities: list[PendingActivity] = field(default_factory=list)
    pending_timers: list[PendingTimer] = field(default_factory=list)
    pending_children: list[PendingChild] = field(default_factory=list)
    result: Any = None
    failure: BaseException | None = None
    # Worker Versioning (Temporal's WorkflowExecutionVersioningInfo); None when unversioned.
    versioning_info: VersioningInfo | None = None

    @property
    def raw_description(self) -> dict[str, Any]:
        """The server's answer, every field as it came."""
        return self.raw_info

    @property
    def raw(self) -> dict[str, Any]:
        """`raw_description` (the name earlier versions used)."""
        return self.raw_info

    @classmethod
    def from_raw(
        cls,
        raw: dict[str, Any],
        namespace: str,
        *,
        types: Mapping[str, str] | None = None,
        view: dict[str, Any] | None = None,
    ) -> WorkflowExecutionDescription:
        """The description of the server's `GET …/workflows/{id}[/runs/{run_id}]` answer;
        `types` are the namespace's search attribute types, `view` the answer with a codec's
        encoding undone (memo, failures), from which the fields are read (`raw_info` stays
        the server's answer)."""
        answer = raw
        raw = view if view is not None else raw
        policy = raw.get("retry_policy")
        return cls(
            **{**cls._fields(raw, namespace, types), "raw_info": answer},
            decoded_memo=raw.get("memo") if view is not None else None,
            first_execution_run_id=raw.get("first_run_id"),
            continued_from_run_id=raw.get("continued_from_run_id"),
            continued_to_run_id=raw.get("continued_to_run_id"),
            attempt=int(raw.get("attempt") or 1),
            execution_timeout=_duration(raw.get("execution_timeout")),
            run_timeout=_duration(raw.get("run_timeout")),
            task_timeout=_duration(raw.get("task_timeout")),
            retry_policy=_retry_policy(policy) if policy else None,
            cancel_requested=bool(raw.get("cancel_requested")),
            pending_activities=[
                PendingActivity(
                    activity_id=a["activity_id"],
                    activity_type=a["activity_type"],
                    task_queue=a["task_queue"],
                    state=a["state"],
                    attempt=a["attempt"],
                    scheduled_time=_time(a.get("scheduled_time")),
                    last_started_time=_time(a.get("last_started_time")),
                    last_heartbeat_time=_time(a.get("last_heartbeat_time")),
                    heartbeat_details=a.get("heartbeat_details"),
                    last_failure=from_failure(a["last_failure"]) if a.get("last_failure") else None,
                    last_worker_identity=a.get("last_worker_identity"),
                    cancel_requested=bool(a.get("cancel_requested")),
                    paused=bool(a.get("paused")),
                )
                for a in raw.get("pending_activities") or []
            ],
            pending_timers=[
                PendingTimer(timer_id=t["timer_id"], fire_time=_time(t.get("fire_time")))
                for t in raw.get("pending_timers") or []
            ],
            pending_children=[
                PendingChild(
                    workflow_id=c["workflow_id"],
                    run_id=c["run_id"],
                    workflow_type=c["workflow_type"],
                    parent_close_policy=c.get("parent_close_policy"),
                )
                for c in raw.get("pending_children") or []
            ],
            result=raw.get("result"),
            failure=from_failure(raw["failure"]) if raw.get("failure") else None,
            versioning_info=VersioningInfo.from_raw(raw.get("versioning_info")),
        )


def _retry_policy(policy: dict[str, Any]) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=policy.get("initial_interval") or 1),
        backoff_coefficient=float(policy.get("backoff_coefficient") or 2.0),
        maximum_interval=_duration(policy.get("maximum_interval")),
        maximum_attempts=int(policy.get("maximum_attempts") or 0),
        non_retryable_error_types=list(policy.get("non_retryable_error_types") or []),
    )
