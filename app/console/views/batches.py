"""Batch operations: the list with state and progress, a job's page, starting one on the runs
the workflows list shows (after a confirmation that says how many match), and stopping one.

The same app.visibility functions as the API's `…/batch-operations` routes; the form is held
to the API's request model (BatchOperationStart).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query
from fastapi.responses import RedirectResponse, Response

from app.api.schemas.visibility import BatchOperationStart, BatchOperationStop
from app.auth.roles import Permission
from app.console.views.workflows import FILTER_FIELDS, run_filter
from app.console.web import Console, checked_form, form_json, render, signed_in, validated
from app.engine.reads import RunFilter
from app.errors import InvalidArgument
from app.visibility import batches, listing

router = APIRouter(prefix="/n/{namespace}")
Page = Annotated[Console, Depends(signed_in)]
PAGE_SIZE = 50
OPERATIONS = ("SIGNAL", "CANCEL", "TERMINATE")  # deletes stay an API call


@router.get("/batch-operations")
async def batch_list(
    namespace: str,
    console: Page,
    next_page_token: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    ref = await console.namespace(namespace, Permission.READ)
    async with console.ctx.db.read() as conn:
        rows, token = await batches.list_jobs(
            conn, ref.id, page_size=PAGE_SIZE, page_token=next_page_token
        )
    return render(
        console.request,
        "batch_operations.html",
        console,
        title="Batch operations",
        ns=ref.name,
        rows=[batches.describe(r) for r in rows],
        next_page_token=token,
    )


@router.get("/batch-operations/new")
async def batch_confirm(namespace: str, console: Page) -> Response:
    """The confirmation: the workflows list's filter as one list filter, and how many runs
    it matches now (the count a job started now would record as its total)."""
    ref = await console.namespace(namespace, Permission.OPERATE)
    params = {k: v for k, v in console.request.query_params.items() if k in FILTER_FIELDS and v}
    query_text = listing.filter_as_query(run_filter(params), params.get("query"))
    if not query_text:
        raise InvalidArgument(
            "a batch operation acts on the runs a filter matches: filter the list first",
            field="query",
        )
    ctx, now = console.ctx, console.now()
    matching, _ = await listing.count_runs(
        ctx.db, ctx.settings, ref.id, RunFilter(), query_text, now=now, started_up_to=now
    )
    return render(
        console.request,
        "batch_new.html",
        console,
        title="New batch operation",
        ns=ref.name,
        query_text=query_text,
        matching=matching,
        operations=OPERATIONS,
        back=f"/console/n/{ref.name}/workflows?{urlencode(params)}",
    )


@router.post("/batch-operations")
async def batch_start(namespace: str, console: Page) -> Response:
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    operation = str(form.get("operation_type") or "")
    if operation not in OPERATIONS:
        raise InvalidArgument("choose signal, cancel or terminate", field="operation_type")
    body: dict[str, Any] = {
        "query": str(form.get("query") or ""),
        "operation_type": operation,
        "reason": str(form.get("reason") or "").strip() or None,
    }
    if str(form.get("job_id") or "").strip():
        body["job_id"] = str(form["job_id"]).strip()
    if operation == "SIGNAL":
        body["signal_name"] = str(form.get("signal_name") or "").strip() or None
        body["input"] = form_json(str(form.get("input") or ""), "input")
    start = validated(BatchOperationStart, body)
    row = await batches.start(
        console.engine, ref.id, start.job_fields(), identity=console.principal.key_name
    )
    return RedirectResponse(
        f"/console/n/{ref.name}/batch-operations/{quote(row['job_id'], safe='')}", status_code=303
    )


@router.get("/batch-operations/{job_id}")
async def batch_detail(
    namespace: str, job_id: str, console: Page, fragment: str | None = None
) -> Response:
    ref = await console.namespace(namespace, Permission.READ)
    async with console.ctx.db.read() as conn:
        row = await batches.get(conn, ref.id, job_id)
        job = batches.describe(row, await batches.failures(conn, row["id"]))
    template = "batch_progress.html" if fragment == "progress" else "batch_operation.html"
    return render(
        console.request, template, console, title=f"Batch operation {job_id}", ns=ref.name, job=job
    )


@router.post("/batch-operations/{job_id}/stop")
async def batch_stop(namespace: str, job_id: str, console: Page) -> Response:
    """Stop a running job: runs already acted on stay so, no other is touched."""
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    stop = validated(BatchOperationStop, {"reason": str(form.get("reason") or "").strip() or None})
    async with console.ctx.db.write() as conn:
        await batches.stop(conn, ref.id, job_id, stop.reason, console.now())
    return RedirectResponse(
        f"/console/n/{ref.name}/batch-operations/{quote(job_id, safe='')}", status_code=303
    )
