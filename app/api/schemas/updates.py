"""Models of the Workflow Update routes (Temporal's UpdateWorkflowExecution,
PollWorkflowExecutionUpdate and update-with-start, plain JSON)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from app.api.schemas.common import Identity, NameRule, RunId
from app.api.schemas.workflows import Body, IdConflictPolicy, RequestId, StartFields
from app.engine.run_limits import MAX_ID_LENGTH

UpdateId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH), NameRule]
Stage = Literal["ADMITTED", "ACCEPTED", "COMPLETED"]


class UpdateFields(Body):
    args: list[Any] = Field(default_factory=list, description="The handler's arguments.")
    header: dict[str, Any] | None = None
    update_id: UpdateId | None = Field(
        default=None,
        description="Deduplicates within a run: the same id again answers the same update and "
        "is never handled twice (a rejected id is delivered again). Made when absent.",
    )
    wait_for_stage: Stage = Field(
        default="COMPLETED",
        description="ACCEPTED or COMPLETED (ADMITTED is refused, as in Temporal).",
    )
    wait: Annotated[float, Field(ge=0, le=30)] = Field(
        default=30,
        description="Seconds to wait for the stage (at most 30, like `result?wait=`); a wait "
        "that ends first answers with the stage reached, and the caller asks again.",
    )
    identity: Identity | None = None


class UpdateBody(UpdateFields):
    run_id: RunId | None = Field(default=None, description="Only this run (else the latest).")
    first_execution_run_id: RunId | None = Field(
        default=None, description="Only if the run belongs to the chain started by this run."
    )


class UpdateWithStart(StartFields):
    id_conflict_policy: IdConflictPolicy | None = Field(  # type: ignore[assignment]  # required here, optional in StartFields
        default=None,
        description="Required: USE_EXISTING, FAIL or TERMINATE_EXISTING (Temporal's rule).",
    )
    update: UpdateFields
    request_id: RequestId = None

    @model_validator(mode="after")
    def _no_cron(self) -> UpdateWithStart:
        # Temporal refuses a cron workflow started by update-with-start.
        if self.cron_schedule:
            raise ValueError("cron_schedule cannot be used with update-with-start")
        return self


class UpdateRef(BaseModel):
    workflow_execution: dict[str, str]
    update_id: str


class UpdateAnswer(BaseModel):
    update_ref: UpdateRef
    stage: Stage = Field(description="The stage reached (a rejection is COMPLETED).")
    outcome: dict[str, Any] | None = Field(
        default=None,
        description="Once COMPLETED: `{success: result}` or `{failure: {...}}` (a validator's "
        "rejection included).",
    )


class UpdateWithStartAnswer(BaseModel):
    workflow_id: str
    run_id: str
    started: bool = Field(description="Whether this request started the run.")
    update: UpdateAnswer
