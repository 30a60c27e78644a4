"""Workflows: the list with its counts and filters, a run's page, its live stream and actions."""

from __future__ import annotations

import shlex
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import RedirectResponse, Response

from app import sse
from app.api.tenant_limits.limiter import Limiter
from app.auth.roles import Permission
from app.console import graph, timeline
from app.console.web import Console, checked_form, form_json, form_moment, render, signed_in
from app.definitions import progress, store
from app.engine import reads
from app.engine.events import RunStatus
from app.engine.lifecycle import StartRequest
from app.engine.payloads import dump_payload
from app.engine.run_limits import MAX_COUNTER
from app.errors import DeadlineExceeded, InvalidArgument, LimitExceeded, PerdureError
from app.ids import new_id
from app.starts import DefinitionChoice, start_run
from app.visibility import listing

router = APIRouter(prefix="/n/{namespace}")
Page = Annotated[Console, Depends(signed_in)]
PAGE_SIZE = 50
HISTORY_PAGE = 100
LARGE_NAMESPACE = 1000  # runs: above this, the list does not refresh by itself unless asked
COUNT_CAP = 10_000  # a status count stops here and shows "10,000+", as Temporal's Web UI does
# Shown under the query box; each one a click away (see the README's list filter section).
EXAMPLE_QUERIES = (
    "ExecutionStatus = 'Running' AND StartTime < NOW() - 1h",
    "ExecutionStatus = 'Failed' ORDER BY CloseTime DESC",
    "WorkflowType = 'Payment' AND CloseTime > NOW() - 1d",
    "WorkflowId STARTS_WITH 'order-'",
)
REFRESH_CHOICES = (0, 1, 5, 15, 60)
FILTER_FIELDS = (
    "status",
    "workflow_type",
    "workflow_id_prefix",
    "started_after",
    "started_before",
    "closed_after",
    "closed_before",
    "search_attribute",
    "order_by",
    "query",
)
STATUSES = [s.value for s in RunStatus]


def run_filter(params: dict[str, str]) -> reads.RunFilter:
    """The form's filter, by the API's rule (`listing.run_filter`); a blank field is none."""
    status = params.get("status") or None
    if status and status not in STATUSES:
        raise InvalidArgument(f"unknown status '{status}'", field="status")
    return listing.run_filter(
        status=RunStatus(status) if status else None,
        workflow_type=params.get("workflow_type"),
        workflow_id_prefix=params.get("workflow_id_prefix"),
        started_after=form_moment(params.get("started_after"), "started_after"),
        started_before=form_moment(params.get("started_before"), "started_before"),
        closed_after=form_moment(params.get("closed_after"), "closed_after"),
        closed_before=form_moment(params.get("closed_before"), "closed_before"),
        search_attributes=[params["search_attribute"]] if params.get("search_attribute") else [],
    )


def curl_of(console: Console, namespace: str, params: dict[str, str]) -> str:
    """The API call that lists the same runs, for the "copy as curl" button."""
    query = {k: v for k, v in params.items() if k in FILTER_FIELDS and v}
    base = str(console.request.base_url).rstrip("/")
    url = f"{base}/api/v1/namespaces/{namespace}/workflows"
    if query:
        url += "?" + urlencode(query)
    return f'curl -s -H "Authorization: Bearer $PERDURE_API_KEY" {shlex.quote(url)}'


async def _listed(
    console: Console,
    namespace_id: str,
    params: dict[str, str],
    page_token: str | None,
) -> tuple[list[dict[str, Any]], str | None, dict[str, int]]:
    """The page of runs and the status counts, through the same visibility functions as the
    API's list and count routes (the filter parameters ANDed with the list filter)."""
    flt = run_filter(params)
    query_text = params.get("query")
    listed = listing.in_order(query_text, params.get("order_by") or listing.DEFAULT_ORDER)
    ctx = console.ctx
    rows, token = await listing.list_runs(
        ctx.db,
        ctx.settings,
        namespace_id,
        flt,
        listed,
        now=console.now(),
        page_size=PAGE_SIZE,
        page_token=page_token,
    )
    counts = await listing.count_by_status(
        ctx.db, ctx.settings, namespace_id, flt, query_text, now=console.now(), cap=COUNT_CAP
    )
    return rows, token, counts


