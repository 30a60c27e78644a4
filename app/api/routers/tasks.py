"""Worker routes: poll task queues, complete or fail workflow tasks, drive activity tasks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request, Response, status

from app.api.deps import NamespaceReader, NamespaceWorker, long_poll
from app.api.edge import EdgeRouter
from app.api.problems import problem_responses
from app.api.responses import FastJSON
from app.api.schemas.queries import RespondQuery, WorkflowTaskOrQuery
from app.api.schemas.replay_checks import WorkflowPollBody
from app.api.schemas.worker_versioning import DeploymentOptions
from app.api.schemas.workflows import (
    Accepted,
    ActivitiesCompleted,
    ActivityCompleted,
    ActivityPollBatch,
    ActivityTask,
    ActivityTaskBatch,
    CanceledActivity,
    CanceledActivityById,
    CompleteActivities,
    CompleteActivity,
    CompleteActivityById,
    CompleteWorkflowTask,
    FailActivity,
    FailActivityById,
    FailWorkflowTask,
    Heartbeat,
    HeartbeatAnswer,
    HeartbeatById,
    PollBody,
    TaskQueueDescription,
    WorkflowTaskCompleted,
)
from app.engine import queries, reads
from app.engine.run_limits import MAX_ID_LENGTH
from app.engine.task_answers import workflow_task_body
from app.engine.versioning import replay_tasks
from app.engine.versioning.polls import poller_version

router = EdgeRouter(prefix="/api/v1/namespaces/{namespace}", tags=["workers"])

TaskQueue = Annotated[
    str, Path(min_length=1, max_length=MAX_ID_LENGTH, description="Task queue name")
]
WorkflowId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)]
ActivityId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)]


def _poller(options: DeploymentOptions | None) -> tuple[str, str] | None:
    """The poller's version (deployment name, build id); None when unversioned."""
    return poller_version(options.model_dump() if options is not None else None)


NO_TASK: dict[int | str, dict[str, Any]] = {
    204: {"description": "No task arrived within `wait` seconds"}
}
TOKEN_ERRORS = problem_responses(400, 401, 403, 404, 409, 413)


@router.post(
    "/task-queues/{task_queue}/workflow-tasks/poll",
    response_model=WorkflowTaskOrQuery,
    summary="Long-poll a task queue for a workflow task (or a query to answer)",
    responses={**NO_TASK, **problem_responses(400, 401, 403, 404, 429)},
)
async def poll_workflow_task(
    task_queue: TaskQueue,
    body: WorkflowPollBody,
    request: Request,
    caller: NamespaceWorker,
) -> Response:
    async with long_poll(request, caller):
        poller = _poller(body.deployment_options)
        if body.replay and poller is not None:
            replay, claim = await replay_tasks.poll(
                caller.engine,
                caller.namespace.id,
                task_queue,
                body.identity,
                body.wait,
                poller,
                request.is_disconnected,
            )
            if replay is not None:
                return FastJSON(await replay_tasks.task_body(caller.ctx.db, replay, task_queue))
        else:
            claim = await caller.engine.poll_workflow_task(
                caller.namespace.id,
                task_queue,
                body.identity,
                body.wait,
                request.is_disconnected,
                poller=poller,
            )
    if claim is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    if isinstance(claim, queries.QueryClaim):
        return FastJSON(await queries.query_task_body(caller.ctx.db, claim))
    return FastJSON(await workflow_task_body(caller.ctx.db, claim, partial=body.partial_history))


@router.post(
    "/workflow-tasks/respond-query",
    response_model=Accepted,
    summary="Answer a query received from a workflow-task poll",
    responses=problem_responses(400, 401, 403, 404, 413),
)
async def respond_query(body: RespondQuery, caller: NamespaceWorker) -> Accepted:
    error = body.error.model_dump() if body.error is not None else None
    await caller.engine.respond_query(caller.namespace.id, body.query_id, body.answer, error)
    return Accepted()


@router.post(
    "/workflow-tasks/complete",
    response_model=WorkflowTaskCompleted,
    summary="Complete a workflow task with commands",
    responses=TOKEN_ERRORS,
)
async def complete_workflow_task(body: CompleteWorkflowTask, caller: NamespaceWorker) -> FastJSON:
    answer = await caller.engine.complete_workflow_task(
        caller.namespace.id,
        body.task_token,
        [c.model_dump() for c in body.commands],
        body.identity,
        return_new_task=body.return_new_workflow_task,
        messages=body.messages,
        force_new_task=body.force_create_new_workflow_task,
        worker=_poller(body.deployment_options),
        versioning_behavior=body.versioning_behavior,
    )
    claim = answer["workflow_task"]
    return FastJSON(
        {
            "workflow_task": (
                await workflow_task_body(caller.ctx.db, claim, partial=body.partial_history)
                if claim
                else None
            ),
            "activity_tasks": answer["activity_tasks"],
        }
    )


