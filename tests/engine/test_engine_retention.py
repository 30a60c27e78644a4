"""Closed runs are deleted once their namespace's retention has passed; nothing else is."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tests.conftest import Tenant
from tests.rawhttp import Raw, complete_workflow


async def finished_run(raw: Raw, workflow_id: str) -> None:
    await raw.start(workflow_id)
    await raw.complete(await raw.next_workflow_task(), complete_workflow("done"))


async def test_closed_runs_past_retention_are_deleted_and_others_kept(tenant, server):
    made = await tenant.client.post(
        "/api/v1/namespaces", json={"name": "short", "retention_days": 1}
    )
    assert made.status_code == 201, made.text
    short = Raw(
        Tenant(tenant.name, tenant.admin_key, "short", tenant.client),
        task_queue=f"q-{uuid.uuid4().hex[:6]}",
    )
    long = Raw(tenant, task_queue=f"q-{uuid.uuid4().hex[:6]}")  # namespace `main`: 30 days
    await finished_run(short, "expires")
    await short.start("still-running")
    await finished_run(long, "kept")

    server.ctx.clock.advance(timedelta(days=2))
    assert await server.app.state.engine.deadline_loop.purge_expired_runs() >= 1

    gone = await tenant.client.get(tenant.ns("/workflows/expires").replace("/main/", "/short/"))
    assert gone.status_code == 404
    assert (await short.describe("still-running"))["status"] == "RUNNING"
    assert (await long.describe("kept"))["status"] == "COMPLETED"
    assert len(await long.history("kept")) > 0
