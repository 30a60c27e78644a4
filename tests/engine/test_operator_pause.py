"""Pause and unpause of a run (Temporal's Workflow Pause): everything is recorded, nothing is
dispatched, queries are refused, terminate works, unpause resumes; batch pause. Raw HTTP."""

from __future__ import annotations

from typing import Any

from tests.conftest import Tenant
from tests.engine_helpers import (
    advance,
    assert_problem,
    of_type,
    raw_on_fresh_queue,
    signal,
    start_and_take_first_task,
    types,
    uid,
)
from tests.rawhttp import Raw, complete_workflow, new_events, schedule_activity, start_timer
from tests.visibility.test_visibility_batches import count, start_job, until


async def pause(tenant: Tenant, workflow_id: str, expect: int = 200, **body: Any) -> dict:
    r = await tenant.client.post(tenant.ns(f"/workflows/{workflow_id}/pause"), json=body)
    assert r.status_code == expect, r.text
    return r.json()


async def unpause(tenant: Tenant, workflow_id: str, expect: int = 200, **body: Any) -> dict:
    r = await tenant.client.post(tenant.ns(f"/workflows/{workflow_id}/unpause"), json=body)
    assert r.status_code == expect, r.text
    return r.json()


async def paused_with_timer_and_activity(raw: Raw, wid: str) -> dict:
    _, first = await start_and_take_first_task(raw, wid)
    await raw.complete(first, start_timer("soon", 5), schedule_activity("a1"))
    return await pause(raw.t, wid, reason="looking into it", identity="ops-ann")