@router.post(
    "/workflow-tasks/fail",
    response_model=Accepted,
    summary="Fail a workflow task (it is retried)",
    responses=TOKEN_ERRORS,
)
async def fail_workflow_task(body: FailWorkflowTask, caller: NamespaceWorker) -> Accepted:
    await caller.engine.fail_workflow_task(
        caller.namespace.id, body.task_token, body.failure.model_dump(), body.cause, body.identity
    )
    return Accepted()


@router.post(
    "/task-queues/{task_queue}/activity-tasks/poll",
    response_model=ActivityTask,
    summary="Long-poll a task queue for an activity task",
    responses={**NO_TASK, **problem_responses(400, 401, 403, 404, 429)},
)
async def poll_activity_task(
    task_queue: TaskQueue,
    body: PollBody,
    request: Request,
    caller: NamespaceWorker,
) -> Response:
    async with long_poll(request, caller):
        claim = await caller.engine.poll_activity_task(
            caller.namespace.id,
            task_queue,
            body.identity,
            body.wait,
            request.is_disconnected,
            poller=_poller(body.deployment_options),
        )
    if claim is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return FastJSON(claim.body)


@router.post(
    "/task-queues/{task_queue}/activity-tasks/poll-batch",
    response_model=ActivityTaskBatch,
    summary="Long-poll a task queue for up to max_tasks activity tasks",
    description="Waits up to `wait` seconds for the first task, then answers with every task "
    "ready at that moment, up to `max_tasks` (an empty list when none came). Each task is started "
    "for the caller exactly as a single poll would start it.",
    responses=problem_responses(400, 401, 403, 404, 429),
)
async def poll_activity_tasks(
    task_queue: TaskQueue,
    body: ActivityPollBatch,
    request: Request,
    caller: NamespaceWorker,
) -> FastJSON:
    async with long_poll(request, caller):
        claims = await caller.engine.poll_activity_tasks(
            caller.namespace.id,
            task_queue,
            body.identity,
            body.wait,
            body.max_tasks,
            request.is_disconnected,
            poller=_poller(body.deployment_options),
        )
    return FastJSON({"tasks": [claim.body for claim in claims]})


@router.post(
    "/activity-tasks/complete-batch",
    response_model=ActivitiesCompleted,
    summary="Complete several activity tasks at once",
    description="One answer per completion, in order: `ok`, or the problem that refused it "
    "(nothing of a refused completion is recorded; the others are).",
    responses=problem_responses(400, 401, 403, 404, 413),
)
async def complete_activities(
    body: CompleteActivities, request: Request, caller: NamespaceWorker
) -> FastJSON:
    refusals = await caller.engine.complete_activities(
        caller.namespace.id,
        [(item.task_token, item.result) for item in body.completions],
        body.identity,
    )
    return FastJSON(
        {
            "results": [
                {"ok": True, "problem": None}
                if refusal is None
                else {"ok": False, "problem": refusal.to_problem(instance=request.url.path)}
                for refusal in refusals
            ]
        }
    )


@router.post(
    "/activity-tasks/heartbeat",
    response_model=HeartbeatAnswer,
    summary="Record an activity heartbeat; learn whether cancellation was requested",
    responses=TOKEN_ERRORS,
)
async def heartbeat(body: Heartbeat, caller: NamespaceWorker) -> FastJSON:
    return _heartbeat_answer(
        await caller.engine.heartbeat_activity(
            caller.namespace.id, body.details, token=body.task_token
        )
    )


def _heartbeat_answer(flags: dict[str, bool]) -> FastJSON:
    """`cancel_requested` always; the activity controls' flags only when set, so a worker that
    knows none of them reads the answer it always did."""
    return FastJSON({k: v for k, v in flags.items() if k == "cancel_requested" or v})


