"""Workflow executions: start, describe, list, history, result, signal, query, cancel, terminate."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, Literal

from fastapi import Depends, Header, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from app import sse
from app.api.deps import (
    Context,
    EngineDep,
    NamespaceCaller,
    NamespaceOperator,
    NamespaceReader,
    hold_stream,
    long_poll,
    standing_aside,
    while_connected,
)
from app.api.edge import EdgeRouter
from app.api.idempotency import IdempotencyKey, request_key
from app.api.problems import problem_responses
from app.api.responses import FastJSON
from app.api.schemas.common import Moment, PageSize, PageToken
from app.api.schemas.queries import QueryAnswer, QueryBody
from app.api.schemas.workflows import (
    CancelBody,
    History,
    SignalBody,
    SignalWithStart,
    StartedWorkflow,
    StartFields,
    StartWorkflow,
    TerminateBody,
    WorkflowCount,
    WorkflowDescription,
    WorkflowOutcome,
    WorkflowPage,
)
from app.definitions import decider as definition_runs
from app.definitions.progress import describe_definition
from app.engine import concurrency, cron, priority, reads, workflow_tasks
from app.engine.commands import workflow_retry_policy
from app.engine.events import RunStatus
from app.engine.idempotency import RequestKey
from app.engine.lifecycle import StartRequest
from app.engine.payloads import dump_payload
from app.engine.run_limits import HISTORY_PAGE_SIZE, MAX_COUNTER, MAX_HISTORY_WAIT, MAX_ID_LENGTH
from app.engine.search_attributes import validate as validate_search_attributes
from app.engine.task_answers import workflow_task_body
from app.engine.versioning.runs import VersioningStart, parse_override
from app.errors import InvalidArgument, QueryFailed
from app.ids import new_id
from app.pagination import decode_token, encode_token, token_int
from app.starts import DefinitionChoice, start_run
from app.visibility import listing
from app.visibility.syntax import MAX_QUERY_LENGTH

router = EdgeRouter(prefix="/api/v1/namespaces/{namespace}", tags=["workflows"])

WorkflowId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, description="Workflow id")]
START_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 422, 429)
# The task queue recorded for runs of stored definitions when the start names none.
DEFINITION_TASK_QUEUE = "perdure-definitions"


def cron_schedule(body: StartFields) -> str | None:
    """The start's cron schedule, checked; Temporal refuses it beside a start delay."""
    checked = cron.check(body.cron_schedule)
    if checked and body.start_delay:
        raise InvalidArgument(
            "cron_schedule and start_delay may not be used together", field="start_delay"
        )
    return checked


def start_request(
    caller: NamespaceCaller, workflow_id: str, body: StartFields, key: RequestKey | None
) -> StartRequest:
    return StartRequest(
        namespace_id=caller.namespace.id,
        workflow_id=workflow_id,
        workflow_type=body.workflow_type or "",
        task_queue=body.task_queue or definition_runs.DEFAULT_TASK_QUEUE,
        input_text=dump_payload(body.input, field="input"),
        execution_timeout=body.execution_timeout,
        run_timeout=body.run_timeout,
        task_timeout=body.task_timeout,
        id_reuse_policy=body.id_reuse_policy.value,
        id_conflict_policy=body.id_conflict_policy.value,
        memo_text=dump_payload(body.memo, field="memo"),
        search_attributes=validate_search_attributes(body.search_attributes),
        start_delay=body.start_delay,
        retry_policy_text=workflow_retry_policy(body.retry_policy, field="retry_policy"),
        cron_schedule=cron_schedule(body),
        request_id=key.key if key else None,
        request_key=key,
        identity=body.identity or caller.principal.key_name,
        priority=priority.parse(body.priority),
        concurrency_keys=concurrency.check_concurrency_keys(body.concurrency_keys),
        versioning=VersioningStart(
            override=parse_override(body.versioning_override.as_json())
            if body.versioning_override is not None
            else None
        ),
    )


