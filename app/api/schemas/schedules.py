"""Models of the schedule routes, in the shapes of Temporal's Python SDK (Schedule, ScheduleSpec,
ScheduleCalendarSpec, ScheduleRange, ScheduleIntervalSpec, SchedulePolicy, ScheduleState,
ScheduleInfo). Durations are seconds; times are RFC 3339."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from app.api.schemas.common import Instant
from app.api.schemas.definitions import DefinitionRef
from app.api.schemas.workflows import Body, Identifier, Seconds
from app.engine.limits import MAX_COUNTER, MAX_TASK_TIMEOUT
from app.engine.priority import PriorityBody
from app.schedules.buffer import OverlapPolicy


class ScheduleRange(Body):
    start: int
    end: int = Field(default=0, description="Inclusive; below `start` means `start` alone.")
    step: int = Field(default=0, ge=0, description="0 means 1.")


RangeField = Annotated[
    str | list[ScheduleRange] | None,
    Field(
        description="A range string (`*`, `5`, `1-5/2,8`, `mon-fri`, `jan-mar`) or ranges; "
        "omitted: the field's default."
    ),
]


class CalendarSpec(Body):
    """Wall-clock times in the schedule's time zone. All fields must match (day of month AND
    day of week). Defaults: second, minute and hour 0; every day, month and year."""

    second: RangeField = None
    minute: RangeField = None
    hour: RangeField = None
    day_of_month: RangeField = None
    month: RangeField = None
    year: RangeField = None
    day_of_week: RangeField = Field(default=None, description="0-6, 0 is Sunday.")
    comment: Annotated[str, Field(max_length=1000)] | None = None


class IntervalSpec(Body):
    every: float = Field(gt=0, description="Seconds (whole, at least 1).")
    offset: float = Field(
        default=0, ge=0, description="Seconds added to each multiple of every since the Unix epoch."
    )


class ScheduleSpec(Body):
    calendars: list[CalendarSpec] = Field(default_factory=list)
    intervals: list[IntervalSpec] = Field(default_factory=list)
    cron_expressions: list[Annotated[str, Field(max_length=1000)]] = Field(
        default_factory=list,
        description="Temporal's cron strings: 5 fields, 6 (+ year) or 7 (second first), "
        "`@daily`-style names, `@every 15m[/5m]`, an optional `CRON_TZ=Zone` prefix and "
        "`# comment`. Stored compiled into `calendars`.",
    )
    skip: list[CalendarSpec] = Field(default_factory=list, description="Times to leave out.")
    start_at: Instant | None = None
    end_at: Instant | None = None
    jitter: Annotated[float, Field(ge=0, le=10 * 365 * 86400)] | None = Field(
        default=None,
        description="Each action waits up to this many seconds (never past the next time).",
    )
    time_zone_name: Annotated[str, Field(max_length=100)] | None = Field(
        default=None,
        description="IANA name (default UTC). A wall-clock time that does not exist on a "
        "daylight-saving day does not fire; one that occurs twice fires twice.",
    )


class StartWorkflowAction(Body):
    workflow_type: Identifier | None = None
    task_queue: Identifier | None = None
    definition: DefinitionRef | None = Field(
        default=None, description="Start a stored definition instead of `workflow_type`."
    )
    workflow_id: Identifier | None = Field(
        default=None,
        description="Default: the schedule id. Each run's id is this plus `-` and its "
        "nominal time in RFC 3339 (e.g. `nightly-2026-11-25T02:00:00Z`).",
    )
    input: Any = None
    execution_timeout: Seconds | None = None
    run_timeout: Seconds | None = None
    task_timeout: Annotated[float, Field(gt=0, le=MAX_TASK_TIMEOUT)] | None = None
    retry_policy: dict[str, Any] | None = None
    memo: dict[str, Any] | None = None
    search_attributes: dict[str, Any] | None = Field(
        default=None,
        description="Each run also gets TemporalScheduledById and TemporalScheduledStartTime.",
    )
    priority: PriorityBody | None = Field(
        default=None, description="Temporal's Priority of each run the schedule starts."
    )
    concurrency_keys: dict[str, str] | None = Field(
        default=None,
        description="Values that concurrency limits with key `concurrency_keys.<name>` count "
        "each run the schedule starts by (at most 16 names).",
    )


class ScheduleAction(Body):
    start_workflow: StartWorkflowAction


class SchedulePolicy(Body):
    overlap: OverlapPolicy = Field(
        default=OverlapPolicy.SKIP, description="When an action comes due while one runs."
    )
    catchup_window: Annotated[float, Field(ge=0, le=10 * 365 * 86400)] = Field(
        default=365 * 86400,
        description="After downtime, times missed by at most this long are still taken (at least 10 s).",
    )
    pause_on_failure: bool = Field(
        default=False,
        description="Pause when a started workflow fails or times out (after its retries).",
    )


class ScheduleState(Body):
    note: Annotated[str, Field(max_length=10_000)] | None = None
    paused: bool = False
    limited_actions: bool = False
    remaining_actions: int = Field(default=0, ge=0, le=MAX_COUNTER)


class Schedule(Body):
    spec: ScheduleSpec
    action: ScheduleAction
    policy: SchedulePolicy = Field(default_factory=SchedulePolicy)
    state: ScheduleState = Field(default_factory=ScheduleState)


class ScheduleBackfill(Body):
    start_at: Instant = Field(description="Inclusive.")
    end_at: Instant
    overlap: OverlapPolicy | None = Field(default=None, description="Default: the schedule's.")


class CreateSchedule(Body):
    schedule: Schedule
    trigger_immediately: bool = False
    backfill: list[ScheduleBackfill] = Field(default_factory=list)
    memo: dict[str, Any] | None = None
    search_attributes: dict[str, Any] | None = None


class UpdateSchedule(Body):
    schedule: Schedule
    conflict_token: int | None = Field(
        default=None,
        ge=0,
        le=MAX_COUNTER,
        description="From describe; a stale token is refused with 409.",
    )
    search_attributes: dict[str, Any] | None = Field(
        default=None, description="Replace the schedule's search attributes (omitted: kept)."
    )


class NoteBody(Body):
    note: Annotated[str, Field(max_length=10_000)] | None = None


class TriggerBody(Body):
    overlap: OverlapPolicy | None = Field(default=None, description="Default: the schedule's.")


class BackfillBody(Body):
    backfill: list[ScheduleBackfill] = Field(min_length=1, max_length=100)


# -- answers ---------------------------------------------------------------------------------


class ScheduleActionResult(BaseModel):
    scheduled_at: datetime = Field(description="The nominal time plus jitter.")
    started_at: datetime
    workflow_id: str
    first_execution_run_id: str
    status: str = Field(description="RUNNING, or how the workflow closed.")
    origin: str = Field(description="`spec`, `trigger` or `backfill`.")


class RunningAction(BaseModel):
    workflow_id: str
    first_execution_run_id: str


class ScheduleInfo(BaseModel):
    num_actions: int
    num_actions_missed_catchup_window: int
    num_actions_skipped_overlap: int
    buffer_dropped: int
    buffer_size: int
    running_actions: list[RunningAction]
    recent_actions: list[ScheduleActionResult] = Field(description="Latest 10, oldest first.")
    next_action_times: list[datetime]
    action_problem: str | None = Field(
        default=None,
        description="Why the action cannot run, in one sentence (its stored definition, or "
        "the version of it it names, was deleted); null when it can.",
    )
    created_at: datetime
    last_updated_at: datetime | None


class ScheduleDescription(BaseModel):
    schedule_id: str
    schedule: Schedule
    info: ScheduleInfo
    memo: dict[str, Any] | None
    search_attributes: dict[str, Any]
    conflict_token: int


class ScheduleListState(BaseModel):
    note: str | None
    paused: bool


class ScheduleListEntry(BaseModel):
    schedule_id: str
    workflow_type: str | None
    spec: ScheduleSpec
    state: ScheduleListState
    recent_actions: list[ScheduleActionResult]
    next_action_times: list[datetime]
    memo: dict[str, Any] | None
    search_attributes: dict[str, Any]


class SchedulePage(BaseModel):
    schedules: list[ScheduleListEntry]
    next_page_token: str | None


class TriggerOutcome(BaseModel):
    outcome: str = Field(description="`started`, `buffered`, `skipped` or `failed`.")
    workflow_id: str | None
    run_id: str | None
    error: str | None


class BackfillOutcome(BaseModel):
    started: int
    buffered: int
    skipped: int
    failed: int


class MatchingTimes(BaseModel):
    start_times: list[datetime]
