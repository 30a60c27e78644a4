"""Worker Deployments from the client: list and describe deployments and versions, promote
(set current), ramp, and delete.

Perdure additions: temporalio's `Client` has no such methods (Temporal offers them through its
CLI and the WorkflowService RPCs). Mixed into `Client`; REST: `…/worker-deployments` and
`…/worker-deployment-versions`. Every change needs an admin key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perdure._http import segment
from perdure.replay_checks import ReplayCheckCalls

if TYPE_CHECKING:
    from perdure._http import Http


@dataclass(frozen=True)
class WorkerDeploymentVersion:
    """A version of a Worker Deployment; `build_id` "" names the unversioned workers."""

    deployment_name: str
    build_id: str

    @classmethod
    def _of(cls, value: dict[str, Any] | None) -> WorkerDeploymentVersion | None:
        return None if value is None else cls(value["deployment_name"], value["build_id"])


@dataclass(frozen=True)
class SetCurrentVersionResult:
    conflict_token: str
    previous_version: WorkerDeploymentVersion | None


@dataclass(frozen=True)
class SetRampingVersionResult:
    conflict_token: str
    previous_version: WorkerDeploymentVersion | None  # None: nothing ramped
    previous_percentage: float


def _checks(
    conflict_token: str | None,
    identity: str | None,
    ignore_missing_task_queues: bool,
    allow_no_pollers: bool,
    ignore_replay_check: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ignore_missing_task_queues": ignore_missing_task_queues,
        "allow_no_pollers": allow_no_pollers,
        "ignore_replay_check": ignore_replay_check,
    }
    if conflict_token is not None:
        body["conflict_token"] = conflict_token
    if identity is not None:
        body["identity"] = identity
    return body


class WorkerDeploymentCalls(ReplayCheckCalls):
    """The Worker Deployment calls of a `Client` (and its replay checks)."""

    http: Http
    identity: str

    async def list_worker_deployments(
        self, *, page_size: int = 100
    ) -> AsyncIterator[dict[str, Any]]:
        """Every deployment of the namespace by name: `{name, create_time, routing_config}`,
        fetched a page at a time."""
        token: str | None = None
        while True:
            params: dict[str, Any] = {"page_size": page_size}
            if token:
                params["next_page_token"] = token
            page = (await self.http.call("GET", "/worker-deployments", params=params)).json()
            for deployment in page["worker_deployments"]:
                yield deployment
            token = page.get("next_page_token")
            if not token:
                return

    async def describe_worker_deployment(self, deployment_name: str) -> dict[str, Any]:
        """`{worker_deployment_info: {name, create_time, routing_config, version_summaries,
        last_modifier_identity}, conflict_token}` (RPCError NOT_FOUND for an unknown one)."""
        path = f"/worker-deployments/{segment(deployment_name)}"
        return dict((await self.http.call("GET", path)).json())

    async def describe_worker_deployment_version(
        self, deployment_name: str, build_id: str
    ) -> dict[str, Any]:
        """`{worker_deployment_version_info: {version, status, drainage_info,
        task_queue_infos, ...}, pollers, open_runs: {PINNED, AUTO_UPGRADE}}`."""
        path = f"/worker-deployment-versions/{segment(deployment_name)}/{segment(build_id)}"
        return dict((await self.http.call("GET", path)).json())

    async def set_worker_deployment_current_version(
        self,
        deployment_name: str,
        build_id: str,
        *,
        conflict_token: str | None = None,
        identity: str | None = None,
        ignore_missing_task_queues: bool = False,
        allow_no_pollers: bool = False,
        ignore_replay_check: bool = False,
    ) -> SetCurrentVersionResult:
        """Make `build_id` ("" : the unversioned workers, a rollback) the current version.
        RPCError FAILED_PRECONDITION (409) for a stale `conflict_token`, a version without
        pollers or missing a task queue of the current one; NOT_FOUND for an unknown one."""
        body = _checks(
            conflict_token,
            identity or self.identity,
            ignore_missing_task_queues,
            allow_no_pollers,
            ignore_replay_check,
        )
        answer = (
            await self.http.call(
                "POST",
                f"/worker-deployments/{segment(deployment_name)}/set-current-version",
                json={"build_id": build_id, **body},
            )
        ).json()
        return SetCurrentVersionResult(
            answer["conflict_token"], WorkerDeploymentVersion._of(answer["previous_version"])
        )

    async def set_worker_deployment_ramping_version(
        self,
        deployment_name: str,
        build_id: str,
        percentage: float,
        *,
        conflict_token: str | None = None,
        identity: str | None = None,
        ignore_missing_task_queues: bool = False,
        allow_no_pollers: bool = False,
        ignore_replay_check: bool = False,
    ) -> SetRampingVersionResult:
        """Ramp `percentage` (0–100) % of new runs to `build_id`; "" ramps the unversioned
        workers, "" with 0 ends the ramp. Errors as `set_worker_deployment_current_version`."""
        body = _checks(
            conflict_token,
            identity or self.identity,
            ignore_missing_task_queues,
            allow_no_pollers,
            ignore_replay_check,
        )
        answer = (
            await self.http.call(
                "POST",
                f"/worker-deployments/{segment(deployment_name)}/set-ramping-version",
                json={"build_id": build_id, "percentage": percentage, **body},
            )
        ).json()
        return SetRampingVersionResult(
            answer["conflict_token"],
            WorkerDeploymentVersion._of(answer["previous_version"]),
            float(answer["previous_percentage"]),
        )

    async def delete_worker_deployment_version(
        self, deployment_name: str, build_id: str, *, skip_drainage: bool = False
    ) -> None:
        """Delete a version that is neither current nor ramping, unpolled for 5 minutes and
        drained (`skip_drainage` forces the last); FAILED_PRECONDITION saying why otherwise."""
        path = f"/worker-deployment-versions/{segment(deployment_name)}/{segment(build_id)}"
        params = {"skip_drainage": "true"} if skip_drainage else None
        await self.http.call("DELETE", path, params=params)

    async def delete_worker_deployment(self, deployment_name: str) -> None:
        """Delete a deployment with no version left; FAILED_PRECONDITION otherwise."""
        await self.http.call("DELETE", f"/worker-deployments/{segment(deployment_name)}")
