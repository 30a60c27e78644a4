"""Batch operations of a namespace: start (`operate`), describe and list (`read`), stop
(`operate`). Temporal's StartBatchOperation, DescribeBatchOperation, ListBatchOperations and
StopBatchOperation."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, status

from app.api.deps import NamespaceOperator, NamespaceReader
from app.api.edge import EdgeRouter
from app.api.problems import problem_responses
from app.api.responses import FastJSON
from app.api.schemas.common import DEFAULT_PAGE, PageSize, PageToken
from app.api.schemas.visibility import (
    BatchOperation,
    BatchOperationPage,
    BatchOperationStart,
    BatchOperationStop,
)
from app.visibility import batches

router = EdgeRouter(
    prefix="/api/v1/namespaces/{namespace}/batch-operations", tags=["batch operations"]
)

JobId = Annotated[str, Path(min_length=1, max_length=200, description="Batch operation job id")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BatchOperation,
    summary="Start a batch operation on the runs a list filter matches",
    description=(
        "Signal, cancel, terminate, delete (closed runs only), reset (`reset_options`), pause or "
        "unpause every run that matches `query` and started before now, or pause, unpause, "
        "reset or change the options of their pending activities (`activity`), at most "
        "`max_operations_per_second`. Runs as a durable job: "
        "it survives restarts and acts on each run once. 400 for a bad filter, 409 for a taken "
        "job id, 422 for a filter no index narrows on a large namespace, 429 when the namespace "
        "runs its `max_concurrent_batch_operations` (namespace setting, default 1) already."
    ),
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422, 429, 504),
)
async def start_batch_operation(body: BatchOperationStart, caller: NamespaceOperator) -> FastJSON:
    fields = body.job_fields()
    row = await batches.start(
        caller.engine, caller.namespace.id, fields, identity=caller.principal.key_name
    )
    return FastJSON(batches.describe(row), status_code=status.HTTP_201_CREATED)


@router.get(
    "",
    response_model=BatchOperationPage,
    summary="List the namespace's batch operations, newest first",
    responses=problem_responses(400, 401, 403, 404),
)
async def list_batch_operations(
    caller: NamespaceReader,
    page_size: PageSize = DEFAULT_PAGE,
    next_page_token: PageToken = None,
) -> FastJSON:
    async with caller.ctx.db.read() as conn:
        rows, token = await batches.list_jobs(
            conn, caller.namespace.id, page_size=page_size, page_token=next_page_token
        )
    return FastJSON(
        {"batch_operations": [batches.describe(r) for r in rows], "next_page_token": token}
    )


@router.get(
    "/{job_id}",
    response_model=BatchOperation,
    summary="Describe a batch operation: its state, progress and latest failures",
    responses=problem_responses(401, 403, 404),
)
async def describe_batch_operation(job_id: JobId, caller: NamespaceReader) -> FastJSON:
    async with caller.ctx.db.read() as conn:
        row = await batches.get(conn, caller.namespace.id, job_id)
        failures = await batches.failures(conn, row["id"])
        return FastJSON(batches.describe(row, failures, caller.ctx.clock.now()))


@router.post(
    "/{job_id}/stop",
    response_model=BatchOperation,
    summary="Stop a running batch operation",
    description="Runs already acted on stay so; no other run is touched. 409 if it finished.",
    responses=problem_responses(400, 401, 403, 404, 409),
)
async def stop_batch_operation(
    job_id: JobId, body: BatchOperationStop, caller: NamespaceOperator
) -> FastJSON:
    async with caller.ctx.db.write() as conn:
        row = await batches.stop(
            conn, caller.namespace.id, job_id, body.reason, caller.ctx.clock.now()
        )
    return FastJSON(batches.describe(row))
