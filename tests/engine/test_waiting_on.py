"""`waiting_on` in the describe answer: what an open run waits for, one kind per situation."""

from __future__ import annotations

from typing import Any

from tests.conftest import Tenant
from tests.definitions_helpers import run_definition
from tests.engine_helpers import advance, command, raw_on_fresh_queue, uid
from tests.rawhttp import Raw, complete_workflow, schedule_activity, start_timer


async def waiting(tenant: Tenant, workflow_id: str) -> dict[str, Any] | None:
    r = await tenant.client.get(tenant.ns(f"/workflows/{workflow_id}"))
    assert r.status_code == 200, r.text
    return r.json()["waiting_on"]


async def at_first_task(raw: Raw, **fields: Any) -> tuple[str, dict[str, Any]]:
    workflow_id = uid()
    await raw.start(workflow_id, **fields)
    return workflow_id, await raw.next_workflow_task()


async def test_a_workflow_task_on_a_queue_nobody_polls(tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id = uid()
    await raw.start(workflow_id)
    wait = await waiting(tenant, workflow_id)
    assert wait["kind"] == "WORKFLOW_TASK_NO_POLLER"
    assert wait["task_queue"] == raw.q
    assert raw.q in wait["message"] and "no worker has polled" in wait["message"]


async def test_a_workflow_task_queued_while_a_worker_polls_and_then_started(tenant):
    raw = raw_on_fresh_queue(tenant)
    assert await raw.poll_workflow_task(wait=0) is None  # a worker looked at the queue
    workflow_id = uid()
    await raw.start(workflow_id)
    assert (await waiting(tenant, workflow_id))["kind"] == "WORKFLOW_TASK_SCHEDULED"

    await raw.next_workflow_task()
    wait = await waiting(tenant, workflow_id)
    assert wait["kind"] == "WORKFLOW_TASK_STARTED"
    assert "'decider'" in wait["message"]


async def test_a_failing_workflow_task_waits_out_its_back_off(tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id, task = await at_first_task(raw)
    for _ in range(2):
        r = await raw.c.post(
            tenant.ns("/workflow-tasks/fail"),
            json={"task_token": task["task_token"], "failure": {"message": "bug"}},
        )
        assert r.status_code == 200, r.text
        if _ == 0:
            task = await raw.next_workflow_task()
    wait = await waiting(tenant, workflow_id)
    assert wait["kind"] == "WORKFLOW_TASK_BACKOFF"
    assert wait["until"] is not None


async def test_an_activity_on_a_queue_nobody_polls(tenant):
    raw = raw_on_fresh_queue(tenant)
    activity_queue = uid("aq")
    workflow_id, task = await at_first_task(raw)
    await raw.complete(task, schedule_activity("a1", "Charge", task_queue=activity_queue))

    wait = await waiting(tenant, workflow_id)
    assert wait["kind"] == "ACTIVITY_NO_POLLER"
    assert (wait["activity_id"], wait["task_queue"]) == ("a1", activity_queue)
    assert "Activity 'a1' (Charge)" in wait["message"]


async def test_an_activity_queued_while_its_queue_is_polled_goes_unattended_after_a_minute(
    server, tenant
):
    raw = raw_on_fresh_queue(tenant)
    activity_queue = uid("aq")
    assert await raw.poll_activity_task(wait=0, queue=activity_queue) is None
    workflow_id, task = await at_first_task(raw)
    await raw.complete(task, schedule_activity("a1", task_queue=activity_queue))
    wait = await waiting(tenant, workflow_id)
    assert wait["kind"] == "ACTIVITY_SCHEDULED"
    assert wait["since"] is not None

    await advance(server, 61)
    assert (await waiting(tenant, workflow_id))["kind"] == "ACTIVITY_NO_POLLER"

    await raw.next_activity_task(queue=activity_queue)
    wait = await waiting(tenant, workflow_id)
    assert wait["kind"] == "ACTIVITY_STARTED"
    assert "'worker'" in wait["message"] and "attempt 1" in wait["message"]


async def test_a_failed_activity_waits_for_its_retry_until_the_back_off_ends(tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id, task = await at_first_task(raw)
    await raw.complete(
        task,
        schedule_activity("a1", retry_policy={"initial_interval": 300, "maximum_attempts": 5}),
    )
    activity = await raw.next_activity_task()
    await raw.activity("fail", activity, failure={"message": "card declined"})
    wait = await waiting(tenant, workflow_id)
    assert wait["kind"] == "ACTIVITY_RETRY_BACKOFF"
    assert wait["until"] is not None
    assert "failed attempt 1 (card declined)" in wait["message"]


async def test_a_timer_says_when_it_fires_and_others_counts_the_rest(tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id, task = await at_first_task(raw)
    await raw.complete(task, start_timer("nap", 3600), start_timer("later", 7200))
    wait = await waiting(tenant, workflow_id)
    assert (wait["kind"], wait["timer_id"], wait["others"]) == ("TIMER", "nap", 1)
    assert wait["until"] is not None and "fires at" in wait["message"]


async def test_a_running_child(tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id, task = await at_first_task(raw)
    child_id = uid("child")
    await raw.complete(
        task,
        command(
            "START_CHILD_WORKFLOW_EXECUTION",
            workflow_id=child_id,
            workflow_type="Child",
            task_queue=uid("cq"),
        ),
    )
    task = await raw.next_workflow_task()  # the child started: the parent decides nothing
    await raw.complete(task)
    wait = await waiting(tenant, workflow_id)
    assert (wait["kind"], wait["workflow_id"]) == ("CHILD_WORKFLOW", child_id)


async def test_a_delayed_start(tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id = uid()
    await raw.start(workflow_id, start_delay=3600)
    wait = await waiting(tenant, workflow_id)
    assert wait["kind"] == "START_DELAY" and wait["until"] is not None


async def test_nothing_pending_means_a_signal_and_a_closed_run_waits_for_nothing(tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id, task = await at_first_task(raw)
    await raw.complete(task)
    wait = await waiting(tenant, workflow_id)
    assert wait["kind"] == "SIGNAL" and wait["others"] == 0

    await tenant.client.post(tenant.ns(f"/workflows/{workflow_id}/signal/go"), json={})
    await raw.complete(await raw.next_workflow_task(), complete_workflow("done"))
    assert await waiting(tenant, workflow_id) is None


async def test_a_wait_for_task_token_state_waits_for_its_callback(tenant):
    workflow_id = await run_definition(
        tenant,
        {
            "StartAt": "Approve",
            "States": {
                "Approve": {
                    "Type": "Task",
                    "Resource": "perdure:callback.waitForTaskToken",
                    "Parameters": {"token.$": "$$.Task.Token"},
                    "End": True,
                }
            },
        },
    )
    wait = await waiting(tenant, workflow_id)
    assert wait["kind"] == "CALLBACK"
    assert "State 'Approve'" in wait["message"]
