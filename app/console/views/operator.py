"""The run page's operator actions (issue 24): query, reset, pause and unpause of the run, and
the controls of its pending activities. Each calls the engine as the API route does."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import RedirectResponse, Response

from app.auth.roles import Permission
from app.console import event_groups
from app.console.web import Console, checked_form, form_json, render, signed_in, templates
from app.engine import activity_controls, pause, reads, reset
from app.engine.payloads import dump_payload
from app.engine.transition import Run, Transition
from app.errors import InvalidArgument, PerdureError

router = APIRouter(prefix="/n/{namespace}")
Page = Annotated[Console, Depends(signed_in)]
QUERY_TIMEOUT = 5.0  # seconds the page waits for a worker's answer
COMPACT_EVENTS = 1000  # events the compact view groups (a first page)


def _back(namespace: str, workflow_id: str, run_id: str) -> RedirectResponse:
    return RedirectResponse(
        f"/console/n/{namespace}/workflows/{workflow_id}/runs/{run_id}", status_code=303
    )


@router.post("/workflows/{workflow_id}/runs/{run_id}/query")
async def query_run(namespace: str, workflow_id: str, run_id: str, console: Page) -> Response:
    """Ask the run a query; the answer (or why there is none) replaces the form's output."""
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.READ)
    name = str(form.get("query_type", "")).strip()
    answer: Any = None
    error: str | None = None
    try:
        if not name:
            raise InvalidArgument("name the query", field="query_type")
        args = form_json(str(form.get("args", "")), "args")
        answered = await console.engine.query_workflow(
            ref.id,
            workflow_id,
            run_id,
            name,
            dump_payload(args, field="args"),
            QUERY_TIMEOUT,
        )
        if answered.get("error") is not None:
            error = f"the query failed: {answered['error'].get('message') or answered['error']}"
        else:
            answer = answered["answer"]
    except PerdureError as refused:
        error = refused.detail
    return render(
        console.request, "query_answer.html", console, query=name, answer=answer, error=error
    )


@router.post("/workflows/{workflow_id}/runs/{run_id}/reset")
async def reset_run(namespace: str, workflow_id: str, run_id: str, console: Page) -> Response:
    """Reset to the chosen point (an event id, or a reset type); shows the new run."""
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    reason = str(form.get("reason", "")).strip()
    if not reason:
        raise InvalidArgument("give the reset a reason", field="reason")
    point = str(form.get("point", "")).strip()
    event_id: int | None = None
    reset_type: reset.ResetType | None = None
    if point.isdigit():
        event_id = int(point)
    else:
        try:
            reset_type = reset.ResetType(point)
        except ValueError:
            raise InvalidArgument("choose where to reset to", field="point") from None
    exclude = frozenset(
        reset.ReapplyType(kind)
        for kind in ("SIGNAL", "UPDATE")
        if form.get(f"exclude_{kind.lower()}")
    )
    request = reset.ResetRequest(
        namespace_id=ref.id,
        workflow_id=workflow_id,
        run_id=run_id,
        reason=reason,
        identity=console.principal.key_name,
        event_id=event_id,
        reset_type=reset_type,
        exclude=exclude,
    )
    new_run = await console.engine.transact(lambda tx: reset.reset(tx, request))
    return _back(ref.name, workflow_id, new_run.id)


async def _pause_or_unpause(
    action: str, namespace: str, workflow_id: str, run_id: str, console: Console
) -> Response:
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    reason = str(form.get("reason", "")).strip() or None
    act = pause.pause if action == "pause" else pause.unpause

    async def change(tx: Transition, run: Run) -> None:
        await act(tx, run, identity=console.principal.key_name, reason=reason, request_id=None)

    await console.engine.transact(
        lambda tx: pause.on_run(tx, ref.id, workflow_id, run_id, None, action, change)
    )
    return _back(ref.name, workflow_id, run_id)


@router.post("/workflows/{workflow_id}/runs/{run_id}/pause")
async def pause_run(namespace: str, workflow_id: str, run_id: str, console: Page) -> Response:
    return await _pause_or_unpause("pause", namespace, workflow_id, run_id, console)


@router.post("/workflows/{workflow_id}/runs/{run_id}/unpause")
async def unpause_run(namespace: str, workflow_id: str, run_id: str, console: Page) -> Response:
    return await _pause_or_unpause("unpause", namespace, workflow_id, run_id, console)


@router.post("/workflows/{workflow_id}/runs/{run_id}/activities/{action}")
async def control_activity(
    namespace: str, workflow_id: str, run_id: str, action: str, console: Page
) -> Response:
    """Pause, unpause or reset one pending activity (by its activity id)."""
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    activity_id = str(form.get("activity_id", "")).strip()
    if action not in ("pause", "unpause", "reset") or not activity_id:
        raise InvalidArgument("choose an activity and pause, unpause or reset", field="action")
    who = console.principal.key_name

    async def act(tx: Transition) -> None:
        run = await tx.find_run(ref.id, workflow_id, run_id)
        target = activity_controls.Target(activity_id=activity_id)
        for row in await activity_controls.pending(tx, run, target):
            if action == "pause":
                await activity_controls.pause(tx, run, row, identity=who, reason=None)
            elif action == "unpause":
                await activity_controls.unpause(tx, run, row)
            else:
                await activity_controls.reset(tx, run, row)

    await console.engine.transact(act)
    return _back(ref.name, workflow_id, run_id)


@router.get("/workflows/{workflow_id}/runs/{run_id}/events-compact")
async def compact_history(
    namespace: str,
    workflow_id: str,
    run_id: str,
    console: Page,
    family: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The history's compact view (rows only): one row per activity, timer, child and
    workflow task, optionally of one family; the first COMPACT_EVENTS events."""
    ref = await console.namespace(namespace, Permission.READ)
    if family and family not in event_groups.FAMILIES:
        raise InvalidArgument(f"unknown event family '{family}'", field="family")
    async with console.ctx.db.read() as conn:
        row = await reads.find_run_row(conn, ref.id, workflow_id, run_id)
        events = await reads.history_page(
            conn, row["id"], after_event_id=0, up_to_event_id=None, page_size=COMPACT_EVENTS
        )
    return render(
        console.request,
        "history_compact.html",
        console,
        ns=ref.name,
        run={"workflow_id": workflow_id, "run_id": row["id"]},
        groups=event_groups.compact(events, family or None),
    )


def _fires_in(moment: datetime | str | None, now: datetime | None) -> str:
    """How long until `moment` from `now`, for a person ("in 4.5 min", "due")."""
    if moment is None or now is None:
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    seconds = (moment - now).total_seconds()
    return "due" if seconds <= 0 else f"in {templates.env.filters['duration'](seconds)}"


templates.env.filters["fires_in"] = _fires_in
templates.env.filters["plain_id"] = event_groups.plain_id
