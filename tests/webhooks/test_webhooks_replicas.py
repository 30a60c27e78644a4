"""Two server processes on one PostgreSQL database deliver each webhook task exactly once, and
within the queue's rate limit."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
import pytest
from starlette.responses import Response

from tests.conftest import fresh_database, new_tenant, serve_app
from tests.engine.test_engine_multiprocess import on, replica_settings
from tests.rawhttp import complete_workflow, new_events, schedule_activity
from tests.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.skipif(
    not os.environ.get("PERDURE_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="several server processes share a database only on PostgreSQL (SQLite serves one)",
)


async def test_two_replicas_deliver_every_task_once(database_url):
    with fresh_database(database_url) as url:
        settings = replica_settings(url)
        async with (
            serve_app(settings) as a,
            serve_app(settings) as b,
            receiving(Receiver()) as receiver,
        ):
            async with httpx.AsyncClient(base_url=a.base_url) as http:
                tenant = await new_tenant(http)
            hook = {"name": "hook", "url": receiver.url, "task_queues": ["hooks"]}
            assert (await tenant.client.post(tenant.ns("/webhooks"), json=hook)).status_code == 201
            raw = on(tenant, b.base_url, "wf")
            ids = [f"fan-{n}" for n in range(20)]
            for workflow_id in ids:
                await raw.start(workflow_id)
            completed = {}
            while len(completed) < len(ids):
                task = await raw.next_workflow_task(wait=20)
                types = [e["event_type"] for e in new_events(task)]
                if "WORKFLOW_EXECUTION_STARTED" in types:
                    await raw.complete(
                        task,
                        schedule_activity(
                            "a", "Act", task_queue="hooks", input=task["workflow_id"]
                        ),
                    )
                    continue
                await raw.complete(task, complete_workflow())
                for event in new_events(task):
                    if event["event_type"] == "ACTIVITY_TASK_COMPLETED":
                        completed[task["workflow_id"]] = event["attributes"]["result"]
            await raw.c.aclose()
            await tenant.client.aclose()

    assert completed == {w: {"echo": w} for w in ids}
    assert sorted(r.json["workflow_id"] for r in receiver.requests) == sorted(ids)


async def test_a_queue_rate_limit_paces_deliveries_across_two_replicas(database_url):
    # 1 per second with a burst of one: 4 deliveries take at least 3 s, whichever replica
    # sends them (the limiter lives in the database, not in either process).
    arrived: list[float] = []

    async def accept(_: Any) -> Response:
        arrived.append(time.monotonic())
        return Response(status_code=202)

    with fresh_database(database_url) as url:
        settings = replica_settings(url)
        async with (
            serve_app(settings) as a,
            serve_app(settings) as b,
            receiving(Receiver(accept)) as receiver,
        ):
            async with httpx.AsyncClient(base_url=a.base_url) as http:
                tenant = await new_tenant(http)
            limited = await tenant.client.post(
                tenant.ns("/task-queues/hooks/update-config"),
                json={
                    "task_queue_type": "TASK_QUEUE_TYPE_ACTIVITY",
                    "update_queue_rate_limit": {"rate_limit": {"requests_per_second": 1}},
                },
            )
            assert limited.status_code == 200, limited.text
            hook = {"name": "hook", "url": receiver.url, "task_queues": ["hooks"]}
            assert (await tenant.client.post(tenant.ns("/webhooks"), json=hook)).status_code == 201
            raw = on(tenant, b.base_url, "wf")
            for n in range(4):
                await raw.start(f"paced-{n}")
                task = await raw.next_workflow_task()
                await raw.complete(task, schedule_activity("a", "Act", task_queue="hooks"))
            await receiver.nth_request(4, wait=20)
            await raw.c.aclose()
            await tenant.client.aclose()

    assert len(arrived) == 4
    assert arrived[-1] - arrived[0] >= 2.8  # three intervals of 1 s, less clock granularity