@router.get("/workflows")
async def workflow_list(
    namespace: str,
    console: Page,
    next_page_token: Annotated[str | None, Query(max_length=2000)] = None,
    refresh: Annotated[int | None, Query(ge=0, le=3600)] = None,
    fragment: str | None = None,
) -> Response:
    """The list. A filter the visibility language or the limits refuse is shown as the
    problem's message above an empty list, with the problem's status (400, 422 or 504)."""
    ref = await console.namespace(namespace, Permission.READ)
    params = {k: v for k, v in console.request.query_params.items() if k in FILTER_FIELDS and v}
    problem: PerdureError | None = None
    try:
        rows, token, counts = await _listed(console, ref.id, params, next_page_token)
    except (InvalidArgument, LimitExceeded, DeadlineExceeded) as refused:
        problem, rows, token, counts = refused, [], None, {}
    total = sum(counts.values())
    capped = any(n > COUNT_CAP for n in counts.values())
    if refresh is None:
        refresh = 0 if total > LARGE_NAMESPACE or problem else 5
    values: dict[str, Any] = {
        "ns": ref.name,
        "rows": rows,
        "next_page_token": token,
        "counts": {s: _count_text(n) for s, n in counts.items()},
        # Past the cap a total says "at least": the sum of the counts as far as they went.
        "total": f"{sum(min(n, COUNT_CAP) for n in counts.values()):,}+"
        if capped
        else f"{total:,}",
        "statuses": STATUSES,
        "params": params,
        "refresh": refresh,
        "refresh_choices": REFRESH_CHOICES,
        "curl": curl_of(console, ref.name, params),
        "query": urlencode(params),
        "page_token": next_page_token,
        "problem": problem,
        "examples": EXAMPLE_QUERIES,
    }
    template = "workflow_rows.html" if fragment == "rows" else "workflows.html"
    status_code = problem.status if problem else 200
    return render(
        console.request, template, console, status_code=status_code, title="Workflows", **values
    )


def _count_text(count: int) -> str:
    return f"{COUNT_CAP:,}+" if count > COUNT_CAP else f"{count:,}"


async def _run_values(
    console: Console, namespace: str, workflow_id: str, run_id: str | None
) -> dict[str, Any]:
    ref = await console.namespace(namespace, Permission.READ)
    async with console.ctx.db.read() as conn:
        run = await reads.describe(
            conn, ref.id, workflow_id, run_id, console.now(), with_input=True
        )
        run = await progress.describe_definition(conn, run)
        children = await reads.list_children(conn, run["run_id"])
        history = await reads.history_page(
            conn, run["run_id"], after_event_id=0, up_to_event_id=None, page_size=HISTORY_PAGE
        )
        definition = None
        if run.get("definition"):
            definition = await _definition_picture(conn, ref.id, run)
    return {
        "ns": ref.name,
        "run": run,
        "children": children,
        "history": history,
        "history_next": history[-1]["event_id"] if len(history) == HISTORY_PAGE else None,
        "definition": definition,
        "event_types": [],
    }


async def _definition_picture(conn: Any, namespace_id: str, run: dict[str, Any]) -> dict:
    pin = run["definition"]
    row = await store.get(conn, namespace_id, pin["name"], pin["version"])
    steps = await progress.steps(conn, run["run_id"])
    top = [s for s in steps if not s["frame"]]
    picture = graph.layout(
        row["definition"],
        current=set(pin["current_states"]),
        taken={s["state"] for s in top},
        failed={s["state"] for s in top if s["error"] is not None},
    )
    return {"name": pin["name"], "version": pin["version"], "graph": picture, "steps": steps}


@router.get("/workflows/{workflow_id}")
async def workflow_latest_run(namespace: str, workflow_id: str, console: Page) -> Response:
    values = await _run_values(console, namespace, workflow_id, None)
    return render(console.request, "run.html", console, title=workflow_id, **values)


@router.get("/workflows/{workflow_id}/runs/{run_id}")
async def workflow_run(
    namespace: str, workflow_id: str, run_id: str, console: Page, fragment: str | None = None
) -> Response:
    values = await _run_values(console, namespace, workflow_id, run_id)
    if fragment == "summary":
        return render(console.request, "run_summary.html", console, **values)
    return render(console.request, "run.html", console, title=workflow_id, **values)


