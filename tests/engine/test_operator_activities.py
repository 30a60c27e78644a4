"""Activity controls (Temporal 1.28+): pause, unpause, reset and update-options of a pending
activity, through the HTTP API as a worker and an operator would use them; batch too."""

from __future__ import annotations

from typing import Any

from tests.conftest import Tenant
from tests.engine_helpers import (
    advance,
    assert_problem,
    raw_on_fresh_queue,
    start_and_take_first_task,
    types,
    uid,
)
from tests.rawhttp import Raw, schedule_activity
from tests.visibility.test_visibility_batches import start_job, until

RETRY = {"initial_interval": 1, "backoff_coefficient": 1, "maximum_attempts": 10}


async def control(
    tenant: Tenant, workflow_id: str, action: str, expect: int = 200, **body: Any
) -> dict[str, Any]:
    r = await tenant.client.post(
        tenant.ns(f"/workflows/{workflow_id}/activities/{action}"), json=body
    )
    assert r.status_code == expect, r.text
    return r.json()


async def with_activity(raw: Raw, **attrs: Any) -> str:
    wid = uid()
    _, first = await start_and_take_first_task(raw, wid)
    await raw.complete(first, schedule_activity("a1", retry_policy=RETRY, **attrs))
    return wid


async def pending(raw: Raw, wid: str) -> dict[str, Any]:
    [activity] = (await raw.describe(wid))["pending_activities"]
    return activity


async def heartbeat(raw: Raw, task: dict[str, Any], details: Any = None) -> dict[str, Any]:
    r = await raw.activity("heartbeat", task, details=details)
    return r.json()


