"""Request and response shapes of the operator controls (issue 24): reset, pause and unpause
of runs, and the controls of pending activities. Temporal's field names."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from app.api.schemas.common import Identity, RunId, TextRule
from app.api.schemas.workflows import Body, RequestId
from app.engine.reset import ReapplyType, ResetType
from app.engine.run_limits import MAX_COUNTER, MAX_DURATION, MAX_ID_LENGTH

Reason = Annotated[str, Field(min_length=1, max_length=10_000), TextRule]


class ResetOptions(Body):
    """Where a reset goes, and what it reapplies (also a batch RESET's `reset_options`)."""

    event_id: Annotated[int, Field(ge=1, le=MAX_COUNTER)] | None = Field(
        default=None,
        description="A WORKFLOW_TASK_COMPLETED, _FAILED, _TIMED_OUT or _STARTED event of the "
        "run (Temporal's workflow_task_finish_event_id). Give this or `reset_type`.",
    )
    reset_type: ResetType | None = Field(
        default=None,
        description="FirstWorkflowTask, LastWorkflowTask, LastContinuedAsNew, or BuildId (the "
        "first workflow task completed by `build_id`).",
    )
    build_id: Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)] | None = None
    reset_reapply_exclude_types: list[ReapplyType] = Field(
        default_factory=list,
        max_length=2,
        description="Events after the point NOT to reapply: SIGNAL, UPDATE. Both are "
        "reapplied by default.",
    )

    @model_validator(mode="after")
    def _one_target(self) -> ResetOptions:
        if (self.event_id is None) == (self.reset_type is None):
            raise ValueError("give exactly one of event_id and reset_type")
        if (self.reset_type is ResetType.BUILD_ID) != (self.build_id is not None):
            raise ValueError("build_id goes with reset_type BuildId, and only with it")
        return self


class ResetBody(ResetOptions):
    reason: Reason
    identity: Identity | None = None
    run_id: RunId | None = Field(
        default=None, description="The run to reset (its base); the latest run when omitted."
    )
    request_id: RequestId = None


class ResetAnswer(BaseModel):
    workflow_id: str
    run_id: str = Field(description="The new run.")
    base_run_id: str = Field(description="The run whose history the new run starts from.")


class ResetPoint(BaseModel):
    build_id: str | None = Field(description="Build id, else the identity of the worker.")
    run_id: str
    first_workflow_task_completed_id: int
    create_time: datetime
    resettable: bool


class PauseBody(Body):
    reason: Annotated[str, Field(max_length=10_000), TextRule] | None = None
    identity: Identity | None = None
    run_id: RunId | None = None
    request_id: RequestId = None


class PauseInfo(BaseModel):
    identity: str | None
    reason: str | None
    pause_time: datetime
    request_id: str | None = None


class RunRefAnswer(BaseModel):
    workflow_id: str
    run_id: str
    status: str


class ActivityTarget(Body):
    """Which pending activities of the run: one `activity_id`, all of one `activity_type`, or
    every one (`match_all`)."""

    activity_id: Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)] | None = None
    activity_type: Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)] | None = None
    match_all: bool = Field(default=False, description="Every pending activity of the run.")

    @model_validator(mode="after")
    def _one_target(self) -> ActivityTarget:
        chosen = [self.activity_id is not None, self.activity_type is not None, self.match_all]
        if sum(chosen) != 1:
            raise ValueError("give exactly one of activity_id, activity_type and match_all")
        return self


class ActivityOnRun(ActivityTarget):
    run_id: RunId | None = None
    identity: Identity | None = None


class PauseActivityBody(ActivityOnRun):
    reason: Annotated[str, Field(max_length=10_000), TextRule] | None = None


class UnpauseActivityBody(ActivityOnRun):
    reset_attempts: bool = Field(default=False, description="Start again from attempt 1.")
    reset_heartbeat: bool = Field(default=False, description="Drop the heartbeat details.")


class ResetActivityBody(ActivityOnRun):
    keep_paused: bool = Field(default=False, description="A paused activity stays paused.")
    clear_heartbeat_details: bool = Field(default=False, description="Drop the details.")


Timeout = Annotated[float, Field(gt=0, le=MAX_DURATION)]


class ActivityOptions(Body):
    """Temporal's ActivityOptions (UpdateActivityOptions): what is given replaces the pending
    activity's; what is left out stays. Used from the next attempt on."""

    schedule_to_close_timeout: Timeout | None = None
    schedule_to_start_timeout: Timeout | None = None
    start_to_close_timeout: Timeout | None = None
    heartbeat_timeout: Timeout | None = None
    retry_policy: dict[str, Any] | None = None


class UpdateActivityOptionsBody(ActivityOnRun):
    activity_options: ActivityOptions


class ControlledActivity(BaseModel):
    activity_id: str
    activity_type: str
    task_queue: str
    scheduled_event_id: int
    state: str = Field(description="SCHEDULED, STARTED, BACKOFF, PAUSED or PAUSE_REQUESTED.")
    attempt: int
    paused: bool
    pause_info: dict[str, Any] | None
    heartbeat_details: Any
    last_failure: Any
    schedule_to_close_timeout: float | None
    schedule_to_start_timeout: float | None
    start_to_close_timeout: float | None
    heartbeat_timeout: float | None
    retry_policy: dict[str, Any] | None


class ActivityControlAnswer(BaseModel):
    workflow_id: str
    run_id: str
    activities: list[ControlledActivity] = Field(description="The activities acted on.")


class BatchActivityOptions(ActivityTarget):
    """A batch activity operation: which pending activities of each run, and the options of
    the operation (`reason`, `reset_attempts`, … as the single-run calls take them)."""

    reason: Annotated[str, Field(max_length=10_000), TextRule] | None = None
    reset_attempts: bool = False
    reset_heartbeat: bool = False
    keep_paused: bool = False
    clear_heartbeat_details: bool = False
    activity_options: ActivityOptions | None = None
