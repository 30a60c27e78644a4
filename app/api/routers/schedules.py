"""Schedules (Temporal's): create, describe, list, update, pause, unpause, trigger, backfill,
delete, matching times. Changing a schedule needs `operate`; seeing one needs `read`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path, Query, Response, status

from app.api.deps import Context, NamespaceOperator, NamespaceReader
from app.api.edge import EdgeRouter
from app.api.problems import problem_responses
from app.api.responses import FastJSON
from app.api.schemas.common import DEFAULT_PAGE, PageSize, PageToken
from app.api.schemas.schedules import (
    BackfillBody,
    BackfillOutcome,
    CreateSchedule,
    MatchingTimes,
    NoteBody,
    ScheduleDescription,
    SchedulePage,
    TriggerBody,
    TriggerOutcome,
    UpdateSchedule,
)
from app.engine.bounds import check_time
from app.engine.run_limits import MAX_ID_LENGTH
from app.errors import InvalidArgument
from app.schedules import service

router = EdgeRouter(prefix="/api/v1/namespaces/{namespace}/schedules", tags=["schedules"])

ScheduleId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, description="Schedule id")]
WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 413)


async def _described(ctx: Context, namespace_id: str, schedule_id: str) -> FastJSON:
    async with ctx.db.read() as conn:
        return FastJSON(await service.describe(conn, namespace_id, schedule_id))


@router.get(
    "",
    response_model=SchedulePage,
    summary="List the namespace's schedules by id",
    responses=problem_responses(400, 401, 403, 404),
)
async def list_schedules(
    caller: NamespaceReader,
    page_size: PageSize = DEFAULT_PAGE,
    next_page_token: PageToken = None,
) -> FastJSON:
    async with caller.ctx.db.read() as conn:
        items, token = await service.list_schedules(
            conn, caller.namespace.id, page_size=page_size, page_token=next_page_token
        )
    return FastJSON({"schedules": items, "next_page_token": token})


@router.post(
    "/{schedule_id}",
    status_code=status.HTTP_201_CREATED,
    response_model=ScheduleDescription,
    summary="Create a schedule",
    description="A bad spec, action or time zone is a 400 problem whose `field` names it; "
    "409 when the id is taken; 422 past the namespace's `settings.max_schedules` "
    f"(default {service.DEFAULT_MAX_SCHEDULES}).",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
)
async def create_schedule(
    schedule_id: ScheduleId,
    body: CreateSchedule,
    caller: NamespaceOperator,
) -> FastJSON:
    await service.create(
        caller.engine,
        caller.namespace.id,
        schedule_id,
        body.schedule.model_dump(),
        trigger_immediately=body.trigger_immediately,
        backfill=[b.model_dump() for b in body.backfill],
        memo=body.memo,
        search_attributes=body.search_attributes,
    )
    described = await _described(caller.ctx, caller.namespace.id, schedule_id)
    described.status_code = status.HTTP_201_CREATED
    return described


@router.get(
    "/{schedule_id}",
    response_model=ScheduleDescription,
    summary="Describe a schedule: its spec, action, policy, state and info",
    responses=problem_responses(401, 403, 404),
)
async def describe_schedule(schedule_id: ScheduleId, caller: NamespaceReader) -> FastJSON:
    return await _described(caller.ctx, caller.namespace.id, schedule_id)


@router.post(
    "/{schedule_id}/update",
    response_model=ScheduleDescription,
    summary="Replace a schedule's spec, action, policy and state",
    description="Times before now are not taken under the new spec. With `conflict_token` "
    "(from describe) a change made since is refused with 409.",
    responses=WRITE_ERRORS,
)
async def update_schedule(
    schedule_id: ScheduleId,
    body: UpdateSchedule,
    caller: NamespaceOperator,
) -> FastJSON:
    await service.update(
        caller.engine,
        caller.namespace.id,
        schedule_id,
        body.schedule.model_dump(),
        conflict_token=body.conflict_token,
        search_attributes=body.search_attributes,
    )
    return await _described(caller.ctx, caller.namespace.id, schedule_id)


@router.post(
    "/{schedule_id}/pause",
    response_model=ScheduleDescription,
    summary="Pause a schedule, with a note",
    responses=problem_responses(400, 401, 403, 404),
)
async def pause_schedule(
    schedule_id: ScheduleId,
    body: NoteBody,
    caller: NamespaceOperator,
) -> FastJSON:
    await service.pause(caller.engine, caller.namespace.id, schedule_id, body.note, paused=True)
    return await _described(caller.ctx, caller.namespace.id, schedule_id)


@router.post(
    "/{schedule_id}/unpause",
    response_model=ScheduleDescription,
    summary="Unpause a schedule, with a note (times passed while paused are not taken)",
    responses=problem_responses(400, 401, 403, 404),
)
async def unpause_schedule(
    schedule_id: ScheduleId,
    body: NoteBody,
    caller: NamespaceOperator,
) -> FastJSON:
    await service.pause(caller.engine, caller.namespace.id, schedule_id, body.note, paused=False)
    return await _described(caller.ctx, caller.namespace.id, schedule_id)


@router.post(
    "/{schedule_id}/trigger",
    response_model=TriggerOutcome,
    summary="Take the schedule's action now, under an overlap policy",
    responses=problem_responses(400, 401, 403, 404),
)
async def trigger_schedule(
    schedule_id: ScheduleId, body: TriggerBody, caller: NamespaceOperator
) -> FastJSON:
    return FastJSON(
        await service.trigger(caller.engine, caller.namespace.id, schedule_id, body.overlap)
    )


@router.post(
    "/{schedule_id}/backfill",
    response_model=BackfillOutcome,
    summary="Take the spec's times in past ranges as if they passed now",
    description=f"At most {service.MAX_BACKFILL_TIMES} times per request.",
    responses=problem_responses(400, 401, 403, 404),
)
async def backfill_schedule(
    schedule_id: ScheduleId, body: BackfillBody, caller: NamespaceOperator
) -> FastJSON:
    return FastJSON(
        await service.backfill(
            caller.engine, caller.namespace.id, schedule_id, [b.model_dump() for b in body.backfill]
        )
    )


@router.delete(
    "/{schedule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a schedule (workflows it started keep running)",
    responses=problem_responses(401, 403, 404),
)
async def delete_schedule(schedule_id: ScheduleId, caller: NamespaceOperator) -> Response:
    await service.delete(caller.engine, caller.namespace.id, schedule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{schedule_id}/matching-times",
    response_model=MatchingTimes,
    summary="Preview the times the schedule's spec names",
    description="Action times (with jitter) from `start_time` (default now, inclusive) up to "
    "`end_time`, at most `count`; whether or not the schedule is paused.",
    responses=problem_responses(400, 401, 403, 404),
)
async def matching_times(
    schedule_id: ScheduleId,
    caller: NamespaceReader,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    count: Annotated[int, Query(ge=1, le=service.MAX_MATCHING_TIMES)] = 10,
) -> FastJSON:
    for name, value in (("start_time", start_time), ("end_time", end_time)):
        if value is not None and value.tzinfo is None:
            raise InvalidArgument(f"{name}: a time with its UTC offset", field=name)
        if value is not None:
            check_time(value, name)
    async with caller.ctx.db.read() as conn:
        times = await service.matching_times(
            conn,
            caller.namespace.id,
            schedule_id,
            start_time=start_time or caller.ctx.clock.now(),
            end_time=end_time,
            count=count,
        )
    return FastJSON({"start_times": times})
