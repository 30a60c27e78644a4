"""Batch operations: one action on every run a filter matches, as a durable job that survives
a server killed half way, reports progress, records each run it could not act on, can be
stopped, and never leaves its namespace."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.conftest import ADMIN_TOKEN, Tenant, free_port, fresh_database, keyed_client
from tests.engine.test_engine_crash import ServerProcess
from tests.engine_helpers import uid
from tests.rawhttp import Raw
from tests.tenancy_helpers import assert_problem, create_key


async def start_runs(raw: Raw, ids: list[str], workflow_type: str) -> None:
    for chunk in range(0, len(ids), 25):
        await asyncio.gather(
            *(raw.start(w, workflow_type=workflow_type) for w in ids[chunk : chunk + 25])
        )


async def start_job(tenant: Tenant, expect: int = 201, **body: Any) -> dict[str, Any]:
    r = await tenant.client.post(tenant.ns("/batch-operations"), json=body)
    assert r.status_code == expect, r.text
    return r.json()


async def job(tenant: Tenant, job_id: str) -> dict[str, Any]:
    r = await tenant.client.get(tenant.ns(f"/batch-operations/{job_id}"))
    assert r.status_code == 200, r.text
    return r.json()


async def until(tenant: Tenant, job_id: str, done: Any, seconds: float = 60) -> list[dict]:
    """Describe the job until `done(job)`; every answer seen, in order."""
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(await job(tenant, job_id))
        if done(seen[-1]):
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"batch operation did not get there: {seen[-1]}")


async def signals(tenant: Tenant, workflow_id: str, name: str) -> int:
    r = await tenant.client.get(tenant.ns(f"/workflows/{workflow_id}/history"))
    assert r.status_code == 200, r.text
    return sum(
        1
        for e in r.json()["events"]
        if e["event_type"] == "WORKFLOW_EXECUTION_SIGNALED"
        and e["attributes"]["signal_name"] == name
    )


async def count(tenant: Tenant, query: str) -> int:
    r = await tenant.client.get(tenant.ns("/workflow-count"), params={"query": query})
    assert r.status_code == 200, r.text
    return int(r.json()["count"])


async def test_a_batch_signal_survives_a_killed_server_and_signals_every_run_once(
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
                    json={"name": "batch"},
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                )
                key = created.json()["api_key"]["key"]
            client = httpx.AsyncClient(
                base_url=proc.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
            )
            await client.post("/api/v1/namespaces", json={"name": "main"})
            tenant = Tenant(name="batch", admin_key=key, namespace="main", client=client)
            raw = Raw(tenant, task_queue="idle")
            ids = [f"run-{n:03d}" for n in range(200)]
            await start_runs(raw, ids, "Batched")
            await raw.start("other-type", workflow_type="Untouched")

            started = await start_job(
                tenant,
                job_id="wake-all",
                query="WorkflowType = 'Batched' AND ExecutionStatus = 'Running'",
                operation_type="SIGNAL",
                signal_name="wake",
                input={"n": 1},
                max_operations_per_second=200,
            )
            assert started["state"] == "RUNNING"
            assert started["total_operation_count"] == 200
            before_kill = await until(
                tenant, "wake-all", lambda j: j["complete_operation_count"] >= 60
            )
            proc.kill()
            await proc.start()
            after_restart = await until(tenant, "wake-all", lambda j: j["state"] == "COMPLETED")

            progress = [j["complete_operation_count"] for j in before_kill + after_restart]
            assert progress == sorted(progress)  # never goes back
            assert len({p for p in progress if 0 < p < 200}) >= 2  # seen while it ran
            final = after_restart[-1]
            assert (final["complete_operation_count"], final["failure_operation_count"]) == (200, 0)
            assert final["close_time"] is not None
            # A run's history is STARTED, WORKFLOW_TASK_SCHEDULED (no worker polls), then one
            # SIGNALED per signal: a length of 3 is exactly one signal.
            once = await count(tenant, "WorkflowType = 'Batched' AND HistoryLength = 3")
            other = await count(tenant, "WorkflowType = 'Batched' AND HistoryLength != 3")
            assert (once, other) == (200, 0)
            assert [await signals(tenant, w, "wake") for w in ids[::40]] == [1] * 5
            assert await signals(tenant, "other-type", "wake") == 0
            await client.aclose()
        finally:
            proc.stop()


async def test_runs_the_action_refuses_are_recorded_and_the_job_goes_on(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    await start_runs(raw, ["open-1", "open-2", "closed-1"], "Mixed")
    await tenant.client.post(tenant.ns("/workflows/closed-1/terminate"), json={})

    await start_job(
        tenant,
        job_id="cancel-mixed",
        query="WorkflowType = 'Mixed'",
        operation_type="CANCEL",
        reason="maintenance",
    )
    final = (await until(tenant, "cancel-mixed", lambda j: j["state"] != "RUNNING"))[-1]

    assert final["state"] == "COMPLETED"
    assert (final["total_operation_count"], final["complete_operation_count"]) == (3, 2)
    assert final["failure_operation_count"] == 1
    [failure] = final["failures"]
    assert failure["workflow_id"] == "closed-1"
    assert "TERMINATED" in failure["error"]
    for wid in ("open-1", "open-2"):
        assert (await raw.describe(wid))["cancel_requested"] is True


async def test_a_batch_delete_removes_closed_runs_only_and_terminate_closes_them(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    await start_runs(raw, ["keep-open", "gone-1", "gone-2"], "Doomed")
    await start_job(
        tenant,
        job_id="terminate",
        query="WorkflowId STARTS_WITH 'gone-'",
        operation_type="TERMINATE",
        reason="cleanup",
    )
    await until(tenant, "terminate", lambda j: j["state"] == "COMPLETED")
    assert (await raw.describe("gone-1"))["status"] == "TERMINATED"

    await start_job(
        tenant, job_id="delete", query="WorkflowType = 'Doomed'", operation_type="DELETE"
    )
    final = (await until(tenant, "delete", lambda j: j["state"] == "COMPLETED"))[-1]

    assert (final["complete_operation_count"], final["failure_operation_count"]) == (2, 1)
    assert final["failures"][0]["workflow_id"] == "keep-open"
    for wid in ("gone-1", "gone-2"):
        assert (await tenant.client.get(tenant.ns(f"/workflows/{wid}"))).status_code == 404
    assert (await raw.describe("keep-open"))["status"] == "RUNNING"
    count = await tenant.client.get(
        tenant.ns("/workflow-count"), params={"query": "WorkflowType = 'Doomed'"}
    )
    assert count.json()["count"] == 1


async def test_a_stopped_job_acts_on_no_further_run(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    ids = [f"slow-{n}" for n in range(30)]
    await start_runs(raw, ids, "Slow")
    await start_job(
        tenant,
        job_id="slow",
        query="WorkflowType = 'Slow'",
        operation_type="SIGNAL",
        signal_name="poke",
        max_operations_per_second=5,
    )

    stopped = await tenant.client.post(
        tenant.ns("/batch-operations/slow/stop"), json={"reason": "enough"}
    )
    again = await tenant.client.post(tenant.ns("/batch-operations/slow/stop"), json={})

    assert stopped.status_code == 200, stopped.text
    assert (stopped.json()["state"], stopped.json()["stop_reason"]) == ("STOPPED", "enough")
    assert again.json()["state"] == "STOPPED"
    acted = (await job(tenant, "slow"))["complete_operation_count"]
    assert acted < 30
    assert sum(await asyncio.gather(*(signals(tenant, w, "poke") for w in ids))) == acted


async def test_a_namespace_runs_at_most_its_setting_of_concurrent_jobs(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    await start_runs(raw, [f"c-{n}" for n in range(10)], "Capped")
    body = {
        "query": "WorkflowType = 'Capped'",
        "operation_type": "SIGNAL",
        "signal_name": "s",
        "max_operations_per_second": 1,
    }
    await start_job(tenant, job_id="first", **body)

    refused = await tenant.client.post(
        tenant.ns("/batch-operations"), json={"job_id": "second", **body}
    )
    raised = await tenant.client.patch(
        tenant.ns(), json={"settings": {"max_concurrent_batch_operations": 2}}
    )
    second = await start_job(tenant, job_id="second", **body)
    taken = await tenant.client.post(
        tenant.ns("/batch-operations"), json={"job_id": "first", **body}
    )
    listed = await tenant.client.get(tenant.ns("/batch-operations"), params={"page_size": 1})

    assert_problem(refused, 429, "rate-limited")
    assert raised.status_code == 200, raised.text
    assert second["state"] == "RUNNING"
    assert_problem(taken, 409, "already-exists")
    assert [j["job_id"] for j in listed.json()["batch_operations"]] == ["second"]
    assert listed.json()["next_page_token"]
    for job_id in ("first", "second"):
        await tenant.client.post(tenant.ns(f"/batch-operations/{job_id}/stop"), json={})


async def test_bad_batch_requests_are_problems_and_start_nothing(tenant):
    for body, status in [
        ({"query": "WorkflowType = ", "operation_type": "CANCEL"}, 400),
        ({"query": "WorkflowType = 'x'", "operation_type": "SIGNAL"}, 400),
        ({"query": "WorkflowType = 'x'", "operation_type": "CANCEL", "signal_name": "s"}, 400),
        ({"query": "GROUP BY ExecutionStatus", "operation_type": "CANCEL"}, 400),
        ({"query": "WorkflowType = 'x'", "operation_type": "RESET"}, 400),
    ]:
        r = await tenant.client.post(tenant.ns("/batch-operations"), json=body)
        assert_problem(r, status, "invalid-argument")
    listed = await tenant.client.get(tenant.ns("/batch-operations"))
    assert listed.json()["batch_operations"] == []


async def test_batch_jobs_need_operate_and_stay_in_their_namespace(tenant, other_tenant):
    await tenant.client.post("/api/v1/namespaces", json={"name": "second"})
    here, there = Raw(tenant, task_queue="q"), Raw(tenant, task_queue="q")
    there.t = Tenant(tenant.name, tenant.admin_key, "second", tenant.client)
    await start_runs(here, ["same-id"], "Shared")
    await start_runs(there, ["same-id"], "Shared")
    body = {"query": "WorkflowType = 'Shared'", "operation_type": "SIGNAL", "signal_name": "s"}
    reader = await create_key(tenant.client, "reader")
    async with keyed_client(tenant.client, reader["key"]) as as_reader:
        refused = await as_reader.post(tenant.ns("/batch-operations"), json=body)

    await start_job(tenant, job_id="local", **body)
    await until(tenant, "local", lambda j: j["state"] == "COMPLETED")
    async with keyed_client(tenant.client, reader["key"]) as as_reader:
        read = await as_reader.get(tenant.ns("/batch-operations/local"))

    assert_problem(refused, 403, "permission-denied")
    assert read.status_code == 200
    assert await signals(tenant, "same-id", "s") == 1
    second = await tenant.client.get("/api/v1/namespaces/second/workflows/same-id/history")
    assert "WORKFLOW_EXECUTION_SIGNALED" not in [e["event_type"] for e in second.json()["events"]]
    missing = await tenant.client.get("/api/v1/namespaces/second/batch-operations/local")
    assert_problem(missing, 404, "not-found")
    foreign = await other_tenant.client.get(other_tenant.ns("/batch-operations/local"))
    assert_problem(foreign, 404, "not-found")
