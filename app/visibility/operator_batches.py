"""Batch operations of the operator controls: RESET, PAUSE and UNPAUSE of runs, and the
activity controls, each run acted on in the batch loop's transition (exactly once per run).

A job's `options` (JSON) hold what its action needs: `reset_options` for RESET (Temporal's
BatchOperationReset), `activity` for the activity operations (Temporal's
BatchOperationUnpauseActivities, …ResetActivities, …UpdateActivityOptions).
"""

from __future__ import annotations

from typing import Any

from app.engine import activity_controls, pause, reset
from app.engine.payloads import load
from app.engine.transition import Run, Transition
from app.visibility.batches import OperationType, operator_actions


def _options(job: Any) -> dict[str, Any]:
    return load(job["options"]) or {}


async def reset_run(tx: Transition, job: Any, run: Run) -> None:
    """Reset one run (its base is the matched run) as the job's `reset_options` say."""
    options = _options(job).get("reset_options") or {}
    await reset.reset(
        tx,
        reset.ResetRequest(
            namespace_id=run.namespace_id,
            workflow_id=run.workflow_id,
            run_id=run.id,
            reason=job["reason"] or f"batch operation {job['job_id']}",
            identity=job["identity"],
            event_id=options.get("event_id"),
            reset_type=reset.ResetType(options["reset_type"])
            if options.get("reset_type")
            else None,
            build_id=options.get("build_id"),
            exclude=frozenset(
                reset.ReapplyType(t) for t in options.get("reset_reapply_exclude_types") or []
            ),
        ),
    )


async def pause_run(tx: Transition, job: Any, run: Run) -> None:
    await pause.pause(tx, run, identity=job["identity"], reason=job["reason"], request_id=None)


async def unpause_run(tx: Transition, job: Any, run: Run) -> None:
    await pause.unpause(tx, run, identity=job["identity"], reason=job["reason"], request_id=None)


async def on_activities(tx: Transition, job: Any, run: Run) -> None:
    """One run's pending activities the job's `activity` names (404 problem kept as the run's
    failure when it has none)."""
    options = _options(job).get("activity") or {}
    target = activity_controls.Target(
        activity_id=options.get("activity_id"),
        activity_type=options.get("activity_type"),
        match_all=bool(options.get("match_all")),
    )
    kind = job["operation_type"]
    for activity in await activity_controls.pending(tx, run, target):
        if kind == OperationType.PAUSE_ACTIVITY:
            await activity_controls.pause(
                tx, run, activity, identity=job["identity"], reason=options.get("reason")
            )
        elif kind == OperationType.UNPAUSE_ACTIVITY:
            await activity_controls.unpause(
                tx,
                run,
                activity,
                reset_attempts=bool(options.get("reset_attempts")),
                reset_heartbeat=bool(options.get("reset_heartbeat")),
            )
        elif kind == OperationType.RESET_ACTIVITY:
            await activity_controls.reset(
                tx,
                run,
                activity,
                keep_paused=bool(options.get("keep_paused")),
                clear_heartbeat_details=bool(options.get("clear_heartbeat_details")),
            )
        else:
            await activity_controls.update_options(
                tx, run, activity, activity_controls.Options(**options["activity_options"])
            )


operator_actions[OperationType.RESET] = reset_run
operator_actions[OperationType.PAUSE] = pause_run
operator_actions[OperationType.UNPAUSE] = unpause_run
for _kind in (
    OperationType.PAUSE_ACTIVITY,
    OperationType.UNPAUSE_ACTIVITY,
    OperationType.RESET_ACTIVITY,
    OperationType.UPDATE_ACTIVITY_OPTIONS,
):
    operator_actions[_kind] = on_activities
