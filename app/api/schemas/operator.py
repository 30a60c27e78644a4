"""Request and response shapes of the operator controls (issue 24): reset, pause and unpause
of runs, and the controls of pending activities. Temporal's field names."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from app.api.schemas.common import Identity, RunId, TextRule
from app.api.schemas.workflows import Body, RequestId
from app.engine.limits import MAX_COUNTER, MAX_ID_LENGTH
from app.engine.reset import ReapplyType, ResetType

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
