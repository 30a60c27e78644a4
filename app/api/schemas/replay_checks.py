"""Models of the replay gate (issue #21 §3): replay checks of a Worker Deployment version, the
replay tasks a workflow-task poll hands out, and their answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from app.api.schemas.common import Identity
from app.api.schemas.workflows import Body, PollBody
from app.engine.versioning.replay_checks import DEFAULT_SAMPLE_SIZE, MAX_SAMPLE_SIZE


class WorkflowPollBody(PollBody):
    replay: bool = Field(
        default=False,
        description="The poller replays histories for replay checks: with a VERSIONED "
        "`deployment_options`, the poll may answer a replay task (`replay_task` set) of a "
        "running check of that version.",
    )

    @model_validator(mode="after")
    def _replay_names_a_version(self) -> WorkflowPollBody:
        options = self.deployment_options
        if self.replay and (options is None or options.worker_versioning_mode != "VERSIONED"):
            raise ValueError(
                "replay needs deployment_options with worker_versioning_mode VERSIONED: replay "
                "tasks go to the workers of the version a check is about"
            )
        return self


class ReplayTaskInfo(BaseModel):
    token: str = Field(
        description="Names this hand-out; answer with …/replay-tasks/{token}/complete."
    )
    check_id: str
    last_event_id: int = Field(description="Replay the history up to this event (inclusive).")
    deadline: datetime = Field(
        description="Unanswered by then (PERDURE_REPLAY_TASK_SECONDS), the task goes to another poller."
    )


class StartReplayCheck(Body):
    sample_size: Annotated[int, Field(ge=1, le=MAX_SAMPLE_SIZE)] = Field(
        default=DEFAULT_SAMPLE_SIZE, description="At most this many runs are replayed."
    )
    query: Annotated[str, Field(max_length=10_000)] | None = Field(
        default=None,
        description="A list filter (Temporal's grammar) the sampled runs must also match.",
    )
    identity: Identity | None = None


class ReplayFailure(Body):
    message: Annotated[str, Field(max_length=10_000)]
    kind: Literal["nondeterminism", "not-registered", "error"] = Field(
        default="nondeterminism",
        description="`nondeterminism`: the code took another path than the history; "
        "`not-registered`: the version does not register the workflow type; `error`: anything else.",
    )
    event_id: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Where the replay diverged from the history."
    )


class CompleteReplayTask(Body):
    outcome: Literal["passed", "failed"]
    failure: ReplayFailure | None = Field(
        default=None, description="Required with `failed`, refused with `passed`."
    )
    identity: Identity | None = None

    @model_validator(mode="after")
    def _failure_with_failed_only(self) -> CompleteReplayTask:
        if (self.outcome == "failed") != (self.failure is not None):
            raise ValueError("`failure` is required with outcome failed and refused with passed")
        return self


class VersionRef(BaseModel):
    deployment_name: str
    build_id: str


class ReplayProgress(BaseModel):
    total: int = Field(description="Runs sampled.")
    pending: int = Field(description="Waiting for a poller.")
    running: int = Field(description="Handed out, not answered yet.")
    passed: int
    failed: int
    skipped: int = Field(description="Runs whose history was deleted before it was replayed.")


class FailingRun(BaseModel):
    workflow_id: str
    run_id: str
    workflow_type: str
    kind: str | None
    message: str | None
    event_id: int | None = Field(description="Where the replay diverged, when the worker said.")


class ReplayCheck(BaseModel):
    check_id: str
    version: VersionRef
    status: Literal["running", "passed", "failed"]
    sample_size: int
    query: str | None
    identity: str | None
    create_time: datetime
    finish_time: datetime | None
    valid_until: datetime | None = Field(
        description="The check decides promotions until then (24 hours after it finished)."
    )
    progress: ReplayProgress
    waiting_on: str | None = Field(description="What a running check waits for.")
    failures: list[FailingRun] = Field(
        description="Up to 20 runs that did not replay (empty in lists: GET the check)."
    )


class ReplayChecks(BaseModel):
    checks: list[ReplayCheck]
    next_page_token: str | None


class ReplayTaskAnswered(BaseModel):
    ok: bool = True
