"""The replay gate's routes (issue #21 §3): start a replay check of a Worker Deployment version
(`operate`), read its progress (`read`), and answer a replay task (`work`). Perdure's
addition; the version routes' prefix follows Temporal's HTTP API."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Path, status

from app.api.deps import NamespaceOperator, NamespaceReader, NamespaceWorker
from app.api.edge import EdgeRouter
from app.api.problems import problem_responses
from app.api.responses import FastJSON
from app.api.schemas.common import DEFAULT_PAGE, PageSize, PageToken
from app.api.schemas.replay_checks import (
    CompleteReplayTask,
    ReplayCheck,
    ReplayChecks,
    ReplayTaskAnswered,
    StartReplayCheck,
)
from app.engine.versioning import replay_checks, replay_tasks

router = EdgeRouter(prefix="/api/v1/namespaces/{namespace}", tags=["worker deployments"])

DeploymentName = Annotated[str, Path(min_length=1, max_length=255)]
BuildId = Annotated[str, Path(min_length=1, max_length=255)]
CheckId = Annotated[str, Path(min_length=1, max_length=36)]
ReplayToken = Annotated[str, Path(min_length=1, max_length=36)]
VERSION = "/worker-deployment-versions/{deployment_name}/{build_id}"


@router.post(
    VERSION + "/replay-check",
    status_code=status.HTTP_201_CREATED,
    response_model=ReplayCheck,
    summary="Start a replay check of a version (the replay gate)",
    description=(
        "Samples up to `sample_size` runs — the open runs that will run on this version once it "
        "is current or ramping (auto-upgrade runs of the deployment, runs pinned to this "
        "version, and on a first versioned deploy the unversioned runs of the version's task "
        "queues), then recently closed runs of the same workflow types — optionally narrowed "
        "by the list filter `query`, and hands each history to pollers of the version that "
        "declare `replay: true`. A check with nothing to replay has passed at once. A finished "
        "check decides set-current and set-ramping for 24 hours. 404 when no worker of the "
        "version has polled; 400 for a bad filter."
    ),
    responses=problem_responses(400, 401, 403, 404, 413, 504),
)
async def start_replay_check(
    deployment_name: DeploymentName,
    build_id: BuildId,
    body: StartReplayCheck,
    caller: NamespaceOperator,
) -> FastJSON:
    check = await replay_checks.start(
        caller.engine,
        caller.namespace.id,
        deployment_name,
        build_id,
        sample_size=body.sample_size,
        query=body.query,
        identity=body.identity or caller.principal.key_name,
    )
    return FastJSON(check, status_code=status.HTTP_201_CREATED)


@router.get(
    VERSION + "/replay-checks",
    response_model=ReplayChecks,
    summary="List a version's replay checks, newest first",
    responses=problem_responses(400, 401, 403, 404),
)
async def list_replay_checks(
    deployment_name: DeploymentName,
    build_id: BuildId,
    caller: NamespaceReader,
    page_size: PageSize = DEFAULT_PAGE,
    next_page_token: PageToken = None,
) -> FastJSON:
    return FastJSON(
        await replay_checks.list_checks(
            caller.engine,
            caller.namespace.id,
            deployment_name,
            build_id,
            page_size,
            next_page_token,
        )
    )


@router.get(
    VERSION + "/replay-checks/{check_id}",
    response_model=ReplayCheck,
    summary="A replay check: progress, what it waits for, failing runs",
    responses=problem_responses(401, 403, 404),
)
async def get_replay_check(
    deployment_name: DeploymentName,
    build_id: BuildId,
    check_id: CheckId,
    caller: NamespaceReader,
) -> FastJSON:
    return FastJSON(
        await replay_checks.describe(
            caller.engine, caller.namespace.id, deployment_name, build_id, check_id
        )
    )


@router.post(
    "/replay-tasks/{token}/complete",
    response_model=ReplayTaskAnswered,
    summary="Answer a replay task: the history replayed cleanly, or where it diverged",
    description=(
        "`outcome` passed, or failed with `failure` {message, kind (nondeterminism, "
        "not-registered, error), event_id?}. 404 for a token that is unknown, answered already, "
        "or handed out again after its deadline."
    ),
    responses=problem_responses(400, 401, 403, 404, 413),
)
async def complete_replay_task(
    token: ReplayToken, body: CompleteReplayTask, caller: NamespaceWorker
) -> FastJSON:
    failure = body.failure.model_dump() if body.failure is not None else None
    await caller.engine.transact(
        partial(
            replay_tasks.answer,
            namespace_id=caller.namespace.id,
            token=token,
            outcome=body.outcome,
            failure=failure,
        )
    )
    return FastJSON({"ok": True})
