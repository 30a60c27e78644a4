"""Flow-control routes: Temporal's UpdateTaskQueueConfig and the configuration it leaves (rate
limits, fairness weight overrides), and per-key concurrency limits."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response

from app.api.deps import Context, EngineDep, NamespaceOperator, NamespaceReader
from app.api.edge import EdgeRouter
from app.api.problems import problem_responses
from app.api.responses import FastJSON
from app.api.schemas.flow_control import (
    LIMIT_NAME_MAX,
    LIMIT_NAME_PATTERN,
    ConcurrencyLimit,
    ConcurrencyLimitBody,
    ConcurrencyLimitList,
    TaskQueueConfig,
    TaskQueueType,
    UpdatedTaskQueueConfig,
    UpdateTaskQueueConfig,
)
from app.engine import concurrency_admin
from app.engine.limits import MAX_ID_LENGTH
from app.engine.matching import queue_config
from app.engine.transition import Transition

router = EdgeRouter(prefix="/api/v1/namespaces/{namespace}", tags=["flow control"])

TaskQueue = Annotated[
    str, Path(min_length=1, max_length=MAX_ID_LENGTH, description="Task queue name")
]


@router.post(
    "/task-queues/{task_queue}/update-config",
    response_model=UpdatedTaskQueueConfig,
    summary="Set a task queue's rate limits and fairness weight overrides",
    description="Temporal's UpdateTaskQueueConfig. A limit of 0 requests/s is valid and stops "
    "dispatch; an update without `rate_limit` removes that limit. A weight outside "
    "[0.001, 1000], a negative rate, a key both set and unset, or more than 1,000 overrides "
    "is a 400 problem naming the field.",
    responses=problem_responses(400, 401, 403, 404),
)
async def update_task_queue_config(
    task_queue: TaskQueue,
    body: UpdateTaskQueueConfig,
    engine: EngineDep,
    caller: NamespaceOperator,
) -> UpdatedTaskQueueConfig:
    kind = queue_config.queue_kind(body.task_queue_type.value)

    def _dumped(update: object) -> dict[str, object] | None:
        return None if update is None else update.model_dump()  # type: ignore[attr-defined]  # a pydantic model, typed loosely to take each kind

    async def change(tx: Transition) -> queue_config.QueueConfig:
        return await queue_config.update(
            tx,
            caller.namespace.id,
            task_queue,
            kind,
            identity=body.identity or caller.principal.key_name,
            queue_rate_limit=_dumped(body.update_queue_rate_limit),
            key_rate_limit_default=_dumped(body.update_fairness_key_rate_limit_default),
            set_weights=body.set_fairness_weight_overrides,
            unset_weights=body.unset_fairness_weight_overrides,
        )

    config = await engine.transact(change)
    return UpdatedTaskQueueConfig(
        config=TaskQueueConfig.model_validate(queue_config.describe(config))
    )


@router.get(
    "/task-queues/{task_queue}/config",
    response_model=TaskQueueConfig,
    summary="A task queue's rate limits and fairness weight overrides",
    responses=problem_responses(400, 401, 403, 404),
)
async def get_task_queue_config(
    task_queue: TaskQueue,
    ctx: Context,
    caller: NamespaceReader,
    task_queue_type: Annotated[TaskQueueType, Query()] = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
) -> TaskQueueConfig:
    kind = queue_config.queue_kind(task_queue_type.value)
    async with ctx.db.read() as conn:
        config = await queue_config.read(conn, caller.namespace.id, kind, task_queue)
    return TaskQueueConfig.model_validate(queue_config.describe(config))


LimitName = Annotated[
    str,
    Path(
        min_length=1,
        max_length=LIMIT_NAME_MAX,
        pattern=LIMIT_NAME_PATTERN,
        description="The limit's name",
    ),
]


@router.put(
    "/concurrency-limits/{name}",
    response_model=ConcurrencyLimit,
    summary="Create or change a per-key concurrency limit",
    description="201 when created, 200 when changed. A key the limit cannot count by is a 400; "
    "changing `applies_to` or `key` of an existing limit is a 409 (delete it and create it "
    "again); 422 past 100 limits in a namespace.",
    responses=problem_responses(400, 401, 403, 404, 409, 422),
    status_code=200,
)
async def put_concurrency_limit(
    name: LimitName,
    body: ConcurrencyLimitBody,
    engine: EngineDep,
    caller: NamespaceOperator,
) -> FastJSON:
    spec = body.model_dump(mode="json")
    created, limit = await engine.transact(
        lambda tx: concurrency_admin.put(tx, caller.namespace.id, name, spec)
    )
    return FastJSON(limit, status_code=201 if created else 200)


@router.get(
    "/concurrency-limits",
    response_model=ConcurrencyLimitList,
    summary="The namespace's concurrency limits",
    responses=problem_responses(401, 403, 404),
)
async def list_concurrency_limits(ctx: Context, caller: NamespaceReader) -> FastJSON:
    async with ctx.db.read() as conn:
        return FastJSON({"limits": await concurrency_admin.list_all(conn, caller.namespace.id)})


@router.get(
    "/concurrency-limits/{name}",
    response_model=ConcurrencyLimit,
    summary="A concurrency limit, with its running and waiting counts",
    responses=problem_responses(401, 403, 404),
)
async def get_concurrency_limit(name: LimitName, ctx: Context, caller: NamespaceReader) -> FastJSON:
    async with ctx.db.read() as conn:
        return FastJSON(await concurrency_admin.get(conn, caller.namespace.id, name))


@router.delete(
    "/concurrency-limits/{name}",
    status_code=204,
    summary="Remove a concurrency limit; what waited for it goes on at once",
    responses=problem_responses(401, 403, 404),
)
async def delete_concurrency_limit(
    name: LimitName, engine: EngineDep, caller: NamespaceOperator
) -> Response:
    await engine.transact(lambda tx: concurrency_admin.delete(tx, caller.namespace.id, name))
    return Response(status_code=204)