async def test_a_paused_activity_is_not_dispatched_until_unpaused(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = await with_activity(raw)
    history_before = await raw.event_types(wid)

    answer = await control(tenant, wid, "pause", activity_id="a1", reason="vendor down")

    [paused] = answer["activities"]
    assert (paused["state"], paused["paused"], paused["attempt"]) == ("PAUSED", True, 1)
    assert paused["pause_info"]["reason"] == "vendor down"
    assert await raw.poll_activity_task(wait=0.3) is None
    assert (await pending(raw, wid))["state"] == "PAUSED"
    assert await raw.event_types(wid) == history_before  # no history event
    described = await raw.describe(wid)
    assert described["search_attributes"]["TemporalPauseInfo"] == [
        "Activity:act",
        "Reason:ManualActivityPause",
    ]

    await control(tenant, wid, "unpause", activity_id="a1")

    task = await raw.next_activity_task()
    assert (task["activity_id"], task["attempt"]) == ("a1", 1)
    assert await raw.event_types(wid) == history_before
    assert "TemporalPauseInfo" not in (await raw.describe(wid))["search_attributes"]


async def test_a_heartbeating_attempt_learns_of_the_pause_and_the_next_waits(server, tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = await with_activity(raw, heartbeat_timeout=20)
    task = await raw.next_activity_task()
    assert await heartbeat(raw, task, {"done": 1}) == {"cancel_requested": False}

    paused = await control(tenant, wid, "pause", activity_type="act")
    assert paused["activities"][0]["state"] == "PAUSE_REQUESTED"
    answer = await heartbeat(raw, task, {"done": 2})
    assert (answer["activity_paused"], answer["cancel_requested"]) == (True, False)
    await raw.activity("canceled", task, details={"done": 2})  # the SDK's answer to it

    assert await raw.poll_activity_task(wait=0.3) is None
    waiting = await pending(raw, wid)
    assert (waiting["state"], waiting["attempt"]) == ("PAUSED", 2)
    assert waiting["heartbeat_details"] == {"done": 2}
    assert "ACTIVITY_TASK_CANCELED" not in await raw.event_types(wid)

    await control(tenant, wid, "unpause", activity_id="a1")
    again = await raw.next_activity_task()
    assert again["attempt"] == 2  # the attempt count is kept


async def test_a_paused_attempt_that_fails_is_not_retried_and_one_that_completes_closes(
    server, tenant
):
    raw = raw_on_fresh_queue(tenant)
    wid = await with_activity(raw)
    task = await raw.next_activity_task()
    await control(tenant, wid, "pause", activity_id="a1")

    await raw.activity("fail", task, failure={"message": "boom", "type": "Flaky"})
    await advance(server, 5)  # well past the retry back-off

    assert await raw.poll_activity_task(wait=0.3) is None
    assert (await pending(raw, wid))["last_failure"]["message"] == "boom"
    await control(tenant, wid, "unpause", activity_id="a1")
    retried = await raw.next_activity_task()
    assert retried["attempt"] == 2
    await control(tenant, wid, "pause", activity_id="a1")
    await raw.activity("complete", retried, result="fine")
    assert "ACTIVITY_TASK_COMPLETED" in await raw.event_types(wid)
    assert (await raw.describe(wid))["pending_activities"] == []


async def test_reset_returns_to_attempt_one_keeping_or_clearing_heartbeat_details(server, tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = await with_activity(raw)
    for _ in range(2):
        task = await raw.next_activity_task()
        await heartbeat(raw, task, {"page": task["attempt"]})
        await raw.activity("fail", task, failure={"message": "again", "type": "Flaky"})
        waiting = await pending(raw, wid)
        assert (waiting["state"], waiting["next_attempt_schedule_time"] is not None) == (
            "BACKOFF",
            True,
        )
        await advance(server, 1.5)
    third = await raw.next_activity_task()
    assert third["attempt"] == 3
    await control(tenant, wid, "pause", activity_id="a1")
    await raw.activity("fail", third, failure={"message": "again", "type": "Flaky"})
    assert (await pending(raw, wid))["next_attempt_schedule_time"] is None  # held, no retry

    reset = await control(tenant, wid, "reset", activity_id="a1", keep_paused=True)
    assert (reset["activities"][0]["state"], reset["activities"][0]["attempt"]) == ("PAUSED", 1)
    assert await raw.poll_activity_task(wait=0.3) is None

    await control(tenant, wid, "reset", activity_id="a1")  # unpauses
    first_again = await raw.next_activity_task()
    assert first_again["attempt"] == 1
    assert first_again["heartbeat_details"] == {"page": 2}

    # An attempt under way learns of a reset at its heartbeat; the next is attempt 1 again.
    await control(tenant, wid, "reset", activity_id="a1", clear_heartbeat_details=True)
    assert (await heartbeat(raw, first_again))["activity_reset"] is True
    await raw.activity("canceled", first_again)
    after = await raw.next_activity_task()
    assert after["attempt"] == 1
    assert after["heartbeat_details"] is None


async def test_update_options_changes_timeouts_and_retry_policy_of_the_pending_activity(
    server, tenant
):
    raw = raw_on_fresh_queue(tenant)
    wid = await with_activity(raw)

    answer = await control(
        tenant,
        wid,
        "update-options",
        activity_id="a1",
        activity_options={
            "start_to_close_timeout": 5,
            "heartbeat_timeout": 2,
            "retry_policy": {"maximum_attempts": 1},
        },
    )

    [updated] = answer["activities"]
    assert (updated["start_to_close_timeout"], updated["heartbeat_timeout"]) == (5, 2)
    assert updated["retry_policy"]["maximum_attempts"] == 1
    task = await raw.next_activity_task()
    assert task["start_to_close_timeout"] == 5
    await raw.activity("fail", task, failure={"message": "once", "type": "Flaky"})
    # One attempt allowed now: the failure is final.
    assert types(await raw.history(wid))[-1] == "WORKFLOW_TASK_SCHEDULED"
    assert "ACTIVITY_TASK_FAILED" in await raw.event_types(wid)


async def test_bad_activity_control_requests_are_problems(tenant, other_tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = await with_activity(raw)

    missing = await tenant.client.post(
        tenant.ns(f"/workflows/{wid}/activities/pause"), json={"activity_id": "nope"}
    )
    assert_problem(missing, 404)
    for body in ({}, {"activity_id": "a1", "activity_type": "act"}, {"activity_id": ""}):
        r = await tenant.client.post(tenant.ns(f"/workflows/{wid}/activities/pause"), json=body)
        assert_problem(r, 400)
    nothing = await tenant.client.post(
        tenant.ns(f"/workflows/{wid}/activities/update-options"),
        json={"activity_id": "a1", "activity_options": {}},
    )
    assert_problem(nothing, 400)
    elsewhere = await other_tenant.client.post(
        other_tenant.ns(f"/workflows/{wid}/activities/pause"), json={"match_all": True}
    )
    assert_problem(elsewhere, 404)
    assert (await pending(raw, wid))["paused"] is False


async def test_batch_pause_and_unpause_of_activities(tenant):
    raw = raw_on_fresh_queue(tenant)
    kind = uid("Steered")
    ids = []
    for _ in range(3):
        wid = uid()
        ids.append(wid)
        _, first = await start_and_take_first_task(raw, wid, workflow_type=kind)
        await raw.complete(first, schedule_activity("a1", retry_policy=RETRY))

    paused = await start_job(
        tenant,
        job_id=uid("pause-acts"),
        query=f"WorkflowType = '{kind}'",
        operation_type="PAUSE_ACTIVITY",
        activity={"match_all": True, "reason": "vendor down"},
    )
    await until(tenant, paused["job_id"], lambda j: j["state"] == "COMPLETED")
    assert [(await pending(raw, w))["state"] for w in ids] == ["PAUSED"] * 3
    assert await raw.poll_activity_task(wait=0.3) is None

    unpaused = await start_job(
        tenant,
        job_id=uid("unpause-acts"),
        query=f"WorkflowType = '{kind}'",
        operation_type="UNPAUSE_ACTIVITY",
        activity={"activity_type": "act"},
    )
    await until(tenant, unpaused["job_id"], lambda j: j["state"] == "COMPLETED")
    got = {(await raw.next_activity_task())["workflow_id"] for _ in ids}
    assert got == set(ids)