@router.get("/workflows/{workflow_id}/runs/{run_id}/history")
async def history_rows(
    namespace: str,
    workflow_id: str,
    run_id: str,
    console: Page,
    after: Annotated[int, Query(ge=0, le=MAX_COUNTER)] = 0,
    event_type: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """A page of the history table (rows only), for "more" and the event-type filter."""
    ref = await console.namespace(namespace, Permission.READ)
    async with console.ctx.db.read() as conn:
        row = await reads.find_run_row(conn, ref.id, workflow_id, run_id)
        events = await reads.history_page(
            conn,
            row["id"],
            after_event_id=after,
            up_to_event_id=None,
            page_size=HISTORY_PAGE,
            event_types=[event_type] if event_type else None,
        )
    return render(
        console.request,
        "history_rows.html",
        console,
        ns=ref.name,
        run={"workflow_id": workflow_id, "run_id": row["id"]},
        history=events,
        history_next=events[-1]["event_id"] if len(events) == HISTORY_PAGE else None,
        event_type=event_type or "",
    )


@router.get("/workflows/{workflow_id}/runs/{run_id}/timeline")
async def run_timeline(
    namespace: str,
    workflow_id: str,
    run_id: str,
    console: Page,
    after: Annotated[int, Query(ge=0, le=MAX_COUNTER)] = 0,
) -> Response:
    """A page of the timeline's rows: those that begin after event `after` (see
    app/console/timeline.py)."""
    ref = await console.namespace(namespace, Permission.READ)
    async with console.ctx.db.read() as conn:
        row = await reads.find_run_row(conn, ref.id, workflow_id, run_id)
        events, following = await timeline.page_events(conn, row["id"], after)
    end = row["close_time"] or console.now()
    picture = timeline.layout(events, row["start_time"], end)
    return render(
        console.request,
        "timeline.html",
        console,
        ns=ref.name,
        run={"workflow_id": workflow_id, "run_id": row["id"]},
        timeline=picture,
        after=after,
        following=following,
    )


@router.get("/workflows/{workflow_id}/runs/{run_id}/events/{event_id}")
async def history_event(
    namespace: str,
    workflow_id: str,
    run_id: str,
    event_id: Annotated[int, Path(ge=1, le=MAX_COUNTER)],
    console: Page,
) -> Response:
    ref = await console.namespace(namespace, Permission.READ)
    async with console.ctx.db.read() as conn:
        row = await reads.find_run_row(conn, ref.id, workflow_id, run_id)
        events = await reads.history_page(
            conn, row["id"], after_event_id=event_id - 1, up_to_event_id=event_id, page_size=1
        )
    if not events:
        raise InvalidArgument(f"the run has no event {event_id}", field="event_id")
    return render(
        console.request,
        "event.html",
        console,
        title=f"Event {event_id}",
        ns=ref.name,
        run={"workflow_id": workflow_id, "run_id": row["id"]},
        event=events[0],
    )


@router.get("/workflows/{workflow_id}/runs/{run_id}/stream")
async def run_stream(
    namespace: str,
    workflow_id: str,
    run_id: str,
    console: Page,
    after_event_id: Annotated[int | None, Query(ge=0, le=MAX_COUNTER)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> Response:
    """The public stream (app/sse.py) for the signed-in browser, whose EventSource cannot
    send an API key but sends the session cookie."""
    ref = await console.namespace(namespace, Permission.READ)
    after = sse.parse_last_event_id(last_event_id, after_event_id)
    async with console.ctx.db.read() as conn:
        row = await reads.find_run_row(conn, ref.id, workflow_id, run_id)
    if sse.caught_up(row, after):
        return Response(status_code=204)
    # A held wait like the API's streams: the same caps per namespace and tenant (429 now).
    limiter: Limiter = console.request.app.state.limiter
    release = limiter.hold(ref.tenant_id, ref.id, ref.settings, held_wait=True)

    async def on_close() -> None:
        release()

    return sse.EventStreamResponse(
        sse.history_stream(console.engine.watcher, row["id"], after),
        stall_seconds=console.ctx.settings.stream_stall_seconds,
        on_close=on_close,
    )


def _back(namespace: str, workflow_id: str, run_id: str) -> RedirectResponse:
    return RedirectResponse(
        f"/console/n/{namespace}/workflows/{workflow_id}/runs/{run_id}", status_code=303
    )


@router.post("/workflows/{workflow_id}/runs/{run_id}/signal")
async def signal_run(namespace: str, workflow_id: str, run_id: str, console: Page) -> Response:
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    name = str(form.get("signal_name", "")).strip()
    if not name:
        raise InvalidArgument("name the signal", field="signal_name")
    payload = form_json(str(form.get("input", "")), "input")
    await console.engine.signal(
        ref.id,
        workflow_id,
        run_id,
        name,
        dump_payload(payload, field="input"),
        console.principal.key_name,
    )
    return _back(ref.name, workflow_id, run_id)


@router.post("/workflows/{workflow_id}/runs/{run_id}/cancel")
async def cancel_run(namespace: str, workflow_id: str, run_id: str, console: Page) -> Response:
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    await console.engine.request_cancel(
        ref.id, workflow_id, run_id, str(form.get("reason", "")) or None, console.principal.key_name
    )
    return _back(ref.name, workflow_id, run_id)


@router.post("/workflows/{workflow_id}/runs/{run_id}/terminate")
async def terminate_run(namespace: str, workflow_id: str, run_id: str, console: Page) -> Response:
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    await console.engine.terminate(
        ref.id,
        workflow_id,
        run_id,
        str(form.get("reason", "")) or None,
        None,
        console.principal.key_name,
    )
    return _back(ref.name, workflow_id, run_id)


@router.post("/workflows/{workflow_id}/runs/{run_id}/start-like")
async def start_like(namespace: str, workflow_id: str, run_id: str, console: Page) -> Response:
    """A new run with this run's type, queue and timeouts; id and input as the form says."""
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    async with console.ctx.db.read() as conn:
        row = await reads.find_run_row(conn, ref.id, workflow_id, run_id)
        pin = await store.pinned(conn, row["id"])
    new_workflow_id = str(form.get("workflow_id", "")).strip() or new_id()
    request = StartRequest(
        namespace_id=ref.id,
        workflow_id=new_workflow_id,
        workflow_type=row["workflow_type"],
        task_queue=row["task_queue"],
        input_text=dump_payload(form_json(str(form.get("input", "")), "input"), field="input"),
        execution_timeout=row["execution_timeout"],
        run_timeout=row["run_timeout"],
        task_timeout=row["task_timeout"],
        identity=console.principal.key_name,
    )
    chosen = DefinitionChoice(pin.name, pin.version) if pin is not None else None
    run, _, _ = await start_run(console.engine, request, chosen)
    return _back(ref.name, run.workflow_id, run.id)