async def test_a_paused_run_records_timers_signals_and_activities_but_gets_no_task(server, tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    answer = await paused_with_timer_and_activity(raw, wid)
    assert answer["status"] == "PAUSED"

    act = await raw.next_activity_task()  # activities already scheduled still run
    await raw.activity("complete", act, result="ok")
    await signal(tenant, wid, "poke", {"n": 1})
    await advance(server, 6)

    assert await raw.poll_workflow_task(wait=0.5) is None
    events = await raw.history(wid)
    assert types(events)[-5:] == [
        "WORKFLOW_EXECUTION_PAUSED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "TIMER_FIRED",
    ]
    [paused] = of_type(events, "WORKFLOW_EXECUTION_PAUSED")
    assert paused["attributes"]["reason"] == "looking into it"
    described = await raw.describe(wid)
    assert described["status"] == "PAUSED"
    assert described["pause_info"]["identity"] == "ops-ann"
    assert described["waiting_on"]["kind"] == "PAUSED"
    assert "ops-ann" in described["waiting_on"]["message"]
    assert described["search_attributes"]["TemporalPauseInfo"] == [
        f"Workflow:{wid}",
        "Reason:ManualWorkflowPause",
    ]
    found = await count(tenant, f"WorkflowId = '{wid}' AND TemporalPauseInfo = 'Workflow:{wid}'")
    assert found == 1
    assert await count(tenant, f"WorkflowId = '{wid}' AND ExecutionStatus = 'Paused'") == 1
    assert await count(tenant, f"WorkflowId = '{wid}' AND ExecutionStatus = 'Running'") == 0

    resumed = await unpause(tenant, wid, identity="ops-ann")

    assert resumed["status"] == "RUNNING"
    task = await raw.next_workflow_task()
    seen = types(new_events(task))
    for expected in ("ACTIVITY_TASK_COMPLETED", "WORKFLOW_EXECUTION_SIGNALED", "TIMER_FIRED"):
        assert expected in seen
    assert "WORKFLOW_EXECUTION_UNPAUSED" in seen
    await raw.complete(task, complete_workflow("done"))
    assert (await raw.result(wid))["status"] == "COMPLETED"
    described = await raw.describe(wid)
    assert described["pause_info"] is None
    assert "TemporalPauseInfo" not in described["search_attributes"]


async def test_a_task_scheduled_before_the_pause_is_held_until_unpause(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid)
    await pause(tenant, wid)

    assert await raw.poll_workflow_task(wait=0.3) is None
    await unpause(tenant, wid)

    task = await raw.next_workflow_task()
    assert task["workflow_id"] == wid


async def test_queries_are_refused_and_terminate_acts_at_once_while_paused(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await paused_with_timer_and_activity(raw, wid)

    query = await tenant.client.post(
        tenant.ns(f"/workflows/{wid}/query/state"), json={"timeout": 1}
    )
    assert_problem(query, 409, "workflow-paused")
    assert query.json()["paused_by"] == "ops-ann"
    again = await pause(tenant, wid)  # pausing a paused run changes nothing
    assert again["status"] == "PAUSED"
    assert len(of_type(await raw.history(wid), "WORKFLOW_EXECUTION_PAUSED")) == 1

    r = await tenant.client.post(tenant.ns(f"/workflows/{wid}/terminate"), json={"reason": "x"})
    assert r.status_code == 200, r.text
    assert (await raw.describe(wid))["status"] == "TERMINATED"
    assert_problem(
        await tenant.client.post(tenant.ns(f"/workflows/{wid}/unpause"), json={}),
        409,
    )


async def test_the_run_timeout_keeps_running_while_paused(server, tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid, run_timeout=30)
    await pause(tenant, wid)

    await advance(server, 31)

    assert (await raw.describe(wid))["status"] == "TIMED_OUT"


async def test_bad_pause_requests_are_problems(tenant, other_tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid)
    assert_problem(await tenant.client.post(tenant.ns(f"/workflows/{wid}/unpause"), json={}), 409)
    assert_problem(
        await tenant.client.post(tenant.ns(f"/workflows/{wid}/pause"), json={"colour": 1}), 400
    )
    assert_problem(
        await other_tenant.client.post(other_tenant.ns(f"/workflows/{wid}/pause"), json={}), 404
    )
    assert (await raw.describe(wid))["status"] == "RUNNING"


async def test_a_batch_pause_pauses_every_matching_run(tenant):
    raw = raw_on_fresh_queue(tenant)
    kind = uid("Paused")
    ids = [uid() for _ in range(5)]
    for wid in ids:
        await raw.start(wid, workflow_type=kind)

    paused = await start_job(
        tenant,
        job_id=uid("pause"),
        query=f"WorkflowType = '{kind}'",
        operation_type="PAUSE",
        reason="incident 42",
    )
    await until(tenant, paused["job_id"], lambda j: j["state"] == "COMPLETED")
    assert await count(tenant, f"WorkflowType = '{kind}' AND ExecutionStatus = 'Paused'") == 5
    job = await start_job(
        tenant, job_id=uid("unpause"), query=f"WorkflowType = '{kind}'", operation_type="UNPAUSE"
    )
    await until(tenant, job["job_id"], lambda j: j["state"] == "COMPLETED")
    assert await count(tenant, f"WorkflowType = '{kind}' AND ExecutionStatus = 'Running'") == 5


async def test_a_reset_terminates_the_paused_run_and_the_new_run_is_not_paused(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await paused_with_timer_and_activity(raw, wid)
    paused_run = (await raw.describe(wid))["run_id"]

    r = await tenant.client.post(
        tenant.ns(f"/workflows/{wid}/reset"),
        json={"reason": "start over", "reset_type": "FirstWorkflowTask"},
    )

    assert r.status_code == 200, r.text
    old = await tenant.client.get(tenant.ns(f"/workflows/{wid}/runs/{paused_run}"))
    assert old.json()["status"] == "TERMINATED"
    new = await raw.describe(wid)
    assert (new["run_id"], new["status"], new["pause_info"]) == (
        r.json()["run_id"],
        "RUNNING",
        None,
    )
    assert (await raw.next_workflow_task())["run_id"] == new["run_id"]


async def test_a_count_grouped_by_status_counts_paused_runs_as_paused(tenant):
    raw = raw_on_fresh_queue(tenant)
    prefix = uid("grouped")
    for n in range(3):
        await raw.start(f"{prefix}-{n}")
    await pause(tenant, f"{prefix}-0", reason="looking into it")
    await pause(tenant, f"{prefix}-1", reason="this one too")

    r = await tenant.client.get(
        tenant.ns("/workflow-count"),
        params={"query": f"WorkflowId STARTS_WITH '{prefix}' GROUP BY ExecutionStatus"},
    )

    assert r.status_code == 200, r.text
    # As `ExecutionStatus = 'Paused'` lists them, and Temporal counts them (status PAUSED).
    assert r.json() == {
        "count": 3,
        "groups": [
            {"group_values": ["Paused"], "count": 2},
            {"group_values": ["Running"], "count": 1},
        ],
    }
