"""Schedules: the list, a schedule's page, and its actions (create, pause/unpause with a note,
trigger now, backfill a range, delete), through app.schedules.service as the API's routes.

Forms are checked by the API's own request models (app.api.schemas.schedules), so a console
schedule is held to the same rules as one posted to `…/schedules/{id}`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import RedirectResponse, Response

from app.api.schemas.schedules import (
    BackfillBody,
    CreateSchedule,
    NoteBody,
    TriggerBody,
    UpdateSchedule,
)
from app.auth.roles import Permission
from app.console.web import (
    Console,
    checked_form,
    form_json,
    form_moment,
    render,
    signed_in,
    templates,
    validated,
)
from app.engine.run_limits import MAX_ID_LENGTH
from app.errors import InvalidArgument
from app.schedules import service
from app.schedules.buffer import OverlapPolicy

router = APIRouter(prefix="/n/{namespace}")
Page = Annotated[Console, Depends(signed_in)]
PAGE_SIZE = 50
OVERLAPS = [p.value for p in OverlapPolicy]


_FULL = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "day_of_month": (1, 31),
    "month": (1, 12),
    "year": (1970, 2099),
    "day_of_week": (0, 6),
}


def _ranges(name: str, ranges: list[dict[str, int]]) -> str:
    parts = []
    for r in ranges:
        start, end, step = r["start"], max(r["end"], r["start"]), r.get("step") or 1
        low, high = _FULL[name]
        if start == low and (end == high or end + step > high):  # 0-45/15 is */15
            parts.append("*" if step == 1 else f"*/{step}")
        elif start == end:
            parts.append(str(start))
        else:
            parts.append(f"{start}-{end}" + (f"/{step}" if step != 1 else ""))
    return ",".join(parts) or "*"


def spec_lines(spec: dict[str, Any]) -> list[str]:
    """A stored spec as lines a reader knows: each calendar as a cron line (seconds and year
    only when they are not the defaults), each interval as `every …`."""
    lines = []
    for cal in spec.get("calendars") or []:
        fields = ["minute", "hour", "day_of_month", "month", "day_of_week"]
        text = " ".join(_ranges(f, cal.get(f) or []) for f in fields)
        if _ranges("second", cal.get("second") or []) != "0":
            text = _ranges("second", cal.get("second") or []) + " " + text
        if _ranges("year", cal.get("year") or []) != "*":
            text += " " + _ranges("year", cal.get("year") or [])
        lines.append(text + (f"  # {cal['comment']}" if cal.get("comment") else ""))
    for interval in spec.get("intervals") or []:
        offset = f" offset {interval['offset']:g} s" if interval.get("offset") else ""
        lines.append(f"every {interval['every']:g} s{offset}")
    if spec.get("time_zone_name"):
        lines.append(f"time zone {spec['time_zone_name']}")
    return lines


templates.env.filters["spec_lines"] = spec_lines


def _text(form: Any, name: str) -> str:
    return str(form.get(name) or "").strip()


def _back(namespace: str, schedule_id: str) -> RedirectResponse:
    target = f"/console/n/{namespace}/schedules/{quote(schedule_id, safe='')}"
    return RedirectResponse(target, status_code=303)


@router.get("/schedules")
async def schedule_list(
    namespace: str,
    console: Page,
    next_page_token: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    ref = await console.namespace(namespace, Permission.READ)
    async with console.ctx.db.read() as conn:
        rows, token = await service.list_schedules(
            conn, ref.id, page_size=PAGE_SIZE, page_token=next_page_token
        )
    return render(
        console.request,
        "schedules.html",
        console,
        title="Schedules",
        ns=ref.name,
        rows=rows,
        next_page_token=token,
        overlaps=OVERLAPS,
    )


@router.post("/schedules")
async def schedule_create(namespace: str, console: Page) -> Response:
    """A schedule from the form: cron expressions (one a line), the workflow to start (type,
    task queue, input JSON, optional workflow id), overlap policy, paused with a note."""
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    schedule_id = _text(form, "schedule_id")
    if not 1 <= len(schedule_id) <= MAX_ID_LENGTH or "/" in schedule_id:
        raise InvalidArgument(
            f"give the schedule an id of 1-{MAX_ID_LENGTH} characters without '/'",
            field="schedule_id",
        )
    crons = [line.strip() for line in _text(form, "cron_expressions").splitlines() if line.strip()]
    if not crons:
        raise InvalidArgument("give at least one cron expression", field="cron_expressions")
    start: dict[str, Any] = {
        "workflow_type": _text(form, "workflow_type") or None,
        "task_queue": _text(form, "task_queue") or None,
        "input": form_json(str(form.get("input") or ""), "input"),
    }
    if _text(form, "workflow_id"):
        start["workflow_id"] = _text(form, "workflow_id")
    body = validated(
        CreateSchedule,
        {
            "schedule": {
                "spec": {"cron_expressions": crons},
                "action": {"start_workflow": start},
                "policy": {"overlap": _text(form, "overlap") or OverlapPolicy.SKIP.value},
                "state": {
                    "paused": form.get("paused") == "on",
                    "note": _text(form, "note") or None,
                },
            }
        },
    )
    await service.create(
        console.engine,
        ref.id,
        schedule_id,
        body.schedule.model_dump(),
        trigger_immediately=False,
        backfill=[],
    )
    return _back(ref.name, schedule_id)


async def _schedule_page(
    console: Console, namespace: str, schedule_id: str, outcome: str | None = None
) -> Response:
    ref = await console.namespace(namespace, Permission.READ)
    async with console.ctx.db.read() as conn:
        described = await service.describe(conn, ref.id, schedule_id)
    return render(
        console.request,
        "schedule.html",
        console,
        title=f"Schedule {schedule_id}",
        ns=ref.name,
        s=described,
        overlaps=OVERLAPS,
        outcome=outcome,
    )


@router.get("/schedules/{schedule_id}")
async def schedule_detail(namespace: str, schedule_id: str, console: Page) -> Response:
    return await _schedule_page(console, namespace, schedule_id)


@router.post("/schedules/{schedule_id}/update")
async def schedule_update(namespace: str, schedule_id: str, console: Page) -> Response:
    """Change the workflow it starts (type, task queue, input), the overlap policy and, when
    cron lines are given, the spec's times (time zone, jitter and bounds are kept). The form's
    conflict token refuses (409) a change made by someone else since the page was read."""
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    async with console.ctx.db.read() as conn:
        current = await service.describe(conn, ref.id, schedule_id)
    schedule = current["schedule"]
    crons = [line.strip() for line in _text(form, "cron_expressions").splitlines() if line.strip()]
    if crons:
        schedule["spec"] = {**schedule["spec"], "calendars": [], "cron_expressions": crons}
    start = schedule["action"]["start_workflow"]
    if start.get("workflow_type") is not None:
        start["workflow_type"] = _text(form, "workflow_type") or None
        start["task_queue"] = _text(form, "task_queue") or None
    start["input"] = form_json(str(form.get("input") or ""), "input")
    schedule["policy"]["overlap"] = _text(form, "overlap") or schedule["policy"]["overlap"]
    try:
        conflict_token = int(_text(form, "conflict_token"))
    except ValueError:
        raise InvalidArgument("the form has no conflict token", field="conflict_token") from None
    body = validated(UpdateSchedule, {"schedule": schedule, "conflict_token": conflict_token})
    await service.update(
        console.engine,
        ref.id,
        schedule_id,
        body.schedule.model_dump(),
        conflict_token=body.conflict_token,
    )
    return _back(ref.name, schedule_id)


@router.post("/schedules/{schedule_id}/pause")
async def schedule_pause(namespace: str, schedule_id: str, console: Page) -> Response:
    return await _pause(namespace, schedule_id, console, paused=True)


@router.post("/schedules/{schedule_id}/unpause")
async def schedule_unpause(namespace: str, schedule_id: str, console: Page) -> Response:
    return await _pause(namespace, schedule_id, console, paused=False)


async def _pause(namespace: str, schedule_id: str, console: Console, *, paused: bool) -> Response:
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    body = validated(NoteBody, {"note": _text(form, "note") or None})
    await service.pause(console.engine, ref.id, schedule_id, body.note, paused=paused)
    return _back(ref.name, schedule_id)


@router.post("/schedules/{schedule_id}/trigger")
async def schedule_trigger(namespace: str, schedule_id: str, console: Page) -> Response:
    """Take the action now; the page shows what became of it (started, skipped, …)."""
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    body = validated(TriggerBody, {"overlap": _text(form, "overlap") or None})
    done = await service.trigger(console.engine, ref.id, schedule_id, body.overlap)
    outcome = f"Triggered: {done['outcome']}" + (
        f" (workflow {done['workflow_id']})" if done["workflow_id"] else ""
    )
    if done["error"]:
        outcome += f": {done['error']}"
    return await _schedule_page(console, namespace, schedule_id, outcome)


@router.post("/schedules/{schedule_id}/backfill")
async def schedule_backfill(namespace: str, schedule_id: str, console: Page) -> Response:
    """The spec's times in [start, end] taken as if they passed now (at most
    service.MAX_BACKFILL_TIMES); the page shows how many started, buffered, were skipped."""
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    start_at = form_moment(_text(form, "start_at"), "start_at")
    end_at = form_moment(_text(form, "end_at"), "end_at")
    if start_at is None or end_at is None:
        raise InvalidArgument("give the range's start and end", field="start_at")
    body = validated(
        BackfillBody,
        {
            "backfill": [
                {"start_at": start_at, "end_at": end_at, "overlap": _text(form, "overlap") or None}
            ]
        },
    )
    counts = await service.backfill(
        console.engine, ref.id, schedule_id, [b.model_dump() for b in body.backfill]
    )
    outcome = "Backfilled: " + ", ".join(f"{n} {what}" for what, n in counts.items())
    return await _schedule_page(console, namespace, schedule_id, outcome)


@router.post("/schedules/{schedule_id}/delete")
async def schedule_delete(namespace: str, schedule_id: str, console: Page) -> Response:
    """Delete the schedule (the workflows it started keep running)."""
    await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    await service.delete(console.engine, ref.id, schedule_id)
    return RedirectResponse(f"/console/n/{ref.name}/schedules", status_code=303)
