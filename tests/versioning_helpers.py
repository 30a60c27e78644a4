"""Helpers of the Worker Versioning administration tests.

Versions come into being when versioned workers poll (issue #21, recorded by the routing
part). Until the poll path records them on this branch, `record_version_as_if_polled` and
`put_run_on_version_as_if_routed` write the rows a poll and a routed workflow task would
write, straight into the suite's database: every other step goes through REST.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.db.tables import (
    namespaces,
    tenants,
    worker_deployment_task_queues,
    worker_deployment_versions,
    worker_deployments,
    workflow_runs,
)
from tests.conftest import RunningServer, Tenant
from tests.tenancy_helpers import assert_problem

__all__ = ["assert_problem"]

# Every test that sets a non-empty current or ramping version skips the replay gate (the
# versioning contract), so that the gate can land without breaking it.
NO_GATE = {"ignore_replay_check": True}


async def namespace_id_of(server: RunningServer, tenant: Tenant) -> str:
    async with server.ctx.db.read() as conn:
        found = await conn.scalar(
            sa.select(namespaces.c.id)
            .join(tenants, tenants.c.id == namespaces.c.tenant_id)
            .where(tenants.c.name == tenant.name, namespaces.c.name == tenant.namespace)
        )
    assert found is not None
    return str(found)


async def record_version_as_if_polled(
    server: RunningServer,
    tenant: Tenant,
    deployment: str,
    build_id: str,
    queues: tuple[tuple[str, str], ...] = (("q", "workflow"),),
    *,
    polled_at: datetime | None = None,
    created_at: datetime | None = None,
) -> None:
    """The deployment (if new), the version and its (task queue, kind) rows, as a versioned
    worker's poll at `polled_at` (default: the server's clock now) records them."""
    namespace_id = await namespace_id_of(server, tenant)
    now = server.ctx.clock.now()
    polled_at = polled_at or now
    async with server.ctx.db.write() as conn:
        exists = await conn.scalar(
            sa.select(worker_deployments.c.name).where(
                worker_deployments.c.namespace_id == namespace_id,
                worker_deployments.c.name == deployment,
            )
        )
        if exists is None:
            await conn.execute(
                sa.insert(worker_deployments).values(
                    namespace_id=namespace_id,
                    name=deployment,
                    created_at=now,
                    current_build_id="",
                    ramping_percentage=0.0,
                    routing_revision=0,
                    conflict_token=str(uuid.uuid4()),
                )
            )
        await conn.execute(
            sa.insert(worker_deployment_versions).values(
                namespace_id=namespace_id,
                deployment_name=deployment,
                build_id=build_id,
                created_at=created_at or now,
                status="inactive",
                last_poll_time=polled_at,
            )
        )
        for queue, kind in queues:
            await conn.execute(
                sa.insert(worker_deployment_task_queues).values(
                    namespace_id=namespace_id,
                    deployment_name=deployment,
                    build_id=build_id,
                    task_queue=queue,
                    kind=kind,
                    first_poll_time=polled_at,
                    last_poll_time=polled_at,
                )
            )


async def age_version_polls(
    server: RunningServer, tenant: Tenant, deployment: str, build_id: str, *, by: timedelta
) -> None:
    """The version's workers stopped: its recorded polls moved `by` into the past."""
    namespace_id = await namespace_id_of(server, tenant)
    moment = server.ctx.clock.now() - by
    async with server.ctx.db.write() as conn:
        for table in (worker_deployment_versions, worker_deployment_task_queues):
            await conn.execute(
                sa.update(table)
                .where(
                    table.c.namespace_id == namespace_id,
                    table.c.deployment_name == deployment,
                    table.c.build_id == build_id,
                )
                .values(last_poll_time=moment)
            )


async def put_run_on_version_as_if_routed(
    server: RunningServer, run_id: str, deployment: str | None, build_id: str | None, behavior: str
) -> None:
    """The run's versioning columns as its routed workflow tasks leave them."""
    async with server.ctx.db.write() as conn:
        await conn.execute(
            sa.update(workflow_runs)
            .where(workflow_runs.c.id == run_id)
            .values(versioning_behavior=behavior, deployment_name=deployment, build_id=build_id)
        )


async def describe_deployment(tenant: Tenant, name: str) -> dict[str, Any]:
    answer = await tenant.client.get(tenant.ns(f"/worker-deployments/{name}"))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def describe_version(tenant: Tenant, name: str, build_id: str) -> dict[str, Any]:
    answer = await tenant.client.get(tenant.ns(f"/worker-deployment-versions/{name}/{build_id}"))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def status_of(tenant: Tenant, name: str, build_id: str) -> str:
    described = await describe_version(tenant, name, build_id)
    return str(described["worker_deployment_version_info"]["status"])


async def set_current(tenant: Tenant, name: str, build_id: str, **body: Any) -> Any:
    return await tenant.client.post(
        tenant.ns(f"/worker-deployments/{name}/set-current-version"),
        json={"build_id": build_id, **(NO_GATE if build_id else {}), **body},
    )


async def set_ramping(
    tenant: Tenant, name: str, build_id: str, percentage: float, **body: Any
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
