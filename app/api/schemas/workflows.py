"""Models of the workflow, task queue, workflow-task and activity-task routes.

Durations are JSON numbers of seconds. Payloads (`input`, `result`, `details`) are any JSON.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.api.schemas.common import Identifier, Identity, NameRule, RunId, TextRule
from app.api.schemas.definitions import DefinitionRef
from app.api.schemas.worker_versioning import (
    DeploymentOptions,
    VersioningBehavior,
    VersioningInfo,
    VersioningOverride,
)
from app.engine.events import RunStatus
from app.engine.priority import PriorityBody
from app.engine.run_limits import (
    DEFAULT_TASK_TIMEOUT,
    MAX_DURATION,
    MAX_HISTORY_WAIT,
    MAX_POLL_WAIT,
    MAX_TASK_BATCH,
    MAX_TASK_TIMEOUT,
)

RequestId = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=200,
        description="Temporal's request id: the same request sent again with it gets the first "
        "answer and changes nothing (as the `Idempotency-Key` header, which it may replace).",
    ),
]
Seconds = Annotated[float, Field(gt=0, le=MAX_DURATION)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IdReusePolicy(StrEnum):
    ALLOW_DUPLICATE = "ALLOW_DUPLICATE"
    ALLOW_DUPLICATE_FAILED_ONLY = "ALLOW_DUPLICATE_FAILED_ONLY"
    REJECT_DUPLICATE = "REJECT_DUPLICATE"


class IdConflictPolicy(StrEnum):
    FAIL = "FAIL"
    USE_EXISTING = "USE_EXISTING"
    TERMINATE_EXISTING = "TERMINATE_EXISTING"


class StartFields(Body):
    workflow_type: Identifier
    task_queue: Identifier
    input: Any = None
    execution_timeout: Seconds | None = None
    run_timeout: Seconds | None = None
    task_timeout: Annotated[float, Field(gt=0, le=MAX_TASK_TIMEOUT)] = DEFAULT_TASK_TIMEOUT
    id_reuse_policy: IdReusePolicy = IdReusePolicy.ALLOW_DUPLICATE
    id_conflict_policy: IdConflictPolicy = IdConflictPolicy.FAIL
    memo: dict[str, Any] | None = None
    search_attributes: dict[str, Any] | None = Field(
        default=None,
        description="Registered search attributes (`POST …/search-attributes`) → values of their types; filterable with `query` or `search_attribute=Name=value`.",
    )
    start_delay: Annotated[float, Field(ge=0, le=MAX_DURATION)] | None = None
    retry_policy: dict[str, Any] | None = Field(
        default=None,
        description="Retry the whole workflow when a run fails or its run timeout passes "
        "(initial_interval, backoff_coefficient, maximum_interval, maximum_attempts, "
        "non_retryable_error_types); each retry is a new run of the same workflow id.",
    )
    identity: Identity | None = None
    request_id: RequestId = None
    concurrency_keys: dict[str, str] | None = Field(
        default=None,
        description="Values that concurrency limits with key `concurrency_keys.<name>` count by "
        '(e.g. `{"customer": "acme"}`); the run\'s activities inherit them unless they set '
        "their own. At most 16 names.",
    )
    priority: PriorityBody | None = Field(
        default=None,
        description="Temporal's Priority: `priority_key` 1 (highest) to 5 (default 3), "
        "`fairness_key` and `fairness_weight`; the run's workflow tasks, and its activities "
        "and children that set none of their own, are queued with it.",
    )
    versioning_override: VersioningOverride | None = Field(
        default=None,
        description="Worker Versioning: pin the run to a version (`{pinned: {behavior: "
        "PINNED, version}}`, e.g. test traffic to a version before it is promoted) or make it "
        "auto-upgrade (`{auto_upgrade: true}`), whatever its workflow type declares.",
    )
    cron_schedule: str | None = Field(
        default=None,
        max_length=255,
        description="Temporal's cron workflows: five-field cron (UTC, or prefixed "
        "`CRON_TZ=<zone>`); each run is a new run of the same workflow id at the next cron "
        "time, the first included; a failed run does not stop the chain, cancel and "
        "terminate do.",
    )


class StartWorkflow(StartFields):
    # Optional here (a start by stored definition names neither), required in StartFields.
    workflow_type: Identifier | None = Field(  # type: ignore[assignment]
        default=None, description="Code-first runs: the type a worker decides for."
    )
    task_queue: Identifier | None = Field(  # type: ignore[assignment]  # optional here, required in StartFields
        default=None, description="Required with `workflow_type`; optional with `definition`."
    )
    definition: DefinitionRef | None = Field(
        default=None,
        description="Run a stored definition (instead of `workflow_type`), pinned to this version for the run's whole life.",
    )
    request_eager_execution: bool = Field(
        default=False,
        description="Hand the first workflow task to the caller (as `identity`) in the answer.",
    )
    wait_for_result: Annotated[float, Field(gt=0, le=MAX_HISTORY_WAIT)] | None = Field(
        default=None,
        description="Answer only when the workflow closes or this many seconds pass, with its "
        "`outcome` as `GET .../result` gives it (like Step Functions' StartSyncExecution).",
    )

    @model_validator(mode="after")
    def _one_kind_of_run(self) -> StartWorkflow:
        if (self.workflow_type is None) == (self.definition is None):
            raise ValueError("set exactly one of workflow_type and definition")
        if self.workflow_type is not None and self.task_queue is None:
            raise ValueError("task_queue is required with workflow_type")
        if self.request_eager_execution and self.wait_for_result is not None:
            # The answer would hold back the very task the run needs to go on.
            raise ValueError("request_eager_execution cannot be combined with wait_for_result")
        return self


class SignalWithStart(StartFields):
    signal_input: Any = None


class WorkflowTask(BaseModel):
    task_token: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    attempt: int
    scheduled_event_id: int
    started_event_id: int
    previous_started_event_id: int
    history: dict[str, Any] = Field(
        description="`events` (oldest first), `next_page_token` for the rest, and `after_event_id` "
        "(0, or `previous_started_event_id` when partial history was asked for)."
    )
    target_worker_deployment_version_changed: bool = Field(
        default=False,
        description="Worker Versioning: the run is pinned and its deployment now routes it to "
        "another version (a worker may continue-as-new onto it).",
    )
    messages: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Update requests for the workflow to accept or reject in this task: "
        "`{id, protocol_instance_id, event_id, body}`, body `@type` ...update.v1.Request "
        "(docs/messages.md).",
    )


class StartedWorkflow(BaseModel):
    workflow_id: str
    run_id: str
    started: bool = Field(
        description="False when an existing run was returned (idempotent retry, USE_EXISTING)."
    )
    eager_workflow_task: WorkflowTask | None = None
    outcome: WorkflowOutcome | None = Field(
        default=None,
        description="With `wait_for_result`: the outcome, or status RUNNING when the wait ended first.",
    )


class SignalBody(Body):
    input: Any = None
    identity: Identity | None = None
    run_id: RunId | None = None
    request_id: RequestId = None


class CancelBody(Body):
    reason: Annotated[str, Field(max_length=10_000), TextRule] | None = None
    identity: Identity | None = None
    run_id: RunId | None = None
    request_id: RequestId = None


class TerminateBody(CancelBody):
    details: Any = None


class RunRef(BaseModel):
    workflow_id: str
    run_id: str


class PendingActivity(BaseModel):
    activity_id: str
    activity_type: str
    task_queue: str
    scheduled_event_id: int
    state: str
    attempt: int
    scheduled_time: datetime
    last_started_time: datetime | None
    last_heartbeat_time: datetime | None
    heartbeat_details: Any
    last_failure: Any
    last_worker_identity: str | None
    cancel_requested: bool
    paused: bool = Field(default=False, description="Paused by an operator (activity controls).")
    pause_info: dict[str, Any] | None = Field(
        default=None, description="Who paused it, why and when."
    )
    next_attempt_schedule_time: datetime | None = Field(
        default=None, description="When a back-off ends and the next attempt is dispatched."
    )


class PendingTimer(BaseModel):
    timer_id: str
    started_event_id: int
    fire_time: datetime


class PendingChild(BaseModel):
    workflow_id: str
    run_id: str
    workflow_type: str
    initiated_event_id: int | None
    parent_close_policy: str | None


class WorkflowSummary(BaseModel):
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: RunStatus
    start_time: datetime
    execution_time: datetime
    close_time: datetime | None
    memo: Any
    search_attributes: dict[str, Any]
    parent: RunRef | None
    history_length: int


class DefinitionOfRun(BaseModel):
    name: str
    version: int
    alias: str | None = Field(default=None, description="The alias the run was started through")
    current_states: list[str] = Field(
        description="States entered and not yet left (several inside Parallel and Map)."
    )


class WaitingOn(BaseModel):
    """What an open run waits for (the most pressing thing), in one sentence and as data."""

    kind: Literal[
        "CONCURRENCY_LIMIT",
        "WORKFLOW_TASK_NO_POLLER",
        "ACTIVITY_NO_POLLER",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_BACKOFF",
        "ACTIVITY_RETRY_BACKOFF",
        "ACTIVITY_STARTED",
        "ACTIVITY_SCHEDULED",
        "CHILD_WORKFLOW",
        "TIMER",
        "START_DELAY",
        "SIGNAL",
        "CALLBACK",
        "PAUSED",
    ] = Field(
        description="Most pressing first: a concurrency slot (`CONCURRENCY_LIMIT`: '3 of 3 "
        "running for customer=acme'), a queue nobody polled in the last minute (`…_NO_POLLER`), "
        "work under way, back-offs, children, timers, a start delay, and `SIGNAL` when nothing "
        "is pending. `CALLBACK`: a stored definition's waitForTaskToken state. `PAUSED`: an "
        "operator paused the run (who and why in the message and `pause_info`)."
    )
    message: str = Field(description="One sentence for a person.")
    since: datetime | None = Field(description="When this wait began, where known.")
    until: datetime | None = Field(description="When it ends by itself (timers, back-offs).")
    task_queue: str | None
    activity_id: str | None
    timer_id: str | None
    workflow_id: str | None = Field(description="The child's workflow id (`CHILD_WORKFLOW`).")
    others: int = Field(description="How many further things the run waits for.")


class WorkflowDescription(WorkflowSummary):
    execution_timeout: float | None
    run_timeout: float | None
    task_timeout: float
    first_run_id: str
    continued_from_run_id: str | None
    continued_to_run_id: str | None
    attempt: int = Field(
        description="Which attempt of the workflow (retry policy) this run is, from 1."
    )
    retry_policy: dict[str, Any] | None
    cancel_requested: bool
    pending_workflow_task: dict[str, Any] | None
    pending_activities: list[PendingActivity]
    pending_timers: list[PendingTimer]
    pending_children: list[PendingChild]
    result: Any
    failure: Any
    waiting_on: WaitingOn | None = Field(
        description="Why the open run is waiting (null once it is closed)."
    )
    definition: DefinitionOfRun | None = Field(
        default=None,
        description="Runs of a stored definition: its name, version and current states.",
    )
    reset_run_id: str | None = Field(
        default=None, description="The run the latest reset of this run started."
    )
    reset_from_run_id: str | None = Field(
        default=None, description="The run this run was reset from (its base)."
    )
    reset_points: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Temporal's auto-reset points: per build id (or worker identity) the first "
        "workflow task it completed (`first_workflow_task_completed_id`).",
    )
    pause_info: dict[str, Any] | None = Field(
        default=None,
        description="While the run is PAUSED: who paused it (`identity`), why (`reason`), when "
        "(`pause_time`).",
    )
    versioning_info: VersioningInfo | None = Field(
        default=None, description="Worker Versioning: null for an unversioned run."
    )


class WorkflowPage(BaseModel):
    workflows: list[WorkflowSummary]
    next_page_token: str | None


class CountGroup(BaseModel):
    group_values: list[Any] = Field(description="The group's values, e.g. ['Running'].")
    count: int


class WorkflowCount(BaseModel):
    count: int
    groups: list[CountGroup] = Field(
        default_factory=list, description="With `GROUP BY ExecutionStatus`: the count of each."
    )


class HistoryEvent(BaseModel):
    event_id: int
    event_type: str
    event_time: datetime
    attributes: dict[str, Any]


class History(BaseModel):
    run_id: str
    events: list[HistoryEvent]
    next_page_token: str | None


class WorkflowOutcome(BaseModel):
    workflow_id: str
    run_id: str = Field(description="The run that closed (the last of a continue-as-new chain).")
    status: RunStatus
    result: Any = None
    failure: Any = None
    close_time: datetime | None = None


class PollBody(Body):
    identity: Identity = "unknown"
    deployment_options: DeploymentOptions | None = Field(
        default=None,
        description="Worker Versioning: the poller's deployment version; a VERSIONED poller "
        "takes only the tasks routed to its version.",
    )
    wait: Annotated[float, Field(ge=0, le=MAX_POLL_WAIT)] = Field(
        default=MAX_POLL_WAIT, description="Seconds to wait for a task before answering 204."
    )
    partial_history: bool = Field(
        default=False,
        description="Send only the events after `previous_started_event_id` (for workers that cache runs); "
        "`history.after_event_id` says where the page starts.",
    )


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command_type: str
    attributes: dict[str, Any] = Field(default_factory=dict)


class CompleteWorkflowTask(Body):
    task_token: str = Field(max_length=4000)
    commands: list[Command] = Field(default_factory=list, max_length=10_000)
    messages: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=10_000,
        description="Protocol messages answering the task's update requests (`{id, "
        "protocol_instance_id, body}`, body `@type` Acceptance, Rejection or Response); an "
        "Acceptance or Response is placed among `commands` by a PROTOCOL_MESSAGE command "
        "naming its `id` (docs/messages.md).",
    )
    identity: Identity | None = Field(
        default=None, description="Who answers; defaults to the identity that polled the task."
    )
    return_new_workflow_task: bool = Field(
        default=False,
        description="If the run needs another workflow task now, start it for this caller and return it.",
    )
    partial_history: bool = Field(
        default=False,
        description="Send only the events after `previous_started_event_id` (for workers that cache runs); "
        "`history.after_event_id` says where the page starts.",
    )
    force_create_new_workflow_task: bool = Field(
        default=False,
        description="Temporal's: schedule another workflow task at once although nothing new "
        "happened (a worker running a local activity past 80 % of the task timeout).",
    )
    versioning_behavior: VersioningBehavior | None = Field(
        default=None,
        description="Worker Versioning: the behaviour the workflow type declares (a versioned "
        "worker sends it with every completion); recorded on WORKFLOW_TASK_COMPLETED.",
    )
    deployment_options: DeploymentOptions | None = Field(
        default=None, description="Worker Versioning: the completing worker's version."
    )


class FailureBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    message: Annotated[str, TextRule] = Field(default="", max_length=100_000)
    type: Identity | None = None
    non_retryable: bool = False
    details: Any = None


class FailWorkflowTask(Body):
    task_token: str = Field(max_length=4000)
    failure: FailureBody = Field(default_factory=FailureBody)
    cause: Annotated[str, Field(max_length=200), NameRule] = "WORKFLOW_WORKER_UNHANDLED_FAILURE"
    identity: Identity | None = Field(
        default=None, description="Who answers; defaults to the identity that polled the task."
    )


class ActivityTask(BaseModel):
    task_token: str
    workflow_id: str
    run_id: str
    workflow_type: str
    activity_id: str
    activity_type: str
    task_queue: str
    input: Any
    attempt: int
    scheduled_event_id: int
    scheduled_time: datetime
    current_attempt_scheduled_time: datetime
    started_time: datetime
    schedule_to_close_timeout: float | None
    start_to_close_timeout: float | None
    heartbeat_timeout: float | None
    heartbeat_details: Any
    last_failure: Any
    traceparent: str | None = Field(
        default=None,
        description="W3C trace context of the request that scheduled the activity (when the server traces): continue it in the worker.",
    )


class WorkflowTaskCompleted(BaseModel):
    workflow_task: WorkflowTask | None = Field(
        default=None, description="With `return_new_workflow_task`."
    )
    activity_tasks: list[ActivityTask] = Field(
        default_factory=list,
        description="Activities scheduled with `request_eager_execution`, already started for this caller (at most 3).",
    )


class ActivityPollBatch(Body):
    identity: Identity = "unknown"
    wait: Annotated[float, Field(ge=0, le=MAX_POLL_WAIT)] = Field(
        default=MAX_POLL_WAIT,
        description="Seconds to wait for the first task; the answer then holds every task ready, "
        "up to `max_tasks`, and an empty list when none came.",
    )
    max_tasks: Annotated[int, Field(ge=1, le=MAX_TASK_BATCH)] = 10
    deployment_options: DeploymentOptions | None = Field(
        default=None,
        description="Worker Versioning: the poller's deployment version; a VERSIONED poller "
        "takes only the tasks routed to its version.",
    )


class ActivityTaskBatch(BaseModel):
    tasks: list[ActivityTask]


class ActivityCompletion(Body):
    task_token: str = Field(max_length=4000)
    result: Any = None


class CompleteActivities(Body):
    completions: list[ActivityCompletion] = Field(min_length=1, max_length=MAX_TASK_BATCH)
    identity: Identity | None = Field(
        default=None, description="Who answers; defaults to the identity that polled the task."
    )


class CompletionOutcome(BaseModel):
    ok: bool
    problem: dict[str, Any] | None = Field(
        default=None,
        description="Why this completion was refused (RFC 9457 problem, e.g. a stale token); "
        "nothing of it was recorded.",
    )


class ActivitiesCompleted(BaseModel):
    results: list[CompletionOutcome] = Field(description="One per completion, in order.")


class ActivityCompleted(BaseModel):
    ok: bool = True
    workflow_task: WorkflowTask | None = Field(
        default=None,
        description="With `return_new_workflow_task`: the workflow task this completion caused, started for the caller.",
    )


class Heartbeat(Body):
    task_token: str = Field(max_length=4000)
    details: Any = None


class HeartbeatById(Body):
    details: Any = None
    run_id: RunId | None = None


class HeartbeatAnswer(BaseModel):
    cancel_requested: bool
    activity_paused: bool = Field(
        default=False,
        description="An operator paused the activity: stop this attempt (report it canceled); "
        "the next one waits for unpause. Present only when true.",
    )
    activity_reset: bool = Field(
        default=False,
        description="An operator reset the activity: stop this attempt (report it canceled); "
        "the next one is attempt 1. Present only when true.",
    )


class CompleteActivity(Body):
    task_token: str = Field(max_length=4000)
    result: Any = None
    identity: Identity | None = Field(
        default=None, description="Who answers; defaults to the identity that polled the task."
    )
    return_new_workflow_task: bool = Field(
        default=False,
        description="Also start and return the workflow task this completion causes (eager).",
    )
    partial_history: bool = Field(
        default=False,
        description="Send only the events after `previous_started_event_id` (for workers that cache runs); "
        "`history.after_event_id` says where the page starts.",
    )


class CompleteActivityById(Body):
    result: Any = None
    identity: Identity | None = Field(
        default=None, description="Who answers; defaults to the identity that polled the task."
    )
    run_id: RunId | None = None


class FailActivity(Body):
    task_token: str = Field(max_length=4000)
    failure: FailureBody
    last_heartbeat_details: Any = None
    identity: Identity | None = Field(
        default=None, description="Who answers; defaults to the identity that polled the task."
    )


class FailActivityById(Body):
    failure: FailureBody
    last_heartbeat_details: Any = None
    identity: Identity | None = Field(
        default=None, description="Who answers; defaults to the identity that polled the task."
    )
    run_id: RunId | None = None


class CanceledActivity(Body):
    task_token: str = Field(max_length=4000)
    details: Any = None
    identity: Identity | None = Field(
        default=None, description="Who answers; defaults to the identity that polled the task."
    )


class CanceledActivityById(Body):
    details: Any = None
    identity: Identity | None = Field(
        default=None, description="Who answers; defaults to the identity that polled the task."
    )
    run_id: RunId | None = None


class Accepted(BaseModel):
    ok: bool = True


class Poller(BaseModel):
    identity: str
    kind: str = Field(description="`workflow` or `activity`.")
    last_poll_time: datetime = Field(description="When a poll of this poller last started.")
    open_until: datetime | None = Field(
        default=None, description="When its latest long poll ends at the latest."
    )
    present: bool = Field(
        description="A poll of it may be open now, or it polled within the last minute."
    )


class FairnessKeyBacklog(BaseModel):
    key: str
    backlog: int


class TaskQueueDescription(BaseModel):
    """Temporal's DescribeTaskQueue: backlog and pollers of one task queue."""

    name: str
    backlog: dict[str, int] = Field(
        description="Tasks waiting for a poller, by kind: `workflow_tasks`, `activity_tasks`."
    )
    backlog_age_seconds: dict[str, float | None] = Field(
        description="Age of the oldest waiting task by kind (`workflow`, `activity`); null "
        "when that backlog is empty."
    )
    pollers: list[Poller]
    backlog_by_priority: dict[str, dict[str, int]] = Field(
        description='Waiting tasks by kind (`workflow`, `activity`) and priority (`"1"` to '
        '`"5"`); priorities without tasks are left out.'
    )
    top_fairness_keys: dict[str, list[FairnessKeyBacklog]] = Field(
        description="By kind, the 10 fairness keys with the most waiting tasks, largest first "
        '(unkeyed tasks count under `""`).'
    )
