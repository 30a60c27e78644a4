"""Models of the flow-control routes: Temporal's UpdateTaskQueueConfig and TaskQueueConfig."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

from app.api.schemas.common import Identity
from app.api.schemas.workflows import Body
from app.engine.matching.queue_config import MAX_REASON_LENGTH, MAX_WEIGHT_OVERRIDES

FairnessKey = Annotated[str, Field(min_length=1, max_length=64)]


class TaskQueueType(StrEnum):
    TASK_QUEUE_TYPE_WORKFLOW = "TASK_QUEUE_TYPE_WORKFLOW"
    TASK_QUEUE_TYPE_ACTIVITY = "TASK_QUEUE_TYPE_ACTIVITY"


class RateLimit(Body):
    requests_per_second: float = Field(
        description="Tasks dispatched per second at most; 0 stops dispatch.", ge=0
    )


class RateLimitUpdate(Body):
    rate_limit: RateLimit | None = Field(
        default=None, description="The new limit; absent or null removes the limit."
    )
    reason: Annotated[str, Field(max_length=MAX_REASON_LENGTH)] = ""


class UpdateTaskQueueConfig(Body):
    """Temporal's UpdateTaskQueueConfigRequest (the queue is in the path)."""

    task_queue_type: TaskQueueType
    identity: Identity | None = None
    update_queue_rate_limit: RateLimitUpdate | None = Field(
        default=None, description="The whole queue's dispatch rate (all pollers, all processes)."
    )
    update_fairness_key_rate_limit_default: RateLimitUpdate | None = Field(
        default=None,
        description="Each fairness key's dispatch rate, multiplied by the key's weight.",
    )
    set_fairness_weight_overrides: dict[FairnessKey, float] = Field(
        default_factory=dict,
        description="Fairness key → weight in [0.001, 1000], used instead of tasks' own "
        f"weights for tasks queued from now on (at most {MAX_WEIGHT_OVERRIDES} per queue).",
        max_length=MAX_WEIGHT_OVERRIDES,
    )
    unset_fairness_weight_overrides: list[FairnessKey] = Field(
        default_factory=list, max_length=MAX_WEIGHT_OVERRIDES
    )


class RateLimitMetadata(BaseModel):
    reason: str
    update_identity: str
    update_time: datetime


class ConfiguredRateLimit(BaseModel):
    rate_limit: RateLimit
    metadata: RateLimitMetadata


class TaskQueueConfig(BaseModel):
    """Temporal's TaskQueueConfig: null limits are not set."""

    queue_rate_limit: ConfiguredRateLimit | None
    fairness_keys_rate_limit_default: ConfiguredRateLimit | None
    fairness_weight_overrides: dict[str, float]


class UpdatedTaskQueueConfig(BaseModel):
    config: TaskQueueConfig


class AppliesTo(StrEnum):
    activities = "activities"
    workflows = "workflows"


class Strategy(StrEnum):
    GROUP_ROUND_ROBIN = "GROUP_ROUND_ROBIN"
    CANCEL_IN_PROGRESS = "CANCEL_IN_PROGRESS"
    CANCEL_NEWEST = "CANCEL_NEWEST"


# A concurrency limit's name, as its route's path takes it.
LIMIT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
LIMIT_NAME_MAX = 200


class ConcurrencyLimitBody(Body):
    applies_to: AppliesTo = Field(
        description="`activities`: attempts in workers' hands; `workflows`: open runs."
    )
    key: Annotated[str, Field(min_length=1, max_length=300)] = Field(
        description="What the limit counts by: `activity_type`, `workflow_type`, `task_queue`, "
        "`search_attributes.<Name>` or `concurrency_keys.<name>`."
    )
    max_running: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        description="At most this many share one value of the key, across every worker and "
        "server process. Lowering it preempts nothing."
    )
    strategy: Strategy = Field(
        default=Strategy.GROUP_ROUND_ROBIN,
        description="When no slot is free: wait (`GROUP_ROUND_ROBIN`), cancel the oldest "
        "running (`CANCEL_IN_PROGRESS`), or refuse the new one (`CANCEL_NEWEST`: an activity "
        "fails with `ConcurrencyLimitExceeded`, a start is a 409).",
    )
    paused: bool = Field(default=False, description="A paused limit dispatches nothing.")


class ConcurrencyLimit(BaseModel):
    name: str
    applies_to: AppliesTo
    key: str
    max_running: int
    strategy: Strategy
    paused: bool
    running: int = Field(description="Slots taken now (reserved ones included).")
    waiting: int = Field(description="Activity tasks and runs waiting for a slot.")
    created_at: datetime
    updated_at: datetime


class ConcurrencyLimitList(BaseModel):
    limits: list[ConcurrencyLimit]