@router.post(
    "/activity-tasks/complete",
    response_model=ActivityCompleted,
    summary="Complete an activity task",
    responses=TOKEN_ERRORS,
)
async def complete_activity(body: CompleteActivity, caller: NamespaceWorker) -> FastJSON:
    claim = await caller.engine.complete_activity(
        caller.namespace.id,
        body.result,
        body.identity,
        token=body.task_token,
        return_new_workflow_task=body.return_new_workflow_task,
    )
    workflow_task = (
        await workflow_task_body(caller.ctx.db, claim, partial=body.partial_history)
        if claim
        else None
    )
    return FastJSON({"ok": True, "workflow_task": workflow_task})


@router.post(
    "/activity-tasks/fail",
    response_model=Accepted,
    summary="Fail an activity task attempt (retried per its policy)",
    responses=TOKEN_ERRORS,
)
async def fail_activity(body: FailActivity, caller: NamespaceWorker) -> Accepted:
    await caller.engine.fail_activity(
        caller.namespace.id,
        body.failure.model_dump(),
        body.identity,
        last_heartbeat_details=body.last_heartbeat_details,
        token=body.task_token,
    )
    return Accepted()


@router.post(
    "/activity-tasks/canceled",
    response_model=Accepted,
    summary="Report an activity task canceled (after a cancel request)",
    responses=TOKEN_ERRORS,
)
async def canceled_activity(body: CanceledActivity, caller: NamespaceWorker) -> Accepted:
    await caller.engine.cancel_activity(
        caller.namespace.id, body.details, body.identity, token=body.task_token
    )
    return Accepted()


@router.post(
    "/workflows/{workflow_id}/activities/{activity_id}/heartbeat",
    response_model=HeartbeatAnswer,
    summary="Heartbeat an activity by workflow and activity id",
    responses=TOKEN_ERRORS,
)
async def heartbeat_by_id(
    workflow_id: WorkflowId,
    activity_id: ActivityId,
    body: HeartbeatById,
    caller: NamespaceWorker,
) -> FastJSON:
    return _heartbeat_answer(
        await caller.engine.heartbeat_activity(
            caller.namespace.id, body.details, by_id=(workflow_id, body.run_id, activity_id)
        )
    )


@router.post(
    "/workflows/{workflow_id}/activities/{activity_id}/complete",
    response_model=Accepted,
    summary="Complete an activity by workflow and activity id",
    responses=TOKEN_ERRORS,
)
async def complete_by_id(
    workflow_id: WorkflowId,
    activity_id: ActivityId,
    body: CompleteActivityById,
    caller: NamespaceWorker,
) -> Accepted:
    await caller.engine.complete_activity(
        caller.namespace.id,
        body.result,
        body.identity,
        by_id=(workflow_id, body.run_id, activity_id),
    )
    return Accepted()


@router.post(
    "/workflows/{workflow_id}/activities/{activity_id}/fail",
    response_model=Accepted,
    summary="Fail an activity by workflow and activity id",
    responses=TOKEN_ERRORS,
)
async def fail_by_id(
    workflow_id: WorkflowId,
    activity_id: ActivityId,
    body: FailActivityById,
    caller: NamespaceWorker,
) -> Accepted:
    await caller.engine.fail_activity(
        caller.namespace.id,
        body.failure.model_dump(),
        body.identity,
        last_heartbeat_details=body.last_heartbeat_details,
        by_id=(workflow_id, body.run_id, activity_id),
    )
    return Accepted()


@router.post(
    "/workflows/{workflow_id}/activities/{activity_id}/canceled",
    response_model=Accepted,
    summary="Report an activity canceled by workflow and activity id",
    responses=TOKEN_ERRORS,
)
async def canceled_by_id(
    workflow_id: WorkflowId,
    activity_id: ActivityId,
    body: CanceledActivityById,
    caller: NamespaceWorker,
) -> Accepted:
    await caller.engine.cancel_activity(
        caller.namespace.id,
        body.details,
        body.identity,
        by_id=(workflow_id, body.run_id, activity_id),
    )
    return Accepted()


@router.get(
    "/task-queues/{task_queue}",
    response_model=TaskQueueDescription,
    summary="Recent pollers and backlog of a task queue",
    responses=problem_responses(401, 403, 404),
)
async def describe_task_queue(task_queue: TaskQueue, caller: NamespaceReader) -> FastJSON:
    """Temporal's DescribeTaskQueue: backlog count and oldest task age per kind, and the
    latest pollers with whether each is present (see `reads.describe_task_queue`)."""
    await caller.engine.pollers.flush()  # this process's latest polls count
    async with caller.ctx.db.read() as conn:
        return FastJSON(
            await reads.describe_task_queue(
                conn, caller.namespace.id, task_queue, caller.ctx.clock.now()
            )
        )
