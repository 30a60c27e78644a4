"""Worker Deployment routes (Temporal's HTTP API): list and describe deployments and versions,
set the current and ramping versions, delete versions and deployments. Every change is an
admin action (the `manage` permission), logged once it commits."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response

from app.api.deps import NamespaceAdmin, NamespaceReader
from app.api.edge import EdgeRouter
from app.api.problems import problem_responses
from app.api.responses import FastJSON
from app.api.schemas.common import DEFAULT_PAGE, PageSize, PageToken
from app.api.schemas.versioning import (
    DescribedWorkerDeployment,
    DescribedWorkerDeploymentVersion,
    PromotionBody,
    SetCurrentVersion,
    SetCurrentVersionAnswer,
    SetRampingVersion,
    SetRampingVersionAnswer,
    WorkerDeploymentList,
)
from app.engine.transition import Transition
from app.engine.versioning import deletion, deployments, promotion

router = EdgeRouter(prefix="/api/v1/namespaces/{namespace}", tags=["worker deployments"])

DeploymentName = Annotated[
    str, Path(min_length=1, max_length=255, description="The Worker Deployment's name")
]
BuildId = Annotated[str, Path(min_length=1, max_length=255, description="The version's build id")]
CHANGE_ERRORS = problem_responses(400, 401, 403, 404, 409)


def _checks(body: PromotionBody, caller: NamespaceAdmin) -> promotion.PromotionChecks:
    return promotion.PromotionChecks(
        conflict_token=body.conflict_token,
        identity=body.identity or caller.principal.key_name,
        ignore_missing_task_queues=body.ignore_missing_task_queues,
        allow_no_pollers=body.allow_no_pollers,
        ignore_replay_check=body.ignore_replay_check,
    )


@router.get(
    "/worker-deployments",
    response_model=WorkerDeploymentList,
    summary="List the namespace's Worker Deployments by name",
    responses=problem_responses(400, 401, 403, 404),
)
async def list_worker_deployments(
    caller: NamespaceReader,
    page_size: PageSize = DEFAULT_PAGE,
    next_page_token: PageToken = None,
) -> FastJSON:
    async with caller.ctx.db.read() as conn:
        page = await deployments.list_deployments(
            conn, caller.namespace.id, page_size, next_page_token
        )
    return FastJSON(page)


@router.get(
    "/worker-deployments/{deployment_name}",
    response_model=DescribedWorkerDeployment,
    summary="A Worker Deployment: its routing, its versions and its conflict token",
    responses=problem_responses(400, 401, 403, 404),
)
async def describe_worker_deployment(
    deployment_name: DeploymentName, caller: NamespaceReader
) -> FastJSON:
    async with caller.ctx.db.read() as conn:
        return FastJSON(
            await deployments.describe_deployment(conn, caller.namespace.id, deployment_name)
        )


@router.delete(
    "/worker-deployments/{deployment_name}",
    status_code=204,
    summary="Delete a Worker Deployment that has no version left",
    description="Temporal's DeleteWorkerDeployment: 409 while it has versions.",
    responses=CHANGE_ERRORS,
)
async def delete_worker_deployment(
    deployment_name: DeploymentName, caller: NamespaceAdmin
) -> Response:
    await caller.engine.transact(
        lambda tx: deletion.delete_deployment(
            tx, caller.namespace.id, deployment_name, identity=caller.principal.key_name
        )
    )
    return Response(status_code=204)


@router.post(
    "/worker-deployments/{deployment_name}/set-current-version",
    response_model=SetCurrentVersionAnswer,
    summary="Make a version (or the unversioned workers) the deployment's current version",
    description="Temporal's SetWorkerDeploymentCurrentVersion. 409 `conflict-token-mismatch` "
    "when `conflict_token` is not the deployment's; 404 for an unknown version; 409 "
    "`no-pollers` when no worker of it polled in the last 5 minutes (`allow_no_pollers`); 409 "
    "`missing-task-queues` when it does not poll a task queue the current version polls "
    "(`ignore_missing_task_queues`). A ramping version made current stops ramping; the "
    "previous current version drains.",
    responses=CHANGE_ERRORS,
)
async def set_current_version(
    deployment_name: DeploymentName,
    body: SetCurrentVersion,
    caller: NamespaceAdmin,
) -> FastJSON:
    checks = _checks(body, caller)

    async def change(tx: Transition) -> dict[str, object]:
        return await promotion.set_current_version(
            tx, caller.namespace.id, deployment_name, body.build_id, checks
        )

    return FastJSON(await caller.engine.transact(change))


@router.post(
    "/worker-deployments/{deployment_name}/set-ramping-version",
    response_model=SetRampingVersionAnswer,
    summary="Ramp a percentage of new runs to a version (or the unversioned workers)",
    description='Temporal\'s SetWorkerDeploymentRampingVersion. `build_id` "" with a '
    "percentage above 0 ramps the unversioned workers, with 0 ends the ramp. The current "
    "version cannot ramp (409). A version that starts ramping is checked as by set-current; "
    "changing only the percentage is not.",
    responses=CHANGE_ERRORS,
)
async def set_ramping_version(
    deployment_name: DeploymentName,
    body: SetRampingVersion,
    caller: NamespaceAdmin,
) -> FastJSON:
    checks = _checks(body, caller)

    async def change(tx: Transition) -> dict[str, object]:
        return await promotion.set_ramping_version(
            tx, caller.namespace.id, deployment_name, body.build_id, body.percentage, checks
        )

    return FastJSON(await caller.engine.transact(change))


@router.get(
    "/worker-deployment-versions/{deployment_name}/{build_id}",
    response_model=DescribedWorkerDeploymentVersion,
    summary="A version: status, drainage, task queues, pollers and open runs by behaviour",
    responses=problem_responses(400, 401, 403, 404),
)
async def describe_worker_deployment_version(
    deployment_name: DeploymentName, build_id: BuildId, caller: NamespaceReader
) -> FastJSON:
    async with caller.ctx.db.read() as conn:
        return FastJSON(
            await deployments.describe_version(
                conn, caller.namespace.id, deployment_name, build_id, caller.ctx.clock.now()
            )
        )


@router.delete(
    "/worker-deployment-versions/{deployment_name}/{build_id}",
    status_code=204,
    summary="Delete a version that is not current or ramping, unpolled and drained",
    description="Temporal's DeleteWorkerDeploymentVersion: 409 saying why when it is current "
    "or ramping, a worker of it polled in the last 5 minutes, or runs pinned to it are open "
    "(`skip_drainage=true` forces the last).",
    responses=CHANGE_ERRORS,
)
async def delete_worker_deployment_version(
    deployment_name: DeploymentName,
    build_id: BuildId,
    caller: NamespaceAdmin,
    skip_drainage: Annotated[
        bool, Query(description="Delete it even if runs pinned to it are open.")
    ] = False,
) -> Response:
    await caller.engine.transact(
        lambda tx: deletion.delete_version(
            tx,
            caller.namespace.id,
            deployment_name,
            build_id,
            skip_drainage=skip_drainage,
            identity=caller.principal.key_name,
        )
    )
    return Response(status_code=204)
