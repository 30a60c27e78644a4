"""A running workflow's options (Temporal's UpdateWorkflowExecutionOptions): today its Worker
Versioning override."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from app.api.deps import NamespaceOperator
from app.api.edge import EdgeRouter
from app.api.problems import problem_responses
from app.api.responses import FastJSON
from app.api.schemas.worker_versioning import UpdateWorkflowOptions, WorkflowOptions
from app.engine.run_limits import MAX_ID_LENGTH
from app.engine.transition import Transition
from app.engine.versioning import runs as versioning_runs

router = EdgeRouter(prefix="/api/v1/namespaces/{namespace}", tags=["workflows"])

WorkflowId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, description="Workflow id")]


@router.post(
    "/workflows/{workflow_id}/update-options",
    response_model=WorkflowOptions,
    summary="Change a running workflow's options (its versioning override)",
    description="Temporal's UpdateWorkflowExecutionOptions with `update_mask: "
    "versioning_override`: a pinned override sends every task of the run to that version's "
    "workers from now on, `auto_upgrade` makes it follow its deployment's current version, "
    "null removes the override (the behaviour its workers declared applies again).",
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def update_workflow_options(
    workflow_id: WorkflowId,
    body: UpdateWorkflowOptions,
    caller: NamespaceOperator,
) -> FastJSON:
    given = body.workflow_execution_options.versioning_override
    override = versioning_runs.parse_override(given.as_json() if given is not None else None)

    async def change(tx: Transition) -> dict[str, object]:
        return await versioning_runs.update_options(
            tx,
            caller.namespace.id,
            workflow_id,
            body.run_id,
            override,
            body.identity or caller.principal.key_name,
        )

    options = await caller.engine.transact(change)
    return FastJSON({"workflow_execution_options": options})