async def _start(
    request: Request,
    caller: NamespaceCaller,
    workflow_id: str,
    body: StartWorkflow,
    key: RequestKey | None,
) -> FastJSON:
    req = start_request(caller, workflow_id, body, key)
    chosen = body.definition
    run, created, claim = await start_run(
        caller.engine,
        req,
        DefinitionChoice(chosen.name, chosen.version, chosen.alias) if chosen else None,
        eager_identity=body.identity if body.request_eager_execution else None,
    )
    answer: dict[str, Any] = {
        "workflow_id": run.workflow_id,
        "run_id": run.id,
        "started": created,
        "eager_workflow_task": None,
        "outcome": None,
    }
    if claim is not None:
        answer["eager_workflow_task"] = await workflow_task_body(caller.ctx.db, claim)
    if body.wait_for_result is not None:
        async with long_poll(request, caller):
            answer["outcome"] = await caller.engine.watcher.outcome(
                run.workflow_id, run.id, body.wait_for_result
            )
    return FastJSON(answer, status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@router.post(
    "/workflows",
    status_code=status.HTTP_201_CREATED,
    response_model=StartedWorkflow,
    summary="Start a workflow with a server-made id",
    responses=START_ERRORS,
)
async def start_workflow_new_id(
    body: StartWorkflow,
    request: Request,
    caller: NamespaceOperator,
    idempotency_key: IdempotencyKey = None,
) -> FastJSON:
    # The id is made here, so the request id is bound to the body alone.
    key = request_key(caller.ctx.settings, idempotency_key, body, "start", "")
    return await _start(request, caller, new_id(), body, key)


@router.post(
    "/workflows/{workflow_id}",
    status_code=status.HTTP_201_CREATED,
    response_model=StartedWorkflow,
    summary="Start a workflow",
    description="201 with the new run; 200 with an existing run for an idempotent retry or id_conflict_policy USE_EXISTING; 409 when the id is taken.",
    responses=START_ERRORS,
)
async def start_workflow(
    workflow_id: WorkflowId,
    body: StartWorkflow,
    request: Request,
    caller: NamespaceOperator,
    idempotency_key: IdempotencyKey = None,
) -> FastJSON:
    key = request_key(caller.ctx.settings, idempotency_key, body, "start", workflow_id)
    return await _start(request, caller, workflow_id, body, key)


async def run_filter(
    status_: Annotated[RunStatus | None, Query(alias="status")] = None,
    workflow_type: Annotated[str | None, Query(max_length=MAX_ID_LENGTH)] = None,
    workflow_id_prefix: Annotated[str | None, Query(max_length=MAX_ID_LENGTH)] = None,
    started_after: Moment | None = None,
    started_before: Moment | None = None,
    closed_after: Moment | None = None,
    closed_before: Moment | None = None,
    search_attribute: Annotated[
        list[str], Query(description="Name=value (value as JSON, or a plain string); repeatable")
    ] = [],  # noqa: B006
) -> reads.RunFilter:
    """The list and count filters, from query parameters."""
    return listing.run_filter(
        status=status_,
        workflow_type=workflow_type,
        workflow_id_prefix=workflow_id_prefix,
        started_after=started_after,
        started_before=started_before,
        closed_after=closed_after,
        closed_before=closed_before,
        search_attributes=search_attribute,
    )


Filter = Annotated[reads.RunFilter, Depends(run_filter)]
ListFilter = Annotated[
    str | None,
    Query(
        alias="query",
        max_length=MAX_QUERY_LENGTH,
        description=(
            "Temporal's list filter, e.g. `WorkflowType = 'Payment' AND ExecutionStatus = "
            "'Failed' ORDER BY CloseTime DESC`; ANDed with the other parameters. See the README."
        ),
    ),
]


@router.get(
    "/workflows",
    response_model=WorkflowPage,
    summary="List workflow runs, newest first (or in the filter's ORDER BY)",
    responses=problem_responses(400, 401, 403, 404, 422, 504),
)
async def list_workflows(
    caller: NamespaceReader,
    flt: Filter,
    query: ListFilter = None,
    page_size: PageSize = 100,
    next_page_token: PageToken = None,
    order_by: Annotated[
        Literal["start_time_desc", "start_time_asc", "close_time_desc", "close_time_asc"],
        Query(description="Sort order; close-time orders list closed runs only."),
    ] = "start_time_desc",
) -> FastJSON:
    """400 for a query the language or the attributes' types refuse (with its `position`);
    422 for a filter no index narrows on a large namespace; 504 past the time budget.
    `order_by` is the ORDER BY of the list filter, as a parameter (a query with its own
    ORDER BY and another `order_by` is refused)."""
    items, token = await listing.list_runs(
        caller.ctx.db,
        caller.ctx.settings,
        caller.namespace.id,
        flt,
        listing.in_order(query, order_by),
        now=caller.ctx.clock.now(),
        page_size=page_size,
        page_token=next_page_token,
    )
    return FastJSON({"workflows": items, "next_page_token": token})


@router.get(
    "/workflow-count",
    response_model=WorkflowCount,
    summary="Count workflow runs (optionally grouped by ExecutionStatus)",
    responses=problem_responses(400, 401, 403, 404, 422, 504),
)
async def count_workflows(
    caller: NamespaceReader,
    flt: Filter,
    query: ListFilter = None,
) -> FastJSON:
    """Temporal's CountWorkflowExecutions: `count`, and `groups` for `GROUP BY ExecutionStatus`."""
    count, groups = await listing.count_runs(
        caller.ctx.db,
        caller.ctx.settings,
        caller.namespace.id,
        flt,
        query,
        now=caller.ctx.clock.now(),
    )
    return FastJSON({"count": count, "groups": groups})


@router.get(
    "/workflows/{workflow_id}",
    response_model=WorkflowDescription,
    summary="Describe the latest run of a workflow",
    responses=problem_responses(401, 403, 404),
)
async def describe_workflow(workflow_id: WorkflowId, caller: NamespaceReader) -> FastJSON:
    await caller.engine.pollers.flush()  # waiting_on reads the pollers this process saw
    async with caller.ctx.db.read() as conn:
        described = await reads.describe(
            conn, caller.namespace.id, workflow_id, None, caller.ctx.clock.now()
        )
        return FastJSON(await describe_definition(conn, described))


@router.get(
    "/workflows/{workflow_id}/runs/{run_id}",
    response_model=WorkflowDescription,
    summary="Describe one run of a workflow",
    responses=problem_responses(401, 403, 404),
)
async def describe_run(
    workflow_id: WorkflowId,
    run_id: Annotated[str, Path(max_length=64)],
    caller: NamespaceReader,
) -> FastJSON:
    await caller.engine.pollers.flush()  # waiting_on reads the pollers this process saw
    async with caller.ctx.db.read() as conn:
        described = await reads.describe(
            conn, caller.namespace.id, workflow_id, run_id, caller.ctx.clock.now()
        )
        return FastJSON(await describe_definition(conn, described))


@router.get(
    "/workflows/{workflow_id}/history",
    response_model=History,
    summary="Read a run's history (optionally waiting for new events)",
    responses=problem_responses(400, 401, 403, 404, 429),
)
async def get_history(
    workflow_id: WorkflowId,
    request: Request,
    caller: NamespaceReader,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
    page_size: Annotated[int, Query(ge=1, le=HISTORY_PAGE_SIZE)] = HISTORY_PAGE_SIZE,
    next_page_token: PageToken = None,
    wait_new_event: bool = False,
    wait: Annotated[float, Query(ge=0, le=MAX_HISTORY_WAIT)] = MAX_HISTORY_WAIT,
    event_filter: Literal["all", "close"] = "all",
) -> FastJSON:
    async with caller.ctx.db.read() as conn:
        row = await reads.find_run_row(conn, caller.namespace.id, workflow_id, run_id)
    target = row["id"]
    waits = wait_new_event and wait > 0

    def history() -> Awaitable[FastJSON]:
        return _history(
            caller.ctx,
            caller.engine,
            target,
            event_filter,
            page_size,
            next_page_token,
            wait_new_event,
            wait,
        )

    if not waits:
        return await history()
    async with long_poll(request, caller, held_wait=True):
        return await while_connected(request, history())


async def _history(
    ctx: Context,
    engine: EngineDep,
    target: str,
    event_filter: str,
    page_size: int,
    next_page_token: str | None,
    wait_new_event: bool,
    wait: float,
) -> FastJSON:
    if event_filter == "close":

        async def closed(conn):
            events = await reads.close_event(conn, target)
            return events or None

        events = (
            await engine.watcher.wait(
                target, closed, wait if wait_new_event else 0, until_closed=True
            )
            or []
        )
        return FastJSON({"run_id": target, "events": events, "next_page_token": None})

    # A workflow task's token may also name its speculative task (its scheduled event id and
    # nonce), whose unwritten events end the last page (workflow_tasks.speculative_tail).
    position = decode_token(next_page_token, length=(1, 3))
    after = token_int(position[0]) if position else 0
    task = [token_int(item) for item in position[1:]] if position else []

    open_before: list[bool] = [True]

    async def page(conn):
        if wait_new_event:
            # The status is read before the events: a run closed by then has its closing event
            # in this page. Read after them, a close committed in between ended the wait with
            # that event never sent.
            open_before[0] = (await reads.run_row(conn, target))["status"] == RunStatus.RUNNING
        events = await reads.history_page(
            conn, target, after_event_id=after, up_to_event_id=None, page_size=page_size
        )
        return events or (None if open_before[0] else [])  # closed: nothing more to wait for

    events = await engine.watcher.wait(target, page, wait if wait_new_event else 0) or []
    last = events[-1]["event_id"] if events else after
    token = None
    if len(events) == page_size or (wait_new_event and open_before[0]):
        token = encode_token([last, *task])
    elif task:
        scheduled_event_id, nonce = task  # decode_token gave 3 items: [after, scheduled, nonce]
        async with ctx.db.read() as conn:
            events += await workflow_tasks.speculative_tail(
                conn, target, scheduled_event_id, nonce, last
            )
    return FastJSON({"run_id": target, "events": events, "next_page_token": token})


@router.get(
    "/workflows/{workflow_id}/events/stream",
    response_class=StreamingResponse,
    summary="Follow a run's new events as server-sent events",
    description=(
        "A `text/event-stream` of the run's history: each event as `id: <event_id>`, "
        '`event: history`, `data: <event JSON>`; a `closed` event (`data: {"status": …}`) '
        "ends the stream once the run has closed. Resume after a break with the "
        "`Last-Event-ID` header (EventSource sends it by itself) or `after_event_id`. "
        "204 when the run is closed and nothing is left to send (EventSource then stops)."
    ),
    responses={
        200: {
            "description": "The stream of events",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        204: {"description": "The run is closed and every event was already sent"},
        **problem_responses(400, 401, 403, 404, 429),
    },
)
async def stream_events(
    workflow_id: WorkflowId,
    request: Request,
    caller: NamespaceReader,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
    after_event_id: Annotated[int | None, Query(ge=0, le=MAX_COUNTER)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> Response:
    after = sse.parse_last_event_id(last_event_id, after_event_id)
    async with caller.ctx.db.read() as conn:
        row = await reads.find_run_row(conn, caller.namespace.id, workflow_id, run_id)
    if sse.caught_up(row, after):
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    # A stream is a held wait: it holds one of the namespace's slots until it ends (429 now,
    # before anything is streamed, when none is free).
    release = hold_stream(request, caller)

    async def on_close() -> None:
        release()

    return sse.EventStreamResponse(
        sse.history_stream(caller.engine.watcher, row["id"], after),
        stall_seconds=caller.ctx.settings.stream_stall_seconds,
        on_close=on_close,
    )


@router.get(
    "/workflows/{workflow_id}/result",
    response_model=WorkflowOutcome,
    summary="Wait for a workflow's outcome (following continue-as-new)",
    description="Answers when the run closes or `wait` seconds pass; status RUNNING means it has not closed yet.",
    responses=problem_responses(400, 401, 403, 404, 429),
)
async def get_result(
    workflow_id: WorkflowId,
    request: Request,
    caller: NamespaceReader,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
    wait: Annotated[float, Query(ge=0, le=MAX_HISTORY_WAIT)] = MAX_HISTORY_WAIT,
) -> FastJSON:
    async with caller.ctx.db.read() as conn:
        row = await reads.find_run_row(conn, caller.namespace.id, workflow_id, run_id)

    def outcome() -> Awaitable[dict[str, Any]]:
        return caller.engine.watcher.outcome(row["workflow_id"], row["id"], wait, known=row)

    if wait <= 0:
        return FastJSON(await outcome())
    async with long_poll(request, caller, held_wait=True):
        return FastJSON(await while_connected(request, outcome()))


@router.post(
    "/workflows/{workflow_id}/signal/{signal_name}",
    response_model=None,
    status_code=202,
    summary="Signal a running workflow",
    description="A retry with the same request id (`Idempotency-Key` or `request_id`) records "
    "nothing more and gets the same answer.",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
)
async def signal_workflow(
    workflow_id: WorkflowId,
    signal_name: Annotated[str, Path(max_length=MAX_ID_LENGTH)],
    body: SignalBody,
    caller: NamespaceOperator,
    idempotency_key: IdempotencyKey = None,
) -> FastJSON:
    run = await caller.engine.signal(
        caller.namespace.id,
        workflow_id,
        body.run_id,
        signal_name,
        dump_payload(body.input, field="input"),
        body.identity or caller.principal.key_name,
        request_key(caller.ctx.settings, idempotency_key, body, "signal", workflow_id, signal_name),
    )
    return FastJSON({"workflow_id": run.workflow_id, "run_id": run.id}, status_code=202)


@router.post(
    "/workflows/{workflow_id}/signal-with-start/{signal_name}",
    response_model=StartedWorkflow,
    status_code=201,
    summary="Signal a workflow, starting it first if it is not running",
    responses=START_ERRORS,
)
async def signal_with_start(
    workflow_id: WorkflowId,
    signal_name: Annotated[str, Path(max_length=MAX_ID_LENGTH)],
    body: SignalWithStart,
    caller: NamespaceOperator,
    idempotency_key: IdempotencyKey = None,
) -> FastJSON:
    key = request_key(
        caller.ctx.settings, idempotency_key, body, "signal-with-start", workflow_id, signal_name
    )
    req = start_request(caller, workflow_id, body, key)
    run, created = await caller.engine.signal_with_start(
        req, signal_name, dump_payload(body.signal_input, field="signal_input")
    )
    return FastJSON(
        {
            "workflow_id": run.workflow_id,
            "run_id": run.id,
            "started": created,
            "eager_workflow_task": None,
        },
        status_code=201 if created else 200,
    )


@router.post(
    "/workflows/{workflow_id}/cancel",
    status_code=202,
    summary="Ask a workflow to cancel (the workflow decides how)",
    description="A retry with the same request id (`Idempotency-Key` or `request_id`) gets the "
    "same answer, also after the run has closed.",
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def cancel_workflow(
    workflow_id: WorkflowId,
    body: CancelBody,
    caller: NamespaceOperator,
    idempotency_key: IdempotencyKey = None,
) -> FastJSON:
    run = await caller.engine.request_cancel(
        caller.namespace.id,
        workflow_id,
        body.run_id,
        body.reason,
        body.identity or caller.principal.key_name,
        request_key(caller.ctx.settings, idempotency_key, body, "cancel", workflow_id),
    )
    return FastJSON({"workflow_id": run.workflow_id, "run_id": run.id}, status_code=202)


@router.post(
    "/workflows/{workflow_id}/terminate",
    summary="Terminate a workflow at once",
    description="A retry with the same request id (`Idempotency-Key` or `request_id`) gets the "
    "same answer instead of 409 for the run it closed.",
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def terminate_workflow(
    workflow_id: WorkflowId,
    body: TerminateBody,
    caller: NamespaceOperator,
    idempotency_key: IdempotencyKey = None,
) -> FastJSON:
    run = await caller.engine.terminate(
        caller.namespace.id,
        workflow_id,
        body.run_id,
        body.reason,
        body.details,
        body.identity or caller.principal.key_name,
        request_key(caller.ctx.settings, idempotency_key, body, "terminate", workflow_id),
    )
    return FastJSON({"workflow_id": run.workflow_id, "run_id": run.id})


@router.post(
    "/workflows/{workflow_id}/query/{query_name}",
    response_model=QueryAnswer,
    summary="Query a workflow (a worker of its task queue answers from its state)",
    description=(
        "Waits up to `timeout` seconds (at most 30) for a worker polling the run's task queue; "
        "504 when none answers. Closed runs are answered too, from their final state. "
        "A failing or unknown query handler answers 400 `query-failed`."
    ),
    responses=problem_responses(400, 401, 403, 404, 413, 504),
)
async def query_workflow(
    workflow_id: WorkflowId,
    query_name: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)],
    body: QueryBody,
    request: Request,
    caller: NamespaceReader,
) -> FastJSON:
    async with standing_aside(request):
        answered = await caller.engine.query_workflow(
            caller.namespace.id,
            workflow_id,
            body.run_id,
            query_name,
            dump_payload(body.args, field="args"),
            body.timeout,
        )
    error = answered.get("error")
    if error is not None:
        raise QueryFailed(
            f"query '{query_name}' failed: {error.get('message') or error}",
            query_id=answered["query_id"],
            failure=error,
        )
    return FastJSON({"query_id": answered["query_id"], "answer": answered["answer"]})
