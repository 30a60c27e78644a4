"""Helpers for the replay gate's tests: a Worker Deployment version as a versioned poll would
record it, checks through the REST routes, and replay polls and answers in plain HTTP.

`register_version` writes a version's rows as a versioned poll records them (the SDK tests
make versions by real polls instead); it also sets what a poll cannot: the version's
`workflow_types` and the deployment's current build (app/db/tables/versioning.py)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tests.conftest import Tenant


def _sync_url(database_url: str) -> str:
    return database_url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")


def register_version(
    database_url: str,
    tenant: Tenant,
    deployment_name: str,
    build_id: str,
    *,
    task_queues: tuple[str, ...] = (),
    workflow_types: tuple[str, ...] = (),
    current_build_id: str = "",
) -> str:
    """Record version (deployment_name, build_id) polling `task_queues`, with the workflow
    types its workers completed; the deployment's current build is `current_build_id`.
    Returns the namespace id."""
    engine = sa.create_engine(_sync_url(database_url))
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            namespace_id = conn.execute(
                sa.text(
                    "SELECT namespaces.id FROM namespaces JOIN tenants "
                    "ON tenants.id = namespaces.tenant_id "
                    "WHERE tenants.name = :tenant AND namespaces.name = :namespace"
                ),
                {"tenant": tenant.name, "namespace": tenant.namespace},
            ).scalar_one()
            exists = conn.execute(
                sa.text(
                    "SELECT 1 FROM worker_deployments WHERE namespace_id = :ns AND name = :name"
                ),
                {"ns": namespace_id, "name": deployment_name},
            ).first()
            if exists is None:
                conn.execute(
                    sa.text(
                        "INSERT INTO worker_deployments (namespace_id, name, created_at, "
                        "current_build_id, ramping_percentage, routing_revision, conflict_token) "
                        "VALUES (:ns, :name, :now, :current, 0, 0, :token)"
                    ),
                    {
                        "ns": namespace_id,
                        "name": deployment_name,
                        "now": now,
                        "current": current_build_id,
                        "token": str(uuid.uuid4()),
                    },
                )
            conn.execute(
                sa.text(
                    "INSERT INTO worker_deployment_versions (namespace_id, deployment_name, "
                    "build_id, created_at, status, last_poll_time, workflow_types) "
                    "VALUES (:ns, :name, :build, :now, 'inactive', :now, :types)"
                ),
                {
                    "ns": namespace_id,
                    "name": deployment_name,
                    "build": build_id,
                    "now": now,
                    "types": json.dumps(list(workflow_types)),
                },
            )
            for queue in task_queues:
                conn.execute(
                    sa.text(
                        "INSERT INTO worker_deployment_task_queues (namespace_id, "
                        "deployment_name, build_id, task_queue, kind, first_poll_time, "
                        "last_poll_time) VALUES (:ns, :name, :build, :queue, 'workflow', "
                        ":now, :now)"
                    ),
                    {
                        "ns": namespace_id,
                        "name": deployment_name,
                        "build": build_id,
                        "queue": queue,
                        "now": now,
                    },
                )
    finally:
        engine.dispose()
    return str(namespace_id)


def version_path(tenant: Tenant, deployment_name: str, build_id: str, tail: str = "") -> str:
    return tenant.ns(f"/worker-deployment-versions/{deployment_name}/{build_id}{tail}")


async def start_check(
    tenant: Tenant, deployment_name: str, build_id: str, expect: int = 201, **body: Any
) -> dict[str, Any]:
    r = await tenant.client.post(
        version_path(tenant, deployment_name, build_id, "/replay-check"), json=body
    )
    assert r.status_code == expect, r.text
    result: dict[str, Any] = r.json()
    return result


async def get_check(
    tenant: Tenant, deployment_name: str, build_id: str, check_id: str
) -> dict[str, Any]:
    r = await tenant.client.get(
        version_path(tenant, deployment_name, build_id, f"/replay-checks/{check_id}")
    )
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def replay_poll(
    tenant: Tenant,
    task_queue: str,
    deployment_name: str,
    build_id: str,
    *,
    wait: float = 0,
    replay: bool = True,
) -> dict[str, Any] | None:
    """One workflow-task poll of a replay-capable poller of the version."""
    r = await tenant.client.post(
        tenant.ns(f"/task-queues/{task_queue}/workflow-tasks/poll"),
        json={
            "identity": "replayer",
            "wait": wait,
            "replay": replay,
            "deployment_options": {
                "deployment_name": deployment_name,
                "build_id": build_id,
                "worker_versioning_mode": "VERSIONED",
            },
        },
    )
    assert r.status_code in (200, 204), r.text
    return r.json() if r.status_code == 200 else None


async def answer(
    tenant: Tenant, token: str, outcome: str = "passed", expect: int = 200, **body: Any
) -> dict[str, Any]:
    r = await tenant.client.post(
        tenant.ns(f"/replay-tasks/{token}/complete"), json={"outcome": outcome, **body}
    )
    assert r.status_code == expect, r.text
    result: dict[str, Any] = r.json()
    return result
