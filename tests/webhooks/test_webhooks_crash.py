"""A server killed with SIGKILL while a webhook delivery is in flight loses nothing: the started
attempt times out after restart and the next attempt is delivered and completes once."""

from __future__ import annotations

import asyncio

import httpx
from starlette.responses import JSONResponse, Response

from tests.conftest import ADMIN_TOKEN, Tenant, free_port, fresh_database
from tests.engine.test_engine_crash import ServerProcess
from tests.rawhttp import Raw, complete_workflow, new_events, schedule_activity
from tests.webhook_receiver import Received, Receiver, receiving


async def test_sigkill_during_a_delivery_retries_it_after_restart_and_completes_once(
    database_url, tmp_path
):
    release = asyncio.Event()

    async def hang_then_answer(received: Received) -> Response:
        if received.json["attempt"] == 1:
            await release.wait()  # the server dies while waiting for this answer
        return JSONResponse({"charged": received.json["attempt"]})

    with fresh_database(database_url) as url:
        proc = ServerProcess(url, free_port(), tmp_path / "server.log")
        try:
            await proc.start()
            async with (
                receiving(Receiver(hang_then_answer)) as receiver,
                httpx.AsyncClient(base_url=proc.base_url, timeout=30) as http,
            ):
                created = await http.post(
                    "/api/v1/tenants",
                    json={"name": "crash"},
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                )
                key = created.json()["api_key"]["key"]
                client = httpx.AsyncClient(
                    base_url=proc.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
                )
                # `perdure serve` runs in production mode: loopback needs the namespace's leave.
                await client.post(
                    "/api/v1/namespaces",
                    json={"name": "main", "settings": {"allow_private_network_targets": True}},
                )
                tenant = Tenant(name="crash", admin_key=key, namespace="main", client=client)
                raw = Raw(tenant, task_queue="wf")
                hook = {"name": "hook", "url": receiver.url, "task_queues": ["hooks"]}
                assert (await client.post(tenant.ns("/webhooks"), json=hook)).status_code == 201

                await raw.start("survivor")
                task = await raw.next_workflow_task()
                await raw.complete(
                    task,
                    schedule_activity(
                        "charge",
                        "Charge",
                        task_queue="hooks",
                        start_to_close_timeout=2,
                        retry_policy={"initial_interval": 0.1},
                    ),
                )
                await receiver.nth_request(1)

                proc.kill()
                await proc.start()

                task = await raw.next_workflow_task(wait=20)
                await raw.complete(task, complete_workflow())
                release.set()
                closing = [
                    e for e in new_events(task) if e["event_type"].startswith("ACTIVITY_TASK_")
                ]
                types = await raw.event_types("survivor")
                logged = (await client.get(tenant.ns("/webhooks/hook/deliveries"))).json()
                await client.aclose()
        finally:
            release.set()
            proc.stop()

    assert closing[-1]["event_type"] == "ACTIVITY_TASK_COMPLETED"
    assert closing[-1]["attributes"]["attempt"] == 2
    assert closing[-1]["attributes"]["result"] == {"charged": 2}
    assert [r.json["attempt"] for r in receiver.requests] == [1, 2]
    assert types.count("ACTIVITY_TASK_COMPLETED") == 1
    assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED"
    assert [(d["attempt"], d["state"]) for d in logged["deliveries"]] == [
        (2, "completed"),
        (1, "abandoned"),
    ]
