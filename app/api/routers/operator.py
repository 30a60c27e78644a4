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
from app.api.schemas.operator import PauseBody, ResetAnswer, ResetBody, RunRefAnswer
from app.engine import pause, reset
from app.engine.transition import Run, Transition

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


async def _pause_or_unpause(
    action: str,
    workflow_id: str,
    body: PauseBody,
    ctx: Context,
    engine: EngineDep,
    caller: NamespaceOperator,
    idempotency_key: str | None,
) -> FastJSON:
    identity = body.identity or caller.principal.key_name
    act = pause.pause if action == "pause" else pause.unpause

    async def change(tx: Transition, run: Run) -> None:
        await act(tx, run, identity=identity, reason=body.reason, request_id=body.request_id)

    key = request_key(ctx.settings, idempotency_key, body, action, workflow_id)
    run = await engine.transact(
        lambda tx: pause.on_run(
            tx, caller.namespace.id, workflow_id, body.run_id, key, action, change
        )
    )
    return FastJSON(
        {"workflow_id": run.workflow_id, "run_id": run.id, "status": pause.shown_status(run.data)}
    )


@router.post(
    "/workflows/{workflow_id}/pause",
    response_model=RunRefAnswer,
    summary="Pause a workflow: record everything, dispatch no workflow task",
    description=(
        "Temporal's Workflow Pause. While paused, signals, activity outcomes, timer firings "
        "and cancel requests are recorded and the workflow sees them after unpause; no "
        "workflow task is dispatched; queries and updates are refused (409 "
        "`workflow-paused`); terminate, reset and the run's timeouts act as usual. Status "
        "PAUSED, event WORKFLOW_EXECUTION_PAUSED, search attribute TemporalPauseInfo. Pausing "
        "a paused run changes nothing; 409 for a closed run."
    ),
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def pause_workflow(
    workflow_id: WorkflowId,
    body: PauseBody,
    ctx: Context,
    engine: EngineDep,
    caller: NamespaceOperator,
    idempotency_key: IdempotencyKey = None,
) -> FastJSON:
    return await _pause_or_unpause("pause", workflow_id, body, ctx, engine, caller, idempotency_key)


@router.post(
    "/workflows/{workflow_id}/unpause",
    response_model=RunRefAnswer,
    summary="Unpause a paused workflow",
    description=(
        "WORKFLOW_EXECUTION_UNPAUSED, and a workflow task at once so that the workflow sees "
        "what arrived while it was paused. 409 for a run that is not paused."
    ),
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def unpause_workflow(
    workflow_id: WorkflowId,
    body: PauseBody,
    ctx: Context,
    engine: EngineDep,
    caller: NamespaceOperator,
    idempotency_key: IdempotencyKey = None,
) -> FastJSON:
    return await _pause_or_unpause(
        "unpause", workflow_id, body, ctx, engine, caller, idempotency_key
    )
