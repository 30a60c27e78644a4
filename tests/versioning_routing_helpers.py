"""Worker Versioning routing test helpers: a versioned raw-HTTP worker, and a deployment's
routing set through the admin routes (set-current / set-ramping)."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from app.db.tables import (
    namespaces,
    tenants,
    worker_deployment_task_queues,
)
from tests.conftest import RunningServer, Tenant
from tests.rawhttp import Raw


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
