"""Callers' side of Workflow Update: send an update and wait for a stage, poll an update's
outcome, update-with-start. Each request is one transition (admission), then a long wait on
the run's wake-up through the same watcher as `result?wait=` (app/engine/reads.RunWatcher).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from app.db.connection import Connection
from app.engine import idempotency, lifecycle, updates
from app.engine.transition import Transition
from app.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from app.engine.service import Engine

WAIT_STAGES = ("ACCEPTED", "COMPLETED")


@dataclass
class UpdateRequest:
    """POST .../update/{name}: which run (the latest unless `run_id`; `first_execution_run_id`
    must name its chain's first run when given) and the update itself."""

    namespace_id: str
    workflow_id: str
    run_id: str | None
    first_execution_run_id: str | None
    update: updates.Admission
    wait_for_stage: str


def check_stage(stage: str) -> None:
    """Temporal refuses ADMITTED as a stage to wait for (the server cannot wait for less
    than acceptance: an admitted update is not durable there)."""
    if stage not in WAIT_STAGES:
        raise InvalidArgument(
            f"wait_for_stage must be ACCEPTED or COMPLETED, not '{stage}' (as in Temporal, "
            "an update cannot be waited for only until ADMITTED)",
            field="wait_for_stage",
        )


async def _admit(tx: Transition, req: UpdateRequest) -> dict[str, Any]:
    run = await tx.find_run(req.namespace_id, req.workflow_id, req.run_id)
    if req.first_execution_run_id and run.first_run_id != req.first_execution_run_id:
        raise NotFound(
            f"workflow '{req.workflow_id}' has no run of the chain started by run "
            f"'{req.first_execution_run_id}'",
            workflow_id=req.workflow_id,
        )
    return await updates.admit(tx, run, req.update)


async def update_workflow(engine: Engine, req: UpdateRequest, seconds: float) -> dict[str, Any]:
    """Admit the update (or find it: the same id in the run is the same update) and wait up to
    `seconds` for `req.wait_for_stage`. The answer names the stage reached: a wait that ends
    first answers with an earlier one (Temporal's long-poll expiry), and the caller asks again.
    Raises what `updates.admit` raises; WorkflowClosed when the run closed before accepting."""
    check_stage(req.wait_for_stage)
    row = await engine.transact(lambda tx: _admit(tx, req))
    return await wait(engine, row["run_id"], row["update_id"], req.wait_for_stage, seconds)


async def wait(
    engine: Engine, run_id: str, update_id: str, stage: str, seconds: float
) -> dict[str, Any]:
    """The update's answer once it reaches `stage` (a rejection is COMPLETED), or with the
    stage it reached when `seconds` pass. An update carried to the next run by
    continue-as-new is followed there."""
    deadline = time.monotonic() + seconds
    wanted = WAIT_STAGES.index(stage)
    while True:
        current = run_id

        async def reached(conn: Connection, current: str = current) -> Any:
            row = await updates.find(conn, current, update_id)
            if row is None:
                raise NotFound(f"update '{update_id}' not found", update_id=update_id)
            if row["state"] in ("moved", "aborted"):
                return row
            at = updates.stage_of(row["state"])
            return row if at != "ADMITTED" and WAIT_STAGES.index(at) >= wanted else None

        row = await engine.watcher.wait(current, reached, max(0.0, deadline - time.monotonic()))
        if row is None:  # the wait ended first: say where the update is
            async with engine.db.read() as conn:
                row = await updates.find(conn, current, update_id)
            if row is None:
                raise NotFound(f"update '{update_id}' not found", update_id=update_id)
        if row["state"] == "moved" and row["moved_to_run_id"]:
            run_id = row["moved_to_run_id"]
            if time.monotonic() < deadline:
                continue
            async with engine.db.read() as conn:
                row = await updates.find(conn, run_id, update_id)
            assert row is not None
        return updates.answer(row, row["run_id"])


async def poll_update(
    engine: Engine,
    namespace_id: str,
    workflow_id: str,
    run_id: str | None,
    update_id: str,
    seconds: float,
) -> dict[str, Any]:
    """GET .../updates/{update_id}: the update's outcome, waiting up to `seconds` for it
    (Temporal's PollWorkflowExecutionUpdate). NotFound for an id the workflow never accepted
    nor has in flight (a rejected id included)."""
    async with engine.db.read() as conn:
        row = await updates.find_in_workflow(conn, namespace_id, workflow_id, run_id, update_id)
    return await wait(engine, row["run_id"], update_id, "COMPLETED", seconds)


# -- update-with-start ------------------------------------------------------------------------


async def update_with_start(
    engine: Engine, start: lifecycle.StartRequest, req: UpdateRequest, seconds: float
) -> tuple[dict[str, Any], bool, dict[str, Any]]:
    """Start the workflow (or take its running run, as the conflict policy says) and send it
    the update, in one transaction; then wait as `update_workflow` does. Not atomic, as
    Temporal documents ("unlike Signal-with-Start"): a run it started stays started whatever
    the update's fate. (run's ids, started, update answer). A retry with the same request id
    answers the same run and, the update id being the same, the same update."""
    check_stage(req.wait_for_stage)
    if start.id_conflict_policy not in ("USE_EXISTING", "FAIL", "TERMINATE_EXISTING"):
        raise InvalidArgument(
            "update-with-start needs id_conflict_policy USE_EXISTING, FAIL or "
            "TERMINATE_EXISTING (Temporal refuses it unspecified)",
            field="id_conflict_policy",
        )
    if start.start_delay:
        raise InvalidArgument(
            "update-with-start cannot delay the start (the update needs the workflow to run)",
            field="start_delay",
        )
    if req.run_id or req.first_execution_run_id:
        raise InvalidArgument(
            "the update of an update-with-start names no run: it goes to the run the start gives",
            field="run_id",
        )
    key = start.request_key
    plain_start = replace(start, request_key=None)

    async def body(tx: Transition) -> tuple[dict[str, Any], bool, dict[str, Any]]:
        if key is not None:
            earlier = await idempotency.recall(tx, start.namespace_id, key)
            if earlier is not None:
                run = await tx.run(earlier.run_id)
                row = await updates.admit(tx, run, req.update)
                # Started the first time when the run is the one this request's start made.
                return _ids(run), run.request_id == key.key, row
        run, created = await lifecycle.start(tx, plain_start)
        if key is not None:
            await idempotency.remember(tx, start.namespace_id, key, "update-with-start", run)
        return _ids(run), created, await updates.admit(tx, run, req.update)

    ids, started, row = await engine.transact(body)
    answer = await wait(engine, row["run_id"], row["update_id"], req.wait_for_stage, seconds)
    return ids, started, answer


def _ids(run: Any) -> dict[str, Any]:
    return {"workflow_id": run.workflow_id, "run_id": run.id}
