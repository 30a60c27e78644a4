"""Batch operations of the operator controls: RESET, PAUSE and UNPAUSE of runs, each run
acted on in the batch loop's transition (exactly once per run).

A job's `options` (JSON) hold what its action needs: `reset_options` for RESET (Temporal's
BatchOperationReset).
"""

from __future__ import annotations

from typing import Any

from app.engine import pause, reset
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


operator_actions[OperationType.RESET] = reset_run
operator_actions[OperationType.PAUSE] = pause_run
operator_actions[OperationType.UNPAUSE] = unpause_run
