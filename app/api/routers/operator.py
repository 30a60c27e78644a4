"""Operator controls of a workflow: reset, pause and unpause (Temporal's ResetWorkflowExecution
and Workflow Pause), and the controls of its pending activities."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import status

from app.api.deps import NamespaceOperator
from app.api.edge import EdgeRouter
from app.api.idempotency import IdempotencyKey, request_key
from app.api.problems import problem_responses
from app.api.responses import FastJSON
from app.api.routers.workflows import WorkflowId
from app.api.schemas.operator import (
    ActivityControlAnswer,
    ActivityOnRun,
    PauseActivityBody,
    PauseBody,
    ResetActivityBody,
    ResetAnswer,
    ResetBody,
    RunRefAnswer,
    UnpauseActivityBody,
    UpdateActivityOptionsBody,
)
from app.engine import activity_controls, pause, reset
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
        request_key=request_key(caller.ctx.settings, idempotency_key, body, "reset", workflow_id),
    )
    new_run = await caller.engine.transact(lambda tx: reset.reset(tx, req))
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
    caller: NamespaceOperator,
    idempotency_key: str | None,
) -> FastJSON:
    identity = body.identity or caller.principal.key_name
    act = pause.pause if action == "pause" else pause.unpause

    async def change(tx: Transition, run: Run) -> None:
        await act(tx, run, identity=identity, reason=body.reason, request_id=body.request_id)

    key = request_key(caller.ctx.settings, idempotency_key, body, action, workflow_id)
    run = await caller.engine.transact(
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
    caller: NamespaceOperator,
    idempotency_key: IdempotencyKey = None,
) -> FastJSON:
    return await _pause_or_unpause("pause", workflow_id, body, caller, idempotency_key)


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
    caller: NamespaceOperator,
    idempotency_key: IdempotencyKey = None,
) -> FastJSON:
    return await _pause_or_unpause("unpause", workflow_id, body, caller, idempotency_key)


# -- activity controls -------------------------------------------------------------------------

ACTIVITY_ERRORS = problem_responses(400, 401, 403, 404, 409)


async def _on_activities(
    workflow_id: str,
    body: ActivityOnRun,
    caller: NamespaceOperator,
    control: Callable[[Transition, Run, Any], Awaitable[dict[str, Any]]],
) -> FastJSON:
    """Apply `control` to each pending activity the body names, in one transition; 404 when
    the run has none such."""
    target = activity_controls.Target(
        activity_id=body.activity_id, activity_type=body.activity_type, match_all=body.match_all
    )

    async def act(tx: Transition) -> tuple[Run, list[dict[str, Any]]]:
        run = await tx.find_run(caller.namespace.id, workflow_id, body.run_id)
        rows = await activity_controls.pending(tx, run, target)
        return run, [await control(tx, run, row) for row in rows]

    run, done = await caller.engine.transact(act)
    return FastJSON(
        {
            "workflow_id": run.workflow_id,
            "run_id": run.id,
            "activities": [activity_controls.shown(a) for a in done],
        }
    )


@router.post(
    "/workflows/{workflow_id}/activities/pause",
    response_model=ActivityControlAnswer,
    summary="Pause pending activities of a run",
    description=(
        "Temporal 1.28's PauseActivity: no new attempt is dispatched; an attempt under way "
        "goes on, learns of the pause at its next heartbeat (`activity_paused`) and should "
        "stop; one that does not heartbeat runs to completion and, if it fails, is not retried "
        "until unpaused. No history event. 404 when the run has no such pending activity."
    ),
    responses=ACTIVITY_ERRORS,
)
async def pause_activities(
    workflow_id: WorkflowId, body: PauseActivityBody, caller: NamespaceOperator
) -> FastJSON:
    identity = body.identity or caller.principal.key_name
    return await _on_activities(
        workflow_id,
        body,
        caller,
        lambda tx, run, a: activity_controls.pause(
            tx, run, a, identity=identity, reason=body.reason
        ),
    )


@router.post(
    "/workflows/{workflow_id}/activities/unpause",
    response_model=ActivityControlAnswer,
    summary="Unpause pending activities of a run",
    description="The next attempt is dispatched at once, the attempt count kept unless "
    "`reset_attempts`.",
    responses=ACTIVITY_ERRORS,
)
async def unpause_activities(
    workflow_id: WorkflowId,
    body: UnpauseActivityBody,
    caller: NamespaceOperator,
) -> FastJSON:
    return await _on_activities(
        workflow_id,
        body,
        caller,
        lambda tx, run, a: activity_controls.unpause(
            tx, run, a, reset_attempts=body.reset_attempts, reset_heartbeat=body.reset_heartbeat
        ),
    )


@router.post(
    "/workflows/{workflow_id}/activities/reset",
    response_model=ActivityControlAnswer,
    summary="Reset pending activities of a run to attempt 1",
    description="Heartbeat details are kept unless `clear_heartbeat_details`; a paused "
    "activity is unpaused unless `keep_paused`. An attempt under way learns of it at its next "
    "heartbeat (`activity_reset`).",
    responses=ACTIVITY_ERRORS,
)
async def reset_activities(
    workflow_id: WorkflowId, body: ResetActivityBody, caller: NamespaceOperator
) -> FastJSON:
    return await _on_activities(
        workflow_id,
        body,
        caller,
        lambda tx, run, a: activity_controls.reset(
            tx,
            run,
            a,
            keep_paused=body.keep_paused,
            clear_heartbeat_details=body.clear_heartbeat_details,
        ),
    )


@router.post(
    "/workflows/{workflow_id}/activities/update-options",
    response_model=ActivityControlAnswer,
    summary="Change the timeouts or retry policy of pending activities",
    description="What is given replaces the activity's own, from its next attempt on; the "
    "schedule-to-close deadline moves at once.",
    responses=ACTIVITY_ERRORS,
)
async def update_activity_options(
    workflow_id: WorkflowId,
    body: UpdateActivityOptionsBody,
    caller: NamespaceOperator,
) -> FastJSON:
    options = activity_controls.Options(**body.activity_options.model_dump())
    return await _on_activities(
        workflow_id,
        body,
        caller,
        lambda tx, run, a: activity_controls.update_options(tx, run, a, options),
    )
