"""A run of a stored definition survives a SIGKILL of the server and repeats nothing."""

from __future__ import annotations

import httpx

from tests.conftest import ADMIN_TOKEN, Tenant, free_port, fresh_database
from tests.engine.test_engine_crash import ServerProcess
from tests.rawhttp import Raw

DEFINITION = {
    "StartAt": "First",
    "States": {
        "First": {"Type": "Task", "Resource": "perdure:activity:q:first", "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Second"},
        "Second": {
            "Type": "Task",
            "Resource": "perdure:activity:q:second",
            "ResultPath": "$.second",
            "End": True,
        },
    },
}


async def test_sigkill_mid_run_of_a_definition_loses_and_repeats_nothing(database_url, tmp_path):
    with fresh_database(database_url) as url:
        proc = ServerProcess(url, free_port(), tmp_path / "server.log")
        try:
            await proc.start()
            async with httpx.AsyncClient(base_url=proc.base_url, timeout=30) as http:
                created = await http.post(
                    "/api/v1/tenants",
                    json={"name": "crash"},
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                )
                key = created.json()["api_key"]["key"]
            async with httpx.AsyncClient(
                base_url=proc.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
            ) as client:
                await client.post("/api/v1/namespaces", json={"name": "main"})
                tenant = Tenant(name="crash", admin_key=key, namespace="main", client=client)
                raw = Raw(tenant)
                assert (
                    await client.put(tenant.ns("/definitions/flow"), json=DEFINITION)
                ).status_code == 201
                started = await client.post(
                    tenant.ns("/workflows/survivor"),
                    json={"definition": {"name": "flow"}, "input": {"n": 1}},
                )
                assert started.status_code == 201, started.text
                first = await raw.next_activity_task()

                proc.kill()
                await proc.start()

                assert await raw.poll_activity_task(wait=0) is None
                await raw.activity("complete", first, result={"n": 2})
                second = await raw.next_activity_task(wait=15)  # after the 1 s Wait, real time
                assert second["input"] == {"n": 2}
                await raw.activity("complete", second, result="ok")

                outcome = await raw.result("survivor")
                assert outcome["result"] == {"n": 2, "second": "ok"}
                events = await raw.history("survivor")
                entered = [
                    e["attributes"]["details"]["state"]
                    for e in events
                    if e["event_type"] == "MARKER_RECORDED"
                    and e["attributes"]["marker_name"] == "asl.state_entered"
                ]
                assert entered == ["First", "Pause", "Second"]
                types = [e["event_type"] for e in events]
                assert types.count("ACTIVITY_TASK_COMPLETED") == 2
                assert types.count("TIMER_FIRED") == 1
        finally:
            proc.stop()
