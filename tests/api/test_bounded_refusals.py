"""What can never work is refused, not left to stall (issue 28, kind 4): batch rates below one
operation a minute; a batch job whose holder died is resumed within about a lease (its holder
renews it every third), and its describe says what it waits for."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import httpx

from tests.conftest import ADMIN_TOKEN, Tenant, free_port, fresh_database
from tests.console.test_console_sessions import sign_in_form
from tests.engine.test_engine_crash import ServerProcess
from tests.engine_helpers import uid
from tests.rawhttp import Raw
from tests.tenancy_helpers import assert_problem
from tests.visibility.test_visibility_batches import job, start_job, start_runs


async def test_batch_rates_below_one_a_minute_are_refused(tenant):
    kind = uid("Slow")
    for rate in (1e-9, 0.01, 1 / 61, 0, -5):
        r = await tenant.client.post(
            tenant.ns("/batch-operations"),
            json={
                "query": f"WorkflowType = '{kind}'",
                "operation_type": "CANCEL",
                "max_operations_per_second": rate,
            },
        )
        body = assert_problem(r, 400)
        assert "max_operations_per_second" in body.get("field", "") + body["detail"], body
    listed = await tenant.client.get(tenant.ns("/batch-operations"))
    assert listed.json()["batch_operations"] == []  # nothing took the namespace's slot

    # One a minute is slow but finishes: accepted.
    made = await start_job(
        tenant,
        query=f"WorkflowType = '{kind}'",
        operation_type="CANCEL",
        max_operations_per_second=1 / 60,
    )
    assert made["state"] == "RUNNING"
    await tenant.client.post(tenant.ns(f"/batch-operations/{made['job_id']}/stop"), json={})


async def progress(tenant: Tenant, job_id: str) -> int:
    return int((await job(tenant, job_id))["complete_operation_count"])


async def test_a_batch_job_whose_holder_died_resumes_within_a_lease(database_url, tmp_path):
    with fresh_database(database_url) as url:
        holder = ServerProcess(url, free_port(), tmp_path / "holder.log")
        successor = ServerProcess(url, free_port(), tmp_path / "successor.log")
        for proc in (holder, successor):
            proc.env.update(PERDURE_POLL_FALLBACK_SECONDS="1")
        try:
            await holder.start()
            async with httpx.AsyncClient(base_url=holder.base_url, timeout=30) as http:
                created = await http.post(
                    "/api/v1/tenants",
                    json={"name": "lease"},
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                )
                key = created.json()["api_key"]["key"]
            headers = {"Authorization": f"Bearer {key}"}
            async with contextlib.AsyncExitStack() as clients:
                on_holder = await clients.enter_async_context(
                    httpx.AsyncClient(base_url=holder.base_url, headers=headers, timeout=30)
                )
                await on_holder.post("/api/v1/namespaces", json={"name": "main"})
                tenant = Tenant(name="lease", admin_key=key, namespace="main", client=on_holder)
                await start_runs(
                    Raw(tenant, task_queue="idle"), [f"r-{n}" for n in range(80)], "Slow"
                )
                await start_job(
                    tenant,
                    job_id="slow-signal",
                    query="WorkflowType = 'Slow'",
                    operation_type="SIGNAL",
                    signal_name="poke",
                    max_operations_per_second=4,
                )
                deadline = time.monotonic() + 60
                while await progress(tenant, "slow-signal") < 3:
                    assert time.monotonic() < deadline
                described = await job(tenant, "slow-signal")
                assert "works on it" in described["waiting_for"], described

                # A second process is ready; the job stays with its live holder, then the
                # holder dies with SIGKILL.
                await successor.start()
                on_successor = await clients.enter_async_context(
                    httpx.AsyncClient(base_url=successor.base_url, headers=headers, timeout=30)
                )
                tenant = Tenant(name="lease", admin_key=key, namespace="main", client=on_successor)
                holder.kill()
                killed_at, done_then = time.monotonic(), await progress(tenant, "slow-signal")
                while (done := await progress(tenant, "slow-signal")) <= done_then:
                    assert time.monotonic() - killed_at < 30
                resumed_after = time.monotonic() - killed_at
                # The default lease is 6 s, renewed every 2 s: a dead holder's job waits at
                # most a lease and a poll interval (the 30 s lease made it wait 32-36 s).
                assert resumed_after < 12, resumed_after
                assert done > done_then

                # Its new holder dies too, and no loop is left to take the job over (the old
                # one comes back as an API-only replica): describe says what the job waits for.
                successor.kill()
                holder.env.update(PERDURE_RUN_BACKGROUND_LOOPS="false")
                await holder.start()
                tenant = Tenant(name="lease", admin_key=key, namespace="main", client=on_holder)
                deadline = time.monotonic() + 30
                while "stopped renewing its lease" not in (
                    waiting := (await job(tenant, "slow-signal"))["waiting_for"]
                ):
                    assert time.monotonic() < deadline, waiting
                    await asyncio.sleep(0.2)
                stopped = await on_holder.post(
                    "/api/v1/namespaces/main/batch-operations/slow-signal/stop", json={}
                )
                assert stopped.status_code == 200, stopped.text
                assert (await job(tenant, "slow-signal"))["waiting_for"] is None
        finally:
            holder.stop()
            successor.stop()


PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def by_definition(name: str, version: int | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": name}
    if version is not None:
        ref["version"] = version
    return {
        "schedule": {
            "spec": {"intervals": [{"every": 3600}]},
            "action": {"start_workflow": {"definition": ref}},
        }
    }


async def test_a_schedule_naming_a_missing_definition_is_refused_and_a_deleted_one_is_flagged(
    server, tenant
):
    c = tenant.client
    name = uid("def")
    field = "schedule.action.start_workflow.definition"
    refused = [
        await c.post(tenant.ns(f"/schedules/{uid('s')}"), json=by_definition(uid("nope"))),
    ]
    assert (await c.put(tenant.ns(f"/definitions/{name}"), json=PASS)).status_code == 201
    refused.append(
        await c.post(tenant.ns(f"/schedules/{uid('s')}"), json=by_definition(name, version=7))
    )
    sid = uid("s")
    made = await c.post(tenant.ns(f"/schedules/{sid}"), json=by_definition(name, version=1))
    assert made.status_code == 201, made.text
    before = (await c.get(tenant.ns(f"/schedules/{sid}"))).json()
    assert before["info"]["action_problem"] is None
    refused.append(
        await c.post(tenant.ns(f"/schedules/{sid}/update"), json=by_definition(uid("nope")))
    )
    for response in refused:
        body = assert_problem(response, 400)
        assert body["field"] == field, body
    after = (await c.get(tenant.ns(f"/schedules/{sid}"))).json()
    assert after["conflict_token"] == before["conflict_token"]  # the update changed nothing

    # Deleted later: describe and the console page say the action cannot run.
    assert (await c.delete(tenant.ns(f"/definitions/{name}"))).status_code == 204
    described = (await c.get(tenant.ns(f"/schedules/{sid}"))).json()
    assert name in described["info"]["action_problem"], described["info"]
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        token = await sign_in_form(browser)
        await browser.post(
            "/console/sign-in", data={"api_key": tenant.admin_key, "csrf_token": token}
        )
        page = await browser.get(f"/console/n/{tenant.namespace}/schedules/{sid}")
        assert page.status_code == 200
        assert 'id="action-problem"' in page.text and name in page.text
    await c.delete(tenant.ns(f"/schedules/{sid}"))
