"""Batch operations of the operator controls: a RESET of 200 runs survives a server killed
half way and resets each run exactly once; bad requests are problems."""

from __future__ import annotations

import httpx

from tests.conftest import ADMIN_TOKEN, Tenant, free_port, fresh_database
from tests.engine.test_engine_crash import ServerProcess
from tests.engine_helpers import uid
from tests.rawhttp import Raw
from tests.tenancy_helpers import assert_problem
from tests.visibility.test_visibility_batches import count, start_job, start_runs, until


async def test_a_batch_reset_survives_a_killed_server_and_resets_every_run_once(
    database_url, tmp_path
):
    with fresh_database(database_url) as url:
        proc = ServerProcess(url, free_port(), tmp_path / "server.log")
        proc.env.update(PERDURE_BATCH_LEASE_SECONDS="1", PERDURE_POLL_FALLBACK_SECONDS="0.2")
        try:
            await proc.start()
            async with httpx.AsyncClient(base_url=proc.base_url, timeout=30) as http:
                created = await http.post(
                    "/api/v1/tenants",
                    json={"name": "resets"},
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                )
                key = created.json()["api_key"]["key"]
            client = httpx.AsyncClient(
                base_url=proc.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
            )
            await client.post("/api/v1/namespaces", json={"name": "main"})
            tenant = Tenant(name="resets", admin_key=key, namespace="main", client=client)
            raw = Raw(tenant, task_queue="deploy")
            ids = [f"run-{n:03d}" for n in range(200)]
            await start_runs(raw, ids, "Deployed")
            for _ in ids:  # each run's first task completes: history of 4 events
                await raw.complete(await raw.next_workflow_task())

            started = await start_job(
                tenant,
                job_id="roll-back",
                query="WorkflowType = 'Deployed' AND ExecutionStatus = 'Running'",
                operation_type="RESET",
                reason="bad deploy",
                reset_options={"reset_type": "FirstWorkflowTask"},
                max_operations_per_second=200,
            )
            assert started["total_operation_count"] == 200
            assert started["options"] == {
                "reset_options": {
                    "reset_type": "FirstWorkflowTask",
                    "reset_reapply_exclude_types": [],
                }
            }
            before_kill = await until(
                tenant, "roll-back", lambda j: j["complete_operation_count"] >= 60
            )
            proc.kill()
            await proc.start()
            after_restart = await until(tenant, "roll-back", lambda j: j["state"] == "COMPLETED")

            progress = [j["complete_operation_count"] for j in before_kill + after_restart]
            assert progress == sorted(progress)
            final = after_restart[-1]
            assert (final["complete_operation_count"], final["failure_operation_count"]) == (200, 0)
            # Each workflow id has its base run, terminated, and exactly one new run, whose
            # history is the first task up to its start (3), the reset's failure and a new task.
            assert await count(tenant, "WorkflowType = 'Deployed'") == 400
            assert (
                await count(tenant, "WorkflowType = 'Deployed' AND ExecutionStatus = 'Terminated'")
                == 200
            )
            assert (
                await count(
                    tenant,
                    "WorkflowType = 'Deployed' AND ExecutionStatus = 'Running' AND HistoryLength = 5",
                )
                == 200
            )
            await client.aclose()
        finally:
            proc.stop()


async def test_bad_operator_batch_requests_are_problems_and_start_nothing(tenant):
    query = f"WorkflowType = '{uid('none')}'"
    for body in (
        {"operation_type": "RESET"},
        {"operation_type": "RESET", "reset_options": {"reset_type": "Never"}},
        {"operation_type": "RESET", "reset_options": {}},
        {"operation_type": "TERMINATE", "reset_options": {"reset_type": "FirstWorkflowTask"}},
        {"operation_type": "PAUSE", "reset_options": {"reset_type": "FirstWorkflowTask"}},
        {"operation_type": "PAUSE_ACTIVITY"},
        {"operation_type": "PAUSE_ACTIVITY", "activity": {"activity_id": "a", "match_all": True}},
        {"operation_type": "PAUSE", "activity": {"match_all": True}},
        {"operation_type": "UPDATE_ACTIVITY_OPTIONS", "activity": {"match_all": True}},
        {
            "operation_type": "PAUSE_ACTIVITY",
            "activity": {"match_all": True, "activity_options": {"heartbeat_timeout": 5}},
        },
    ):
        r = await tenant.client.post(tenant.ns("/batch-operations"), json={"query": query, **body})
        assert_problem(r, 400)
    listed = await tenant.client.get(tenant.ns("/batch-operations"))
    assert listed.json()["batch_operations"] == []
