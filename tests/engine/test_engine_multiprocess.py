"""Several server processes on one PostgreSQL database: wake-ups cross processes through
LISTEN/NOTIFY, and every deadline fires exactly once."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import httpx
import pytest

from app.settings import Environment, Settings
from tests.conftest import ADMIN_TOKEN, Tenant, fresh_database, new_tenant, serve_app
from tests.rawhttp import Raw, complete_workflow, start_timer

pytestmark = pytest.mark.skipif(
    not os.environ.get("PERDURE_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="several server processes share a database only on PostgreSQL (SQLite serves one)",
)


def replica_settings(url: str, *, fallback: float = 2.0) -> Settings:
    return Settings(
        database_url=url,
        admin_token=ADMIN_TOKEN,
        environment=Environment.DEVELOPMENT,
        poll_fallback_seconds=fallback,
    )


def on(tenant: Tenant, base_url: str, queue: str) -> Raw:
    client = httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {tenant.admin_key}"}, timeout=60
    )
    return Raw(Tenant(tenant.name, tenant.admin_key, tenant.namespace, client), task_queue=queue)


async def test_a_poller_on_one_replica_is_woken_by_a_start_on_another(database_url):
    # A fallback far longer than the poll: only a NOTIFY can wake the poller in time.
    with fresh_database(database_url) as url:
        settings = replica_settings(url, fallback=120)
        async with serve_app(settings) as a, serve_app(settings) as b:
            async with httpx.AsyncClient(base_url=a.base_url) as http:
                tenant = await new_tenant(http)
            queue = f"q-{uuid.uuid4().hex[:6]}"
            poller, starter = on(tenant, a.base_url, queue), on(tenant, b.base_url, queue)

            # The poll may wait 30 s and looks again only when that ends; receiving the task within
            # 10 s therefore proves a wake-up crossed processes.
            waiting = asyncio.create_task(poller.poll_workflow_task(wait=30))
            # Start only once the poll is registered on replica A, so the task reaches it as a
            # wake-up and not by the poll's first look.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                described = await starter.c.get(tenant.ns(f"/task-queues/{queue}"))
                if described.json()["pollers"]:
                    break
                await asyncio.sleep(0.02)
            await starter.start("cross-replica")

            task = await asyncio.wait_for(waiting, 10)
            assert task is not None, "the poller on replica A was not woken by replica B's start"
            assert task["workflow_id"] == "cross-replica"
            for client in (poller.c, starter.c, tenant.client):
                await client.aclose()


async def test_timers_fire_exactly_once_with_two_deadline_loops(database_url):
    with fresh_database(database_url) as url:
        settings = replica_settings(url)
        async with serve_app(settings) as a, serve_app(settings) as b:
            assert a.ctx.settings.run_background_loops and b.ctx.settings.run_background_loops
            async with httpx.AsyncClient(base_url=a.base_url) as http:
                tenant = await new_tenant(http)
            raw = on(tenant, a.base_url, f"q-{uuid.uuid4().hex[:6]}")
            ids = [f"timer-{i}" for i in range(20)]
            for workflow_id in ids:
                await raw.start(workflow_id)
            completed: set[str] = set()
            for _ in range(4 * len(ids)):  # a decider: each task is answered from its history
                if len(completed) == len(ids):
                    break
                task = await raw.next_workflow_task(wait=20)
                seen = {e["event_type"] for e in task["history"]["events"]}
                if "TIMER_FIRED" in seen:
                    await raw.complete(task, complete_workflow())
                    completed.add(task["workflow_id"])
                else:
                    # Real time on purpose: both replicas' loops race for every timer.
                    await raw.complete(task, start_timer("t", 0.5))
            assert completed == set(ids)
            for workflow_id in ids:
                types = await raw.event_types(workflow_id)
                assert types.count("TIMER_FIRED") == 1, (workflow_id, types)
                assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED"
            await raw.c.aclose()
            await tenant.client.aclose()
