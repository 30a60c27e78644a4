"""Models of the query routes: ask a workflow, receive a query in a poll, answer it."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from app.api.schemas.common import Identity, NameRule, RunId
from app.api.schemas.replay_checks import ReplayTaskInfo
from app.api.schemas.workflows import Body, FailureBody, WorkflowTask
from app.engine.queries import DEFAULT_QUERY_TIMEOUT, MAX_QUERY_TIMEOUT


class QueryBody(Body):
    args: Any = Field(default=None, description="The query's input (any JSON).")
    run_id: RunId | None = Field(default=None, description="A given run; the latest by default.")
    timeout: Annotated[float, Field(gt=0, le=MAX_QUERY_TIMEOUT)] = Field(
        default=DEFAULT_QUERY_TIMEOUT, description="Seconds to wait for a worker's answer."
    )


class QueryAnswer(BaseModel):
    query_id: str
    answer: Any = None


class QueryRequest(BaseModel):
    query_id: str
    query_type: str
    args: Any = None


class WorkflowTaskOrQuery(WorkflowTask):
    query: QueryRequest | None = Field(
        default=None,
        description=(
            "Set when the poll hands out a query instead of a workflow task: answer it from "
            "`history` (the run's events so far) with `workflow-tasks/respond-query`. "
            "`task_token` is empty; no workflow task was started."
        ),
    )
    replay_task: ReplayTaskInfo | None = Field(
        default=None,
        description=(
            "Set (only for polls that declare `replay: true` with a version) when the poll hands "
            "out a replay task of a running replay check instead of a workflow task: replay "
            "`history` (read the rest by `next_page_token` up to `last_event_id`) with the "
            "version's code, send no commands, and answer with POST …/replay-tasks/{token}/"
            "complete. `task_token` is empty; no workflow task was started."
        ),
    )


class RespondQuery(Body):
    query_id: Annotated[str, Field(max_length=64), NameRule]
    answer: Any = None
    error: FailureBody | None = Field(
        default=None,
        description="The handler failed (or the query is unknown): the caller sees a 400 query-failed problem.",
    )
    identity: Identity = "unknown"
