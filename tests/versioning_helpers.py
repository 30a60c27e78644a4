"""Worker Versioning test helpers: a versioned raw-HTTP worker, and the admin routes' calls
(versions from real polls, routing set through REST)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from app.db.tables import (
    namespaces,
    tenants,
    worker_deployment_task_queues,
    worker_deployment_versions,
)
from tests.conftest import RunningServer, Tenant
from tests.rawhttp import Raw
from tests.tenancy_helpers import assert_problem

__all__ = ["assert_problem"]

# Every test that sets a non-empty current or ramping version skips the replay gate (the
# versioning contract), so that the gate can land without breaking it.
NO_GATE = {"ignore_replay_check": True}


def options(deployment: str, build_id: str) -> dict[str, str]:
    return {
        "deployment_name": deployment,
        "build_id": build_id,
        "worker_versioning_mode": "VERSIONED",
    }


class VersionedRaw(Raw):
    """A raw-HTTP decider and worker of one version (`build_id` None: unversioned)."""

    def __init__(
        self, tenant: Tenant, deployment: str, build_id: str | None, task_queue: str = "q"
    ) -> None:
        super().__init__(tenant, task_queue)
        self.version = options(deployment, build_id) if build_id is not None else None

    def _extra(self) -> dict[str, Any]:
        return {"deployment_options": self.version} if self.version else {}

    async def poll(self, kind: str, *, wait: float = 0, queue: str | None = None) -> Any:
        r = await self.c.post(
            self.t.ns(f"/task-queues/{queue or self.q}/{kind}-tasks/poll"),
            json={"identity": "versioned", "wait": wait, **self._extra()},
        )
        assert r.status_code in (200, 204), r.text
        return r.json() if r.status_code == 200 else None

    async def complete_as(
        self, task: dict[str, Any], behavior: str | None, *commands: dict[str, Any], **extra: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"task_token": task["task_token"], "commands": list(commands)}
        if behavior is not None:
            body["versioning_behavior"] = behavior
        r = await self.c.post(
            self.t.ns("/workflow-tasks/complete"), json={**body, **self._extra(), **extra}
        )
        assert r.status_code == 200, r.text
        return dict(r.json())


async def namespace_id(server: RunningServer, tenant: Tenant) -> str:
    async with server.ctx.db.read() as conn:
        found = await conn.scalar(
            sa.select(namespaces.c.id)
            .join(tenants, tenants.c.id == namespaces.c.tenant_id)
            .where(tenants.c.name == tenant.name, namespaces.c.name == tenant.namespace)
        )
    assert found is not None
    return str(found)


async def set_routing(
    server: RunningServer,
    tenant: Tenant,
    deployment: str,
    *,
    current: str,
    ramping: str | None = None,
    percentage: float = 0.0,
) -> None:
    """Make `current` the deployment's current version (and `ramping` its ramping one at
    `percentage`) through the admin routes, once the versions named have polled (an SDK
    worker's first poll may still be on its way)."""
    ns = await namespace_id(server, tenant)
    for build_id in {current, ramping} - {None, ""}:
        await version_polled(server, ns, deployment, str(build_id))
    base = tenant.ns(f"/worker-deployments/{deployment}")
    r = await tenant.client.post(
        f"{base}/set-current-version", json={"build_id": current, "ignore_replay_check": True}
    )
    assert r.status_code == 200, r.text
    if ramping is not None:
        r = await tenant.client.post(
            f"{base}/set-ramping-version",
            json={"build_id": ramping, "percentage": percentage, "ignore_replay_check": True},
        )
        assert r.status_code == 200, r.text


async def version_polled(
    server: RunningServer, ns: str, deployment: str, build_id: str, *, tries: int = 300
) -> None:
    """Wait until a worker of the version polled both task kinds (read every 20 ms, 6 s at
    most), as a user would see it in the version's task queues."""
    for _ in range(tries):
        async with server.ctx.db.read() as conn:
            kinds = set(
                (
                    await conn.execute(
                        sa.select(worker_deployment_task_queues.c.kind).where(
                            worker_deployment_task_queues.c.namespace_id == ns,
                            worker_deployment_task_queues.c.deployment_name == deployment,
                            worker_deployment_task_queues.c.build_id == build_id,
                        )
                    )
                ).scalars()
            )
        if kinds >= {"workflow", "activity"}:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no worker of {deployment}.{build_id} polled")


# -- the admin routes (set-current, set-ramping, describes) ------------------------------------


async def poll_as_version(
    tenant: Tenant,
    deployment: str,
    build_id: str,
    queues: tuple[tuple[str, str], ...] = (("q", "workflow"),),
    *,
    expect: tuple[int, ...] = (200, 204),
) -> Any:
    """A worker of the version polls each (task queue, kind) once without waiting: the
    deployment, the version and its queues now exist. Returns the last answer."""
    answer = None
    for queue, kind in queues:
        answer = await tenant.client.post(
            tenant.ns(f"/task-queues/{queue}/{kind}-tasks/poll"),
            json={
                "identity": "versioned",
                "wait": 0,
                "deployment_options": options(deployment, build_id),
            },
        )
        assert answer.status_code in expect, answer.text
    return answer


async def age_version_polls(
    server: RunningServer, tenant: Tenant, deployment: str, build_id: str, *, by: timedelta
) -> None:
    """The version's workers stopped `by` ago: its recorded polls moved into the past in the
    database (only this version's: moving the whole clock would age every other one too)."""
    ns = await namespace_id(server, tenant)
    moment = server.ctx.clock.now() - by
    async with server.ctx.db.write() as conn:
        for table in (worker_deployment_versions, worker_deployment_task_queues):
            await conn.execute(
                sa.update(table)
                .where(
                    table.c.namespace_id == ns,
                    table.c.deployment_name == deployment,
                    table.c.build_id == build_id,
                )
                .values(last_poll_time=moment)
            )


def pinned_to(deployment: str, build_id: str) -> dict[str, Any]:
    """A pinned versioning override (the start's and update-options' wire shape)."""
    return {
        "pinned": {
            "behavior": "PINNED",
            "version": {"deployment_name": deployment, "build_id": build_id},
        }
    }


async def start_pinned(
    tenant: Tenant, deployment: str, build_id: str, task_queue: str | None = None
) -> tuple[str, str]:
    """A run started with a pinned override (test traffic to a version): (workflow id,
    run id); by default on a queue of its own that nothing polls."""
    workflow_id = f"wf-{uuid.uuid4().hex[:12]}"
    answer = await tenant.client.post(
        tenant.ns(f"/workflows/{workflow_id}"),
        json={
            "workflow_type": "Flow",
            "task_queue": task_queue or f"q-{uuid.uuid4().hex[:12]}",
            "versioning_override": pinned_to(deployment, build_id),
        },
    )
    assert answer.status_code == 201, answer.text
    return workflow_id, str(answer.json()["run_id"])


async def repin(tenant: Tenant, workflow_id: str, deployment: str, build_id: str) -> None:
    """Change an open run's override to another version (update-options): it leaves its
    version without closing."""
    answer = await tenant.client.post(
        tenant.ns(f"/workflows/{workflow_id}/update-options"),
        json={
            "workflow_execution_options": {"versioning_override": pinned_to(deployment, build_id)},
            "update_mask": "versioning_override",
        },
    )
    assert answer.status_code == 200, answer.text


async def describe_deployment(tenant: Tenant, name: str) -> dict[str, Any]:
    answer = await tenant.client.get(tenant.ns(f"/worker-deployments/{name}"))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def describe_version(tenant: Tenant, name: str, build_id: str) -> dict[str, Any]:
    answer = await tenant.client.get(tenant.ns(f"/worker-deployment-versions/{name}/{build_id}"))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def status_of(tenant: Tenant, name: str, build_id: str) -> str:
    described = await describe_version(tenant, name, build_id)
    return str(described["worker_deployment_version_info"]["status"])


async def set_current(tenant: Tenant, name: str, build_id: str, **body: Any) -> Any:
    return await tenant.client.post(
        tenant.ns(f"/worker-deployments/{name}/set-current-version"),
        json={"build_id": build_id, **(NO_GATE if build_id else {}), **body},
    )


async def set_ramping(
    tenant: Tenant, name: str, build_id: str, percentage: Any, **body: Any
) -> Any:
    return await tenant.client.post(
        tenant.ns(f"/worker-deployments/{name}/set-ramping-version"),
        json={
            "build_id": build_id,
            "percentage": percentage,
            **(NO_GATE if build_id else {}),
            **body,
        },
    )
