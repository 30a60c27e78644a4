"""Two server processes on one PostgreSQL database deliver each webhook task exactly once."""

from __future__ import annotations

import os

import httpx
import pytest

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
