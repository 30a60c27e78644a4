"""Models of the search attribute and batch operation routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.api.schemas.operator import BatchActivityOptions, ResetOptions
from app.engine.payloads import dump_payload
from app.engine.run_limits import MAX_ID_LENGTH
from app.visibility.batches import MIN_OPERATIONS_PER_SECOND, JobState, OperationType
from app.visibility.syntax import MAX_QUERY_LENGTH

AttributeTypes = Annotated[
    dict[str, str],
    Field(
        description="Name → type: Keyword, Text, Int, Double, Bool, Datetime or KeywordList.",
        max_length=100,
    ),
]


class SearchAttributesAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    search_attributes: AttributeTypes


class SearchAttributes(BaseModel):
    """Temporal's ListSearchAttributes: what the namespace registered, and what the system
    provides (read from each run, or predefined `Temporal…` attributes the server sets)."""

    custom_attributes: dict[str, str]
    system_attributes: dict[str, str]


class BatchOperationStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^/]+$")] | None = Field(
        default=None, description="The job's id; made by the server when omitted."
    )
    query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY_LENGTH)] = Field(
        description="A list filter: the runs (started before the job) to act on."
    )
    operation_type: OperationType
    signal_name: Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)] | None = Field(
        default=None, description="For SIGNAL: the signal to send."
    )
    input: Any = Field(default=None, description="For SIGNAL: the signal's input.")
    reason: Annotated[str, Field(max_length=10_000)] | None = None
    identity: Annotated[str, Field(max_length=1000)] | None = None
    max_operations_per_second: float = Field(
        default=50.0,
        le=1000,
        description="Runs acted on per second, at most; at least one a minute (1/60).",
    )
    reset_options: ResetOptions | None = Field(
        default=None, description="For RESET: where each run goes and what is reapplied."
    )
    activity: BatchActivityOptions | None = Field(
        default=None,
        description="For PAUSE_ACTIVITY, UNPAUSE_ACTIVITY, RESET_ACTIVITY and "
        "UPDATE_ACTIVITY_OPTIONS: which pending activities of each run, and the options.",
    )

    def job_fields(self) -> dict[str, Any]:
        """The job's columns as `batches.start` takes them: payloads as JSON text, what an
        operator control needs (`reset_options`, `activity`) in `options`."""
        fields = self.model_dump(
            exclude={"max_operations_per_second", "input", "reset_options", "activity"}
        )
        fields["max_per_second"] = self.max_operations_per_second
        fields["input"] = dump_payload(self.input, field="input")
        options = self.model_dump(
            mode="json", include={"reset_options", "activity"}, exclude_none=True
        )
        fields["options"] = dump_payload(options, field="options") if options else None
        return fields

    @model_validator(mode="after")
    def _operator_fields(self) -> BatchOperationStart:
        if (self.operation_type is OperationType.RESET) != (self.reset_options is not None):
            raise ValueError("reset_options goes with a RESET batch operation, and only with it")
        on_activities = "ACTIVITY" in self.operation_type.value
        if on_activities != (self.activity is not None):
            raise ValueError("activity goes with the activity operations, and only with them")
        wants_options = self.operation_type is OperationType.UPDATE_ACTIVITY_OPTIONS
        if self.activity is not None and wants_options != (
            self.activity.activity_options is not None
        ):
            raise ValueError("activity_options goes with UPDATE_ACTIVITY_OPTIONS, and only with it")
        return self

    @field_validator("max_operations_per_second")
    @classmethod
    def _at_least_one_a_minute(cls, value: float) -> float:
        if not value >= MIN_OPERATIONS_PER_SECOND:
            raise ValueError(
                "at least one operation a minute (1/60 = 0.0167 a second): a slower job "
                "would hold the namespace's batch operation slot for months"
            )
        return value

    @model_validator(mode="after")
    def _signal_fields(self) -> BatchOperationStart:
        is_signal = self.operation_type is OperationType.SIGNAL
        if is_signal and not self.signal_name:
            raise ValueError("a SIGNAL batch operation needs signal_name")
        if not is_signal and (self.signal_name is not None or self.input is not None):
            raise ValueError("signal_name and input are for SIGNAL batch operations only")
        return self


class BatchOperationStop(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(max_length=10_000)] | None = None


class BatchFailure(BaseModel):
    workflow_id: str
    run_id: str
    error: str | None
    time: datetime


class BatchOperation(BaseModel):
    job_id: str
    operation_type: OperationType
    state: JobState
    query: str
    signal_name: str | None
    input: Any
    reason: str | None
    identity: str | None
    max_operations_per_second: float
    total_operation_count: int = Field(description="Runs the filter matched when the job began.")
    complete_operation_count: int = Field(description="Runs acted on.")
    failure_operation_count: int = Field(description="Runs the action refused (see `failures`).")
    start_time: datetime
    close_time: datetime | None
    stop_reason: str | None
    options: dict[str, Any] | None = Field(
        default=None, description="RESET's `reset_options`, an activity operation's `activity`."
    )
    failures: list[BatchFailure] | None = Field(
        default=None, description="The latest failures (at most 100); in describe only."
    )
    waiting_for: str | None = Field(
        default=None,
        description="What a running job waits for, in one sentence (a loop to take it, its "
        "rate, or a take-over from a holder that stopped); in describe only.",
    )


class BatchOperationPage(BaseModel):
    batch_operations: list[BatchOperation]
    next_page_token: str | None
