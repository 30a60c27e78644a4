"""Workflow Update: send an update (and wait for a stage), poll an update's outcome,
update-with-start. The rules live in app/engine/updates.py and app/engine/updating.py."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

from fastapi import Path, Query, Request

from app.api.deps import NamespaceOperator, NamespaceReader, long_poll
from app.api.edge import EdgeRouter
from app.api.idempotency import IdempotencyKey, request_key
from app.api.problems import problem_responses
from app.api.responses import FastJSON
from app.api.routers.workflows import WorkflowId, start_request
from app.api.schemas.updates import (
    UpdateAnswer,
    UpdateBody,
    UpdateFields,
    UpdateWithStart,
    UpdateWithStartAnswer,
)
from app.engine import updating
from app.engine.payloads import dump_payload
from app.engine.run_limits import MAX_HISTORY_WAIT, MAX_ID_LENGTH
from app.engine.updates import Admission
from app.errors import InvalidArgument
from app.ids import new_id

router = EdgeRouter(prefix="/api/v1/namespaces/{namespace}", tags=["workflows"])

UpdateName = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, description="Update name")]


def _admission(body: UpdateFields, name: str, who: str) -> Admission:
    return Admission(
        update_id=body.update_id or new_id(),
        name=name,
        args_text=dump_payload(body.args, field="args"),
        header_text=dump_payload(body.header, field="header") if body.header else None,
        identity=body.identity or who,
    )


@router.post(
    "/workflows/{workflow_id}/update/{update_name}",
    response_model=UpdateAnswer,
    summary="Send a workflow an update and wait for it to be accepted or completed",
    description="Temporal's UpdateWorkflowExecution. Answers when the update reaches "
    "`wait_for_stage` or `wait` seconds pass (200 with the stage reached: ask again, or poll "
    "GET …/updates/{update_id}). A validator's rejection is a COMPLETED outcome with a "
    "`failure`. 409 `workflow-closed` when the run closed before accepting it; 429 with "
    "Retry-After past 10 updates in flight; 409 past 2,000 updates in the run.",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 429),
)
async def update_workflow(
    workflow_id: WorkflowId,
    update_name: UpdateName,
    body: UpdateBody,
    request: Request,
    caller: NamespaceOperator,
) -> FastJSON:
    admission = _admission(body, update_name, caller.principal.key_name)
    req = updating.UpdateRequest(
        namespace_id=caller.namespace.id,
        workflow_id=workflow_id,
        run_id=body.run_id,
        first_execution_run_id=body.first_execution_run_id,
        update=admission,
        wait_for_stage=body.wait_for_stage,
    )
    updating.check_stage(body.wait_for_stage)
    async with long_poll(request, caller) if body.wait > 0 else nullcontext():
        return FastJSON(await updating.update_workflow(caller.engine, req, body.wait))


@router.get(
    "/workflows/{workflow_id}/updates/{update_id}",
    response_model=UpdateAnswer,
    summary="Poll an update's outcome (optionally waiting for it)",
    description="Temporal's PollWorkflowExecutionUpdate: stage COMPLETED with the outcome, or "
    "the stage reached when `wait` seconds pass. 404 for an id the workflow does not have (a "
    "rejected update is not kept).",
    responses=problem_responses(400, 401, 403, 404, 409, 429),
)
async def poll_update(
    workflow_id: WorkflowId,
    update_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)],
    request: Request,
    caller: NamespaceReader,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
    wait: Annotated[float, Query(ge=0, le=MAX_HISTORY_WAIT)] = MAX_HISTORY_WAIT,
) -> FastJSON:
    async with long_poll(request, caller) if wait > 0 else nullcontext():
        return FastJSON(
            await updating.poll_update(
                caller.engine, caller.namespace.id, workflow_id, run_id, update_id, wait
            )
        )


@router.post(
    "/workflows/{workflow_id}/update-with-start/{update_name}",
    response_model=UpdateWithStartAnswer,
    summary="Start a workflow (or take its running run) and send it an update",
    description="Temporal's ExecuteMultiOperation (start + update). `id_conflict_policy` is "
    "required; `start_delay` is refused. Not atomic (as Temporal documents): a run it "
    "started stays started even if the update is rejected. The same request sent again "
    "(same `update.update_id`, and request id) answers the same.",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 429),
)
async def update_with_start(
    workflow_id: WorkflowId,
    update_name: UpdateName,
    body: UpdateWithStart,
    request: Request,
    caller: NamespaceOperator,
    idempotency_key: IdempotencyKey = None,
) -> FastJSON:
    if body.id_conflict_policy is None:
        raise InvalidArgument(
            "update-with-start needs id_conflict_policy (USE_EXISTING, FAIL or "
            "TERMINATE_EXISTING), as in Temporal",
            field="id_conflict_policy",
        )
    updating.check_stage(body.update.wait_for_stage)
    key = request_key(
        caller.ctx.settings, idempotency_key, body, "update-with-start", workflow_id, update_name
    )
    start = start_request(caller, workflow_id, body, key)
    admission = _admission(body.update, update_name, caller.principal.key_name)
    req = updating.UpdateRequest(
        namespace_id=caller.namespace.id,
        workflow_id=workflow_id,
        run_id=None,
        first_execution_run_id=None,
        update=admission,
        wait_for_stage=body.update.wait_for_stage,
    )
    wait = body.update.wait
    async with long_poll(request, caller) if wait > 0 else nullcontext():
        ids, started, answer = await updating.update_with_start(caller.engine, start, req, wait)
    return FastJSON({**ids, "started": started, "update": answer})
