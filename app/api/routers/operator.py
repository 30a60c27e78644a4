"""Operator controls of a workflow: reset, pause and unpause (Temporal's ResetWorkflowExecution
and Workflow Pause), and the controls of its pending activities."""

from __future__ import annotations

from fastapi import status

from app.api.deps import Context, EngineDep, NamespaceOperator
from app.api.edge import EdgeRouter
from app.api.idempotency import IdempotencyKey, request_key
from app.api.problems import problem_responses
from app.api.responses import FastJSON
from app.api.routers.workflows import WorkflowId
from app.api.schemas.operator import ResetAnswer, ResetBody
from app.engine import reset

router = EdgeRouter(prefix="/api/v1/namespaces/{namespace}", tags=["operator controls"])


@router.post(
    "/workflows/{workflow_id}/reset",
    status_code=status.HTTP_200_OK,
    response_model=ResetAnswer,
    summary="Reset a workflow to a workflow task of one of its runs",
    description=(
        "Terminates the workflow's open run with `reason` and starts a new run of the same id "
        "from the base run's history up to the chosen workflow task (an `event_id` or a "
        "`reset_type`), with the signals (and updates) received after it reapplied unless "
        "excluded. Pending timers keep their fire times, pending activities run again, open "
        "children stay connected. A retry with the same request id (`Idempotency-Key` or "
        "`request_id`) answers the first reset's new run. 400 for a point that is not a "
        "workflow task event of the run."
    ),
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def reset_workflow(
    workflow_id: WorkflowId,
    body: ResetBody,
    ctx: Context,
    engine: EngineDep,
    caller: NamespaceOperator,
    idempotency_key: IdempotencyKey = None,
) -> FastJSON:
    req = reset.ResetRequest(
        namespace_id=caller.namespace.id,
        workflow_id=workflow_id,
        run_id=body.run_id,
        reason=body.reason,
        identity=body.identity or caller.principal.key_name,
        event_id=body.event_id,
        reset_type=body.reset_type,
        build_id=body.build_id,
        exclude=frozenset(body.reset_reapply_exclude_types),
        request_key=request_key(ctx.settings, idempotency_key, body, "reset", workflow_id),
    )
    new_run = await engine.transact(lambda tx: reset.reset(tx, req))
    return FastJSON(
        {
            "workflow_id": new_run.workflow_id,
            "run_id": new_run.id,
            "base_run_id": new_run.reset_from_run_id,
        }
    )
